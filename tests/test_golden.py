"""Golden cycle counts of the cost model (SCALE-Sim style regression).

A change to the cost model or a schedule changes these numbers on purpose or by accident;
either way it must be seen. Regenerate deliberately, and say why in the commit:
    WAFERREPRO_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py
"""

import csv
import os
from pathlib import Path

import pytest

from waferrepro.hardware import WSE2
from waferrepro.meshsim import simulate

GOLDEN = Path(__file__).with_name("golden") / "meshsim_cycles.csv"
CASES = [(system, shape, p)
         for system, shape in [("MeshGEMM", (8192, 8192, 8192)), ("Cannon", (8192, 8192, 8192)),
                               ("SUMMA", (8192, 8192, 8192)), ("MeshGEMM", (2048, 2048, 2048)),
                               ("MeshGEMV", (1, 16384, 16384)), ("chain-GEMV", (1, 16384, 16384))]
         for p in (240, 720)]
FIELDS = ["system", "shape", "cores", "cycles", "compute_cycles", "comm_cycles"]


def _compute():
    rows = []
    for system, shape, p in CASES:
        m = simulate(system, shape, p, p, WSE2, functional=False).run.metrics()
        rows.append({"system": system, "shape": "x".join(map(str, shape)), "cores": f"{p}x{p}",
                     **{k: f"{m[k][0]:.1f}" for k in FIELDS[3:]}})
    return rows


def test_cycle_counts_match_golden():
    rows = _compute()
    if os.environ.get("WAFERREPRO_REGEN_GOLDEN"):
        with GOLDEN.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, FIELDS)
            writer.writeheader()
            writer.writerows(rows)
        pytest.skip("golden file regenerated")
    with GOLDEN.open() as fh:
        golden = list(csv.DictReader(fh))
    assert rows == golden

"""Golden cycle counts of the cost model (SCALE-Sim style regression).

A change to the cost model or a schedule changes these numbers on purpose or by accident;
either way it must be seen. Regenerate deliberately, and say why in the commit:
    WAFERREPRO_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py
"""

import csv
import os
from pathlib import Path

import pytest

from waferrepro import presets
from waferrepro.hardware import WSE2, WSE3
from waferrepro.hardware_profiles import calibrated
from waferrepro.meshsim import simulate
from waferrepro.meshsim.cost import CAUSES
from waferrepro.meshsim.prefill import prefill_layer
from waferrepro.model_metrics import decode_cycles_per_layer
from waferrepro.models import arch

GOLDEN = Path(__file__).with_name("golden")
CASES = [(system, shape, p)
         for system, shape in [("MeshGEMM", (8192, 8192, 8192)), ("Cannon", (8192, 8192, 8192)),
                               ("SUMMA", (8192, 8192, 8192)), ("MeshGEMM", (2048, 2048, 2048)),
                               ("MeshGEMV", (1, 16384, 16384)), ("chain-GEMV", (1, 16384, 16384))]
         for p in (240, 720)]
FIELDS = ["profile", "preset", "system", "shape", "cores", "cycles", "compute_cycles",
          "comm_cycles"]
PRESETS = sorted(presets.PRESETS)
# The nominal hardware (the cost model's structure) and the committed calibrated profile
# (src/waferrepro/profiles/: a new calibration shows here too).
PROFILES = {"nominal": WSE2, "calibrated": calibrated(WSE2)}
CAUSE_FIELDS = [f"cycles_{c}" for c in CAUSES]
# One layer of two models on two grids each: decode (4096-token prompt, 128 generated, the
# experiments' "shift" KV mode as the preset runs it; mean over the steps) and prefill
# (4096-token prompt); heads, mask, KV cache, Decode's tree roots and Prefill's row trees as
# the preset says.
MODEL_CASES = [("decode", model, p) for model in ("llama3-8b", "llama2-13b") for p in (420, 660)]
MODEL_CASES += [("prefill", model, p) for model in ("llama3-8b", "llama2-13b")
                for p in (480, 720)]


def _kernels():
    rows = []
    for profile, preset in ((f, s) for f in PROFILES for s in PRESETS):
        hw = presets.hardware(PROFILES[profile], preset)
        for system, shape, p in CASES:
            m = simulate(system, shape, p, p, hw, functional=False,
                         kernel=presets.kernel(system, preset)).run.metrics()
            rows.append({"profile": profile, "preset": preset, "system": system,
                         "shape": "x".join(map(str, shape)), "cores": f"{p}x{p}",
                         **{k: f"{m[k][0]:.1f}" for k in FIELDS[5:] + CAUSE_FIELDS}})
    return rows


def _layers():
    rows = []
    for profile, preset, (phase, model, p) in ((f, s, c) for f in PROFILES for s in PRESETS
                                               for c in MODEL_CASES):
        hw = presets.hardware(PROFILES[profile], preset)
        if phase == "decode":
            run = presets.decode_run(arch(model), "shift", preset)
            cycles, _, _, causes = decode_cycles_per_layer(
                hw, run.arch, p, p, 4096, 128, run.kv, tree_root=run.tree_root)
        else:
            run = presets.prefill_run(arch(model), preset)
            levels, root = run.row_tree
            timeline = prefill_layer(hw, run.arch, p, 4096, tree_levels=levels,
                                     causal=run.causal, tree_root=root)[0].timeline
            cycles, causes = timeline.total, timeline.breakdown()
        rows.append({"profile": profile, "preset": preset, "phase": phase, "model": model,
                     "cores": f"{p}x{p}",
                     "cycles_per_layer": f"{cycles:.1f}",
                     **{f"cycles_{c}": f"{v:.1f}" for c, v in causes.items()}})
    return rows


# The authors' WSE-3 benchmark (issue 23) at a small and the largest grid, both profiles;
# tests/test_closed_form.py derives the same cycles from the ledger at the prices.
WSE3_CASES = [("MeshGEMM", (144, 144, 144), 144, None), ("MeshGEMM", (1152, 1152, 1152), 144, None),
              ("MeshGEMM", (720, 5760, 720), 720, None), ("MeshGEMM", (5760,) * 3, 720, None),
              ("MeshGEMV", (1, 1152, 144), 144, 2), ("MeshGEMV", (1, 144, 1152), 144, 8),
              ("MeshGEMV", (1, 5760, 5760), 720, 2), ("MeshGEMV", (1, 720, 2160), 720, 8)]
WSE3_PROFILES = {"nominal": WSE3, "calibrated": calibrated(WSE3)}


def _wse3():
    rows = []
    for profile, hw in WSE3_PROFILES.items():
        hw = presets.hardware(hw, "paper-kernels")
        for system, shape, p, group_num in WSE3_CASES:
            kernel = presets.kernel(system, "paper-kernels", group_num)
            m = simulate(system, shape, p, p, hw, functional=False, kernel=kernel).run.metrics()
            rows.append({"profile": profile, "system": system,
                         "shape": "x".join(map(str, shape)), "cores": f"{p}x{p}",
                         "group_num": str(group_num or ""),
                         **{k: f"{m[k][0]:.1f}" for k in FIELDS[5:] + CAUSE_FIELDS}})
    return rows


@pytest.mark.parametrize("name,compute", [("meshsim_cycles.csv", _kernels),
                                          ("model_layer_cycles.csv", _layers),
                                          ("wse3_cycles.csv", _wse3)])
def test_cycle_counts_match_golden(name, compute):
    rows = compute()
    path = GOLDEN / name
    if os.environ.get("WAFERREPRO_REGEN_GOLDEN"):
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        pytest.skip("golden file regenerated")
    with path.open() as fh:
        golden = list(csv.DictReader(fh))
    assert rows == golden

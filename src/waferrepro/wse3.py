"""The `wse3` table: the model's cycles for the whole measurement matrix of the authors' WSE-3
benchmark (upstream WaferLLM 7122d0f, MeshGEMM/WSE-3 and MeshGEMV/WSE-3), beside the CS-3
measurements of the small grids (results/reference/training-wse3.csv).

The matrix (the config's `wse3:` section, defaults as the authors' benchmark):
- square P x P grids (`grids`; the paper config: P = 16, 80, ..., 720);
- MeshGEMM: M, K, N each P times one of `gemm_multiples` (1, 2, 3, 8: 64 shapes a grid), plus
  `gemm_shapes` on their own grids (1024x1024x1024 on 64x64);
- MeshGEMV: 1 x K x N with K, N each P times one of `gemv_multiples`, at every `group_num`
  (2, 4, 8: 48 points a grid), the authors' groups of its two-level tree.

Every value is simulated: meshsim under the section's preset (paper-kernels) on the wse3
hardware description in the config's hardware_profile (and hardware_overrides), through the
cycle model's public entry points only (meshsim.simulate, presets.kernel, sweep.evaluate), so
a change of the cost model changes the numbers and nothing here. Points within the config's
functional_limits run functionally (real fp16 data, checked against NumPy: a mismatch fails
the table); the rest run the cycle model with its fast path (meshsim.fastpath), checked
against the plain cycle model on each grid's first point of each system. A plan that does not
fit is a `skipped` row with the reason, never dropped.

The measured value sits beside its point in a `measured` column (mean cycles per run, as
training-wse3.csv has it; the note names the measurement's id and source): one row per
point, so a row pairs prediction and measurement without a join, and the table keeps one row
per value of the model. Columns: tables.OUTPUT_COLUMNS + EXTRA_COLUMNS (group_num, measured).
The figure: waferrepro.wse3_figure.
"""

from __future__ import annotations

import itertools
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Callable

import pandas as pd

from . import meshsim, presets, sweep, training, validate
from .bands import add_bands
from .config_facts import wse3_matrix
from .experiments import FUNCTIONAL_LIMITS, KernelJob, parse_dims, run_mode
from .hardware_profiles import get_hardware
from .meshsim import PlanError, fastpath
from .tables import OUTPUT_COLUMNS

TABLE_ID = "wse3"
# The authors' benchmark matrix (the schema's defaults for the `wse3:` section;
# tests/test_wse3.py holds them equal).
DEFAULTS = {"gemm_multiples": [1, 2, 3, 8], "gemv_multiples": [1, 2, 3, 8],
            "group_nums": [2, 4, 8], "gemm_shapes": [], "preset": "paper-kernels"}
EXTRA_COLUMNS = ["group_num", "measured"]  # after tables.OUTPUT_COLUMNS
# the CS-3 measurements: the calibration's WSE-3 training file, read by training.load
MEASURED_CSV = str(training.TRAINING_WSE3_CSV)


def spec_of(config: dict) -> dict:
    """The config's `wse3:` section with the benchmark's defaults filled in, checked
    (config_facts.wse3_matrix, the same check as the config's)."""
    if not config.get("wse3"):
        raise validate.ValidationError("wse3: the config has no `wse3:` section (the matrix: "
                                       "see config/config.yaml)")
    spec = {**DEFAULTS, **config["wse3"]}
    validate.preset(spec["preset"], "wse3/preset")
    wse3_matrix(spec, get_hardware("wse3", config.get("hardware_overrides")))
    return spec


def matrix(spec: dict) -> list[KernelJob]:
    """Every point of the matrix, grid by grid (GEMM shapes, then GEMV shapes x group_num),
    then the extra GEMM shapes; each once."""
    jobs = []
    for p in spec["grids"]:
        cores = f"{p}x{p}"
        for a, b, c in itertools.product(spec["gemm_multiples"], repeat=3):
            jobs.append(KernelJob("meshsim", "MeshGEMM", f"{a * p}x{b * p}x{c * p}", cores))
        for b, c in itertools.product(spec["gemv_multiples"], repeat=2):
            jobs += [KernelJob("meshsim", "MeshGEMV", f"1x{b * p}x{c * p}", cores, int(g))
                     for g in spec["group_nums"]]
    for point in spec["gemm_shapes"]:
        shape = "x".join(map(str, validate.shape(point["shape"])))
        jobs.append(KernelJob("meshsim", "MeshGEMM", shape, f"{point['grid']}x{point['grid']}"))
    return list(dict.fromkeys(jobs))


def _key(system, shape, cores, group_num) -> tuple:
    return (system, shape, cores, None if group_num is None else int(group_num))


def measurements(path: str | Path) -> dict[tuple, dict]:
    """The WSE-3 measurements by (system, shape, cores, group_num): value (mean cycles per
    run), id and source. The file is in the training files' form (training.load checks it);
    every row must be a wse3 cycle count, and no two the same point."""
    out = {}
    for p in training.load(Path(path)):
        if p.hardware != "wse3" or p.metric != "cycles" or p.unit != "cycles":
            raise ValueError(f"{path}: row {p.id} is not a wse3 cycles measurement")
        key = _key(p.system, p.shape, p.cores, p.group_num)
        if key in out:
            raise ValueError(f"{path}: rows {out[key]['id']} and {p.id} measure the same point")
        out[key] = {"value": p.value, "id": p.id, "source": p.source}
    return out


# --- the model, point by point (inside a worker) ---------------------------------------------

def _fast(job: KernelJob, hw, preset: str) -> dict:
    """The cycle model's metrics with the fast path on, its memo fresh for this evaluation
    (fastpath: one hardware per memo)."""
    with fastpath.enabled():
        return sweep.evaluate(job, hw, preset)


def _point(job: KernelJob, hw, preset: str, mode: str, seed: int, check_fast: bool) -> dict:
    """One row's model part: value, band, source and note."""
    hw = presets.hardware(hw, preset)
    shape = parse_dims(job.shape, 3, "shape")
    px, py = parse_dims(job.cores, 2, "core grid")
    try:
        if mode == "functional":
            outcome = meshsim.simulate(job.system, shape, px, py, hw, True, seed,
                                       kernel=presets.kernel(job.system, preset, job.group_num))
            cycles = outcome.run.metrics()["cycles"][0]
            status = f"passed (max rel err {outcome.check.max_rel_err:.2g})"
        else:
            cycles = _fast(job, hw, preset)["cycles"][0]
            status = "not performed: cycle-model run, no data computed"
            if check_fast:  # the fast path must be the plain cycle model (sweep does the same)
                plain = sweep.evaluate(job, hw, preset)["cycles"][0]
                if not math.isclose(cycles, plain, rel_tol=1e-9):
                    raise RuntimeError(f"wse3: the fast path gives {cycles} cycles for {job}, "
                                       f"the plain cycle model {plain}: a cost function "
                                       "marked meshsim.fastpath.pure_cost is not pure")
        (band,) = add_bands([{"metric": "cycles", "value": cycles, "unit": "cycles"}], hw,
                            lambda h: _fast(job, h, preset), banded={"cycles"}, ranges=False)
    except PlanError as exc:
        return {"value": None, "low": None, "high": None, "source": "skipped",
                "note": f"plan does not fit the hardware: {exc}"}
    which = ("the calibration's wse3 band (its leave-one-grid-out RMS)" if hw.calibration else
             "the assumptions' range (hardware.ASSUMPTION_BOUNDS; no calibrated wse3 profile)")
    return {"value": cycles, "low": band["low"], "high": band["high"], "source": "simulated",
            "note": f"{mode}; numeric check {status}; simulated by meshsim ({mode}, "
                    f"{presets.note(hw)}) with the {hw.name} cost model, preset {preset}; "
                    f"{_kernel_note(job)}; band: {which}"}


def _kernel_note(job: KernelJob) -> str:
    m, k, n = parse_dims(job.shape, 3, "shape")
    p = parse_dims(job.cores, 2, "core grid")[1]
    if job.group_num is None:
        tiles = [v / p for v in (m, k, n)]
        tile = "x".join(f"{t:g}" for t in tiles)
        return f"the authors' MeshGEMM, tile Mt x Kt x Nt = {tile} per core"
    return (f"the authors' MeshGEMV, group_num {job.group_num} (pe_num_group "
            f"{p // job.group_num})")


def _chunk(jobs: list[KernelJob], config: dict, preset: str) -> list[dict]:
    """The model part of every row of one grid (run in a worker process)."""
    hw = get_hardware("wse3", config.get("hardware_overrides"),
                      config.get("hardware_profile", "calibrated"))
    limits = {"functional_limits": {**FUNCTIONAL_LIMITS,
                                    **(config.get("functional_limits") or {})}}
    checked, out = set(), []
    for job in jobs:
        out.append(_point(job, hw, preset, run_mode(limits, job), config.get("seed", 0),
                          check_fast=job.system not in checked))
        checked.add(job.system)
    return out


# --- the table --------------------------------------------------------------------------------

def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def table(config: dict, measured_csv: str | Path = MEASURED_CSV, workers: int = 1,
          progress: Callable[[str], None] | None = _stderr):
    """The wse3 table (a DataFrame in COLUMNS, `run` empty: the caller sets it). `config`: the
    run's config (its wse3 section, hardware_overrides, hardware_profile, functional_limits,
    seed). Progress lines go to `progress`, one per grid."""
    say = progress or (lambda line: None)
    spec = spec_of(config)
    measured = measurements(measured_csv)
    jobs = matrix(spec)
    by_grid: dict[str, list[KernelJob]] = {}
    for job in jobs:
        by_grid.setdefault(job.cores, []).append(job)
    say(f"wse3: {len(jobs)} points on {len(by_grid)} grids (preset {spec['preset']}, "
        f"{workers} worker(s)); {len(measured)} measurements in {measured_csv}")
    started, done, parts = time.perf_counter(), 0, {}

    def finished(cores: str, rows: list[dict]) -> None:
        nonlocal done
        parts[cores] = rows
        done += len(rows)
        say(f"wse3: {cores}: {len(rows)} points ({sum(r['source'] == 'skipped' for r in rows)} "
            f"skipped); {done}/{len(jobs)} after {time.perf_counter() - started:.1f} s")

    if workers > 1 and len(by_grid) > 1:
        with ProcessPoolExecutor(min(workers, len(by_grid))) as pool:
            futures = {pool.submit(_chunk, grid_jobs, config, spec["preset"]): cores
                       for cores, grid_jobs in by_grid.items()}
            for future in as_completed(futures):
                finished(futures[future], future.result())
    else:
        for cores, grid_jobs in by_grid.items():
            finished(cores, _chunk(grid_jobs, config, spec["preset"]))

    rows = []
    for cores, grid_jobs in by_grid.items():
        for job, model in zip(grid_jobs, parts[cores], strict=True):
            row = {"id": TABLE_ID, "system": job.system, "backend": "meshsim", "model": None,
                   "shape": job.shape, "cores": job.cores, "gpus": None, "input_len": None,
                   "output_len": None, "metric": "cycles", "unit": "cycles",
                   "preset": spec["preset"], "run": None, "group_num": job.group_num,
                   "measured": None, **model}
            got = measured.get(_key(job.system, job.shape, job.cores, job.group_num))
            if got:
                row["measured"] = got["value"]
                row["note"] += (f"; measured: {got['value']:g} cycles on a CS-3 (backend "
                                f"wse3-cs3), {Path(measured_csv).name} {got['id']}: "
                                f"{got['source']}")
            rows.append(row)
    paired = sum(r["measured"] is not None for r in rows)
    say(f"wse3: {len(rows)} rows, {paired} with their measured value ({len(measured) - paired} "
        "measurements at points this matrix leaves out); "
        f"{time.perf_counter() - started:.1f} s")
    out = pd.DataFrame(rows, columns=OUTPUT_COLUMNS + EXTRA_COLUMNS)
    out["group_num"] = out["group_num"].astype("Int64")
    return out

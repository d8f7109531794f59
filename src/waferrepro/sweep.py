"""Sweeps: many hardware variants through the cycle model inside one process.

A variant is a Hardware (dataclasses.replace over its fields); a job is one of the
experiment matrix's KernelJob / DecodeJob / PrefillJob. `sweep()` evaluates every job at every
variant with the same functions the records use (meshsim.simulate, model_metrics), so a
sweep's value at the nominal hardware is the record's value. A plan that does not fit a
variant (PlanError: SRAM, routes, grid) gives a missing value with the reason, never a number.

Speed: each job's variants run with meshsim's fast path on (meshsim.fastpath: pure cost
functions memoized within one evaluation, identical consecutive steps folded into one step's
repeat). The first variant of every job is also evaluated without it and must agree (to
1e-9), so a change in meshsim that breaks it fails loudly instead of skewing a sweep. Jobs
are spread over `workers` processes (one per worker, never one per variant).
"""

from __future__ import annotations

import math
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from typing import Iterable, Sequence

import numpy as np

from . import meshsim, presets
from .experiments import DecodeJob, KernelJob, PrefillJob, parse_dims, square_grid
from .hardware import ASSUMPTION_BOUNDS, Hardware
from .meshsim import fastpath
from .meshsim.fabric import PlanError
from .model_metrics import decode_metrics, prefill_metrics
from .models import arch

# The headline metric of each kind of job (what sensitivity and what-if report).
HEADLINE = {"kernel": ("latency_ms",), "decode": ("decode_tpr_tokens_per_s",),
            "prefill": ("prefill_tpr_tokens_per_s",)}


def kind_of(job) -> str:
    if isinstance(job, KernelJob):
        return "kernel"
    if isinstance(job, DecodeJob):
        return "decode"
    if isinstance(job, PrefillJob):
        return "prefill"
    raise TypeError(f"a sweep runs kernel, decode and prefill jobs, not {type(job).__name__}")


def evaluate(job, hw: Hardware, preset: str) -> dict[str, tuple[float, str]]:
    """The cycle model's metrics of `job` on `hw` under `preset` (what its record holds; a
    KernelJob's group_num is MeshGEMV's, the authors' tree). Raises PlanError when the plan
    does not fit."""
    hw = presets.hardware(hw, preset)
    kind = kind_of(job)
    if kind == "kernel":
        shape = parse_dims(job.shape, 3, "shape")
        px, py = parse_dims(job.cores, 2, "core grid")
        kernel = presets.kernel(job.system, preset, job.group_num)
        return meshsim.simulate(job.system, shape, px, py, hw, False,
                                kernel=kernel).run.metrics()
    if kind == "decode":
        run = presets.decode_run(arch(job.model), job.kv, preset)
        px, py = parse_dims(job.cores, 2, "core grid")
        return decode_metrics(hw, run.arch, px, py, job.input_len, job.output_len, run.kv,
                              tree_root=run.tree_root)[0]
    run = presets.prefill_run(arch(job.model), preset)
    return prefill_metrics(hw, run.arch, square_grid(job.cores), job.input_len,
                           causal=run.causal, row_tree=run.row_tree)[0]


# --- sweeps -----------------------------------------------------------------------------------

def _job_columns(job) -> dict:
    kind = kind_of(job)
    if kind == "kernel":
        return {"kind": kind, "system": job.system, "model": None, "shape": job.shape,
                "cores": job.cores, "input_len": None, "output_len": None,
                **({} if job.group_num is None else {"group_num": job.group_num})}
    return {"kind": kind, "system": "WaferLLM", "model": job.model, "shape": None,
            "cores": job.cores, "input_len": job.input_len,
            "output_len": getattr(job, "output_len", None)}


def _values(job, hw: Hardware, preset: str, metrics: Sequence[str]) -> list[tuple]:
    """[(metric, value or None, unit, reason)] of one evaluation."""
    try:
        got = evaluate(job, hw, preset)
    except PlanError as exc:
        return [(m, None, None, f"plan does not fit: {exc}") for m in metrics]
    return [(m, float(got[m][0]), got[m][1], "") for m in metrics]


def _sweep_job(job, variants: Sequence[Hardware], preset: str, metrics: Sequence[str],
               cache: bool) -> list[list[tuple]]:
    """One job at every variant (run inside a worker)."""
    if not cache:
        return [_values(job, hw, preset, metrics) for hw in variants]
    out = []
    with fastpath.enabled() as memo:
        for hw in variants:
            out.append(_values(job, hw, preset, metrics))
            memo.clear()  # the next variant's hardware differs: nothing to reuse
    if variants and not _agree(out[0], _values(job, variants[0], preset, metrics)):
        raise RuntimeError(f"the sweep's fast path disagrees with the plain cycle model for "
                           f"{job} ({out[0]} vs the plain run): a cost function marked "
                           "meshsim.fastpath.pure_cost is not pure")
    return out


def _agree(fast: list[tuple], plain: list[tuple]) -> bool:
    """Same metrics, units, reasons and values (to float rounding: a step's repeat count
    multiplies where the plain timeline adds)."""
    def close(a, b):
        return a == b or (a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9))
    return len(fast) == len(plain) and all(
        f[0] == p[0] and f[2:] == p[2:] and close(f[1], p[1]) for f, p in zip(fast, plain,
                                                                         strict=True))


def sweep(variants: Sequence[Hardware], jobs: Iterable, preset: str,
          metrics: dict[str, Sequence[str]] | None = None, workers: int = 1,
          cache: bool = True, variant_columns: Sequence[dict] | None = None):
    """Every job at every variant: a tidy DataFrame, one row per (variant, job, metric),
    with the variant's index (`variant`), its hardware name, the job's columns, metric,
    value (NaN where the plan does not fit), unit and note (the reason). `metrics`: per
    kind, the metrics to keep (default HEADLINE). `variant_columns`: extra columns per
    variant (e.g. the parameter and bound it stands for)."""
    import pandas as pd

    metrics = {**HEADLINE, **(metrics or {})}
    jobs = list(jobs)
    variants = list(variants)
    args = [(job, variants, preset, tuple(metrics[kind_of(job)]), cache) for job in jobs]
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(min(workers, len(jobs))) as pool:
            results = list(pool.map(_sweep_job, *zip(*args, strict=True)))
    else:
        results = [_sweep_job(*a) for a in args]
    rows = []
    for job, per_variant in zip(jobs, results, strict=True):
        cols = _job_columns(job)
        for i, values in enumerate(per_variant):
            extra = variant_columns[i] if variant_columns else {}
            for metric, value, unit, note in values:
                rows.append({"variant": i, "hardware": variants[i].name, **extra, **cols,
                             "metric": metric, "value": value, "unit": unit, "note": note})
    return pd.DataFrame(rows)


# --- variants ---------------------------------------------------------------------------------

def assumptions(hw: Hardware) -> dict[str, tuple]:
    """The assumptions of `hw` that a sweep varies: ASSUMPTION_BOUNDS of its kind, less the
    fields a user set through hardware_overrides (their data, not an assumption; as bands)."""
    return {f: b for f, b in ASSUMPTION_BOUNDS.get(hw.name, {}).items() if f not in hw.user_set}


def _typed(hw: Hardware, field: str, value):
    return type(getattr(hw, field))(value)


def one_at_a_time(hw: Hardware) -> tuple[list[Hardware], list[dict]]:
    """(variants, columns): the nominal, then every assumption at its low and at its high
    bound with the others nominal. Columns name the parameter, the bound and its value."""
    variants = [hw]
    columns = [{"parameter": "nominal", "bound": "nominal", "parameter_value": None}]
    for field, (low, high, _why) in assumptions(hw).items():
        for bound, value in (("low", low), ("high", high)):
            variants.append(replace(hw, **{field: _typed(hw, field, value)}))
            columns.append({"parameter": field, "bound": bound,
                            "parameter_value": float(value)})
    return variants, columns


def random_variants(hw: Hardware, n: int, seed: int = 0) -> list[Hardware]:
    """n variants with every assumption drawn uniformly within its bounds (integers where the
    field is an integer count): the benchmark's sweep."""
    rng = np.random.default_rng(seed)
    bounds = assumptions(hw)
    out = []
    for _ in range(n):
        values = {}
        for field, (low, high, _why) in bounds.items():
            v = rng.uniform(low, high)
            values[field] = _typed(hw, field, round(v) if isinstance(getattr(hw, field), int)
                                   else v)
        out.append(replace(hw, **values))
    return out

"""The embedded mesh simulator (backend `meshsim`): the paper's kernels on a virtual core grid.

`simulate()` runs one kernel either functionally (real fp16 data moved between per-core tiles,
output checked against NumPy) or as a cycle model only (the same schedule, no data).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from ..check import CheckResult, require_close, tolerance
from ..hardware import Hardware
from . import summa
from .comm import check_group_num
from .fabric import PlanError
from .gemm import run_cannon
from .gemv import run_gemv
from .result import KernelRun

# One entry per system name of the table contract; the paper's parameters are fixed here.
SYSTEMS = {
    "MeshGEMV": partial(run_gemv, tree_levels=2, system="MeshGEMV"),
    "chain-GEMV": partial(run_gemv, tree_levels=1, system="chain-GEMV"),
    "MeshGEMM": partial(run_cannon, interleaved=True, system="MeshGEMM"),
    "Cannon": partial(run_cannon, interleaved=False, system="Cannon"),
    # the preset binds its form (presets.PRESETS summa_form): ours, or the authors' program
    "SUMMA": partial(summa.run, system="SUMMA"),
}
MODULE_OF = {"MeshGEMV": "MeshGEMV", "chain-GEMV": "MeshGEMV", "MeshGEMM": "MeshGEMM",
             "Cannon": "MeshGEMM", "SUMMA": "MeshGEMM"}


@dataclass
class SimOutcome:
    run: KernelRun
    check: CheckResult | None  # None in cycle-model mode (nothing computed to check)


def make_inputs(shape, seed: int):
    """fp16 operands A[M,K], B[K,N] drawn from a fixed seed."""
    m, k, n = shape
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, k)).astype(np.float16)
    b = rng.standard_normal((k, n)).astype(np.float16)
    return a, b


def simulate(system: str, shape, px: int, py: int, hw: Hardware, functional: bool,
             seed: int = 0, kernel=None, group_num: int | None = None) -> SimOutcome:
    """Run `system` on a px x py grid; in functional mode, fail loudly on a wrong result.
    `group_num` (MeshGEMV only): the authors' group count of its two-level tree (None: ours),
    bound onto `kernel` (e.g. presets.kernel's)."""
    if system not in SYSTEMS:
        raise ValueError(f"unknown meshsim system {system!r}; known: {sorted(SYSTEMS)}")
    kernel = kernel or SYSTEMS[system]
    if group_num is not None:
        check_group_num(py, group_num, system)
        kernel = partial(kernel, group_num=group_num)
    if not functional:
        return SimOutcome(kernel(hw, shape, px, py, None), None)
    a, b = make_inputs(shape, seed)
    run = kernel(hw, shape, px, py, (a, b))
    reference = a.astype(np.float64) @ b.astype(np.float64)
    # The reduction length is K; the run's own accumulate precision (run.params: SGEMM's fp32
    # operands accumulate in fp32 whatever the preset) sets the tolerance.
    accumulate = run.params.get("accumulate", hw.accumulate)
    check = require_close(run.output, reference,
                          f"{system} {'x'.join(map(str, shape))} on {px}x{py} cores "
                          f"({accumulate} accumulate)", **tolerance(accumulate, shape[1]))
    return SimOutcome(run, check)


__all__ = ["SYSTEMS", "MODULE_OF", "PlanError", "SimOutcome", "simulate", "make_inputs"]

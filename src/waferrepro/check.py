"""Numeric checks of kernel outputs against a plain NumPy reference."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

# Inputs are fp16; the reference is computed in float64 from those same fp16 values and the
# kernels accumulate in float32, so the error is accumulation error only. 1e-3 of the output's
# magnitude is the resolution of fp16 itself (2^-10), a bound a correct kernel meets with a
# wide margin and a wrong one (a skipped shift, a lost partial sum) misses by orders.
RTOL = 1e-3
ATOL = 1e-6


class NumericMismatch(AssertionError):
    """A kernel's output disagrees with the NumPy reference."""


@dataclass
class CheckResult:
    passed: bool
    max_abs_err: float
    max_rel_err: float  # max |out - ref| / max |ref|
    rtol: float
    atol: float
    reference: str

    def as_dict(self) -> dict:
        return asdict(self)


def compare(actual, reference, rtol: float = RTOL, atol: float = ATOL,
            reference_name: str = "numpy float64") -> CheckResult:
    actual = np.asarray(actual, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if actual.shape != reference.shape:
        return CheckResult(False, float("inf"), float("inf"), rtol, atol,
                           f"{reference_name}: shape {actual.shape} != {reference.shape}")
    err = float(np.abs(actual - reference).max()) if actual.size else 0.0
    scale = float(np.abs(reference).max()) if reference.size else 0.0
    ok = bool(np.isfinite(actual).all()) and err <= atol + rtol * scale
    return CheckResult(ok, err, err / scale if scale else err, rtol, atol, reference_name)


def require_close(actual, reference, what: str, **kwargs) -> CheckResult:
    """Compare and raise NumericMismatch (naming `what`) if the check fails."""
    result = compare(actual, reference, **kwargs)
    if not result.passed:
        raise NumericMismatch(
            f"{what}: result differs from the NumPy reference: max abs error "
            f"{result.max_abs_err:.3g}, {result.max_rel_err:.3g} of the output's magnitude "
            f"(allowed {result.rtol:g} + {result.atol:g} absolute) [{result.reference}]")
    return result

"""Numeric checks of kernel outputs against a plain NumPy reference."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

# Inputs are fp16; the reference is computed in float64 from those same fp16 values, so the
# error is accumulation error only. fp32 accumulation: 1e-3 of the output's magnitude, the
# resolution of fp16 itself (2^-10), a bound a correct kernel meets with a wide margin and a
# wrong one (a skipped shift, a lost partial sum) misses by orders.
RTOL = 1e-3
ATOL = 1e-6
# fp16 accumulation: derived from fp16's unit roundoff U16 = 2^-11 and the reduction length n.
# A sum's rounding error is, to first order, sum_k s_k d_k over its partial sums s_k with
# |d_k| <= u (Higham, "Accuracy and Stability of Numerical Algorithms", 2nd ed., 2002, sec.
# 4.2). Taking the d_k independent with mean zero (the probabilistic model of Higham & Mary,
# SIAM J. Sci. Comput. 41(5), 2019), Hoeffding's inequality bounds it by
# LAMBDA * u * sqrt(sum_k s_k^2) <= LAMBDA * u * sqrt(n) * max_k |s_k|, except with probability
# 2 exp(-LAMBDA^2 / 2) per output (LAMBDA = 8: below 3e-14). We put the output's largest
# magnitude for max_k |s_k| (an assumption: the checks draw zero-mean random operands, whose
# partial sums do not outgrow the final ones in expectation), so
#     rtol_fp16(n) = LAMBDA * U16 * sqrt(n),   never below RTOL.
U16 = 2.0 ** -11
LAMBDA = 8.0


def tolerance(accumulate: str, n: int) -> dict:
    """rtol and atol for `compare` of a result accumulated in `accumulate` ("fp16"/"fp32")
    over reductions of at most `n` terms."""
    if accumulate == "fp32":
        return {"rtol": RTOL, "atol": ATOL}
    if accumulate != "fp16":
        raise ValueError(f"accumulate must be fp16 or fp32, got {accumulate!r}")
    return {"rtol": max(RTOL, LAMBDA * U16 * float(n) ** 0.5), "atol": ATOL}


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

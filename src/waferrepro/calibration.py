"""Calibration: the uncertain construct costs fitted to the training set, nothing else.

Method (stated in README, "Ledger, training set, calibration and bands"):
1. Candidates: the assumptions of hardware.ASSUMPTION_BOUNDS listed in CANDIDATES, each
   scaled to x = (value - low) / (high - low) in [0, 1] within its bounds.
2. Which the data can pin: the Jacobian of log(prediction) in x at the nominal values
   (central differences), column-pivoted QR; a candidate is pinned when its pivot is at least
   PIN_TOLERANCE of the largest and moves some prediction by at least MIN_EFFECT over its
   range. The rest stay at nominal and are reported as "not pinned".
3. Fit: least squares on log(predicted / published) over the pinned candidates, inside their
   bounds (SciPy least_squares, trust region reflective, soft-L1 loss of scale ROBUST_SCALE).
   Uncertainty: s^2 (J'J)^-1 at the solution, s^2 = RSS / (n - k). A parameter that ends at
   a bound is reported as a structure the model misses ("at bound"), never accepted silently.
4. Leave-one-out: each point refitted without it (from the full fit) and predicted; its
   log error is the LOO error, and their RMS over the paper's points (BAND_KINDS) is the
   calibrated band's half-width.

Only training.py reads data (results/reference/training.csv); this module reads nothing else.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from . import training
from .hardware import ASSUMPTION_BOUNDS, Hardware
from .meshsim import fastpath
from .records import atomic_write

# The construct costs the calibration may fit (the rest of the assumptions keep their nominal
# values: clock and SRAM ports are stated facts or bounds of a published range, not costs).
CANDIDATES = ("map_element_cycles", "scalar_iteration_cycles", "scalar_op_cycles",
              "fabric_dsd_startup_cycles", "bank_conflict_factor", "dsd_startup_cycles",
              "task_activation_cycles", "sync_cycles", "route_switch_cycles",
              "ramp_latency_cycles", "transcendental_ops", "simd_fmacs",
              "reduce_chain_exposed")
# The calibrated band is the leave-one-out RMS over the points of the kernels it is applied
# to (the authors' kernels under paper-kernels); Miyajima's SGEMM, another code predicted in
# our vector loop form, is fitted and reported but does not set the band.
BAND_KINDS = ("prefill", "decode", "kernel", "kernel_ratio")
PIN_TOLERANCE = 0.05
MIN_EFFECT = 0.02
STEP = 0.02  # central-difference step in x (2% of a parameter's range)
AT_BOUND = 1e-3  # within this of 0 or 1 in x: at its bound
# Robust loss (soft L1) with this scale: a point more than ~10% off weighs linearly, not
# quadratically, so one point no candidate can explain (e.g. the SGEMM, another code) does not
# bend the fit of the rest; its residual is reported.
ROBUST_SCALE = 0.1
MAX_EVALUATIONS = 30  # per fit: each costs one evaluation of every point (about 1 s)


@dataclass
class Fit:
    names: list[str]                # pinned and fitted
    unpinned: list[str]             # left at nominal
    values: dict[str, float]        # fitted values
    std: dict[str, float]           # one standard deviation, in the parameter's unit
    at_bound: dict[str, str]        # name -> "low" / "high"
    residuals: dict[str, float]     # point id -> log(predicted / published) after the fit
    nominal_residuals: dict[str, float]
    loo: dict[str, float]           # point id -> log error when left out
    predictions: dict[str, float]
    nominal_predictions: dict[str, float]
    loo_predictions: dict[str, float]

    band_ids: list[str] | None = None  # the points whose LOO errors make the band

    @property
    def loo_rms(self) -> float:
        """RMS of the leave-one-out log errors over the band's points (BAND_KINDS)."""
        ids = self.band_ids or list(self.loo)
        return math.sqrt(sum(self.loo[i] ** 2 for i in ids) / len(ids))


class Problem:
    """The training points and the bounds of the candidates, on one nominal hardware."""

    def __init__(self, hw: Hardware, points: list[training.Point]):
        self.hw = hw
        self.points = points
        bounds = ASSUMPTION_BOUNDS[hw.name]
        self.bounds = {n: bounds[n][:2] for n in CANDIDATES}
        self.calls = 0

    def to_x(self, name: str, value: float) -> float:
        lo, hi = self.bounds[name]
        return (value - lo) / (hi - lo)

    def to_value(self, name: str, x: float) -> float:
        lo, hi = self.bounds[name]
        return lo + x * (hi - lo)

    def hardware(self, names, x) -> Hardware:
        return replace(self.hw, **{n: float(self.to_value(n, v))
                                   for n, v in zip(names, x, strict=True)})

    def log_ratios(self, names, x, points=None) -> np.ndarray:
        """log(predicted / published) of `points` (default all) at x."""
        hw = self.hardware(names, x)
        out = []
        with fastpath.enabled() as memo:
            for p in points or self.points:
                out.append(math.log(training.predict(p, hw) / p.value))
                memo.clear()
        self.calls += 1
        return np.array(out)

    def jacobian(self, names, x, points=None, at=None) -> np.ndarray:
        """d log(prediction) / dx: forward differences of STEP (backward at the upper
        bound) from `at`, the log ratios at x where the caller has them."""
        base = self.log_ratios(names, x, points) if at is None else at
        cols = []
        for i in range(len(names)):
            step = STEP if x[i] + STEP <= 1.0 else -STEP
            moved = x.copy()
            moved[i] += step
            cols.append((self.log_ratios(names, moved, points) - base) / step)
        return np.column_stack(cols)


def pinned(problem: Problem) -> tuple[list[str], list[str]]:
    """(pinned, unpinned) candidates: column-pivoted QR of the nominal Jacobian."""
    from scipy.linalg import qr

    names = list(CANDIDATES)
    x0 = np.array([problem.to_x(n, getattr(problem.hw, n)) for n in names])
    jac = problem.jacobian(names, x0)
    _, r, piv = qr(jac, mode="economic", pivoting=True)
    diag = np.abs(np.diag(r))
    keep = set()
    for rank, col in enumerate(piv[:len(diag)]):
        effect = float(np.max(np.abs(jac[:, col])))
        if diag[rank] >= PIN_TOLERANCE * diag[0] and effect >= MIN_EFFECT:
            keep.add(names[col])
    # Fewer parameters than points, always (n - k > 0 for the uncertainty).
    ranked = [names[c] for c in piv if names[c] in keep][:max(1, len(problem.points) - 2)]
    return ranked, [n for n in names if n not in ranked]


def _solve(problem: Problem, names, x0, points=None):
    from scipy.optimize import least_squares

    return least_squares(lambda x: problem.log_ratios(names, x, points), x0,
                         jac=lambda x: problem.jacobian(names, x, points),
                         bounds=(0.0, 1.0), method="trf", x_scale=1.0, xtol=1e-3, ftol=1e-4,
                         loss="soft_l1", f_scale=ROBUST_SCALE, max_nfev=MAX_EVALUATIONS)


def calibrate(hw: Hardware, points: list[training.Point], progress=print) -> Fit:
    """Fit the pinned candidates to `points` (see the module's method)."""
    problem = Problem(hw, points)
    ids = [p.id for p in points]
    nominal = {n: getattr(hw, n) for n in CANDIDATES}
    progress(f"calibration: {len(points)} training points, {len(CANDIDATES)} candidates")
    names, unpinned = pinned(problem)
    progress(f"calibration: pinned {names}; not pinned (nominal): {unpinned}")
    x0 = np.array([problem.to_x(n, nominal[n]) for n in names])
    nominal_r = problem.log_ratios(names, x0)
    sol = _solve(problem, names, x0)
    r = problem.log_ratios(names, sol.x)
    k = len(names)
    jac = problem.jacobian(names, sol.x, at=r)
    # The soft-L1 loss's weights (rho'(z) = (1 + z)^-1/2, z = (r / scale)^2): the covariance
    # of the weighted problem, so a point the fit discounts does not inflate it.
    w = 1.0 / np.sqrt(1.0 + (r / ROBUST_SCALE) ** 2)
    jw, rw = jac * np.sqrt(w)[:, None], r * np.sqrt(w)
    s2 = float(rw @ rw) / max(1, len(points) - k)
    cov = s2 * np.linalg.pinv(jw.T @ jw)
    values = {n: problem.to_value(n, x) for n, x in zip(names, sol.x, strict=True)}
    std = {n: math.sqrt(max(0.0, cov[i, i])) * (problem.bounds[n][1] - problem.bounds[n][0])
           for i, n in enumerate(names)}
    at_bound = {n: ("low" if x < AT_BOUND else "high") for n, x in zip(names, sol.x,
                                                                       strict=True)
                if x < AT_BOUND or x > 1 - AT_BOUND}
    progress(f"calibration: fitted {', '.join(f'{n}={v:.3g}' for n, v in values.items())}")
    loo, loo_pred = {}, {}
    for i, p in enumerate(points):
        rest = points[:i] + points[i + 1:]
        fit_i = _solve(problem, names, sol.x, rest)
        err = float(problem.log_ratios(names, fit_i.x, [p])[0])
        loo[p.id], loo_pred[p.id] = err, p.value * math.exp(err)
        progress(f"calibration: leave out {p.id}: error {math.expm1(err):+.1%}")
    return Fit(names=names, unpinned=unpinned, values=values, std=std, at_bound=at_bound,
               residuals=dict(zip(ids, map(float, r), strict=True)),
               nominal_residuals=dict(zip(ids, map(float, nominal_r), strict=True)),
               loo=loo,
               predictions={p.id: p.value * math.exp(v) for p, v in zip(points, r,
                                                                         strict=True)},
               nominal_predictions={p.id: p.value * math.exp(v)
                                    for p, v in zip(points, nominal_r, strict=True)},
               loo_predictions=loo_pred,
               band_ids=[p.id for p in points if p.kind in BAND_KINDS])


def training_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def profile(hw: Hardware, fit: Fit, path: Path, n_points: int) -> dict:
    """The calibrated hardware profile: the fitted values, what they came from, the band."""
    return {
        "hardware": hw.name,
        "profile": f"{hw.name}-calibrated",
        "training": str(training.TRAINING_CSV),
        "training_sha256": training_digest(path),
        "points": n_points,
        "values": {n: round(v, 6) for n, v in fit.values.items()},
        "std": {n: round(v, 6) for n, v in fit.std.items()},
        "at_bound": fit.at_bound,
        "not_pinned": fit.unpinned,
        "band": {"method": "leave-one-out", "log_half_width": round(fit.loo_rms, 6),
                 "points": fit.band_ids,
                 "note": "calibrated band: value x exp(+-RMS of the leave-one-out log errors "
                         "of the paper's points)"},
        "residuals": {k: round(v, 6) for k, v in fit.residuals.items()},
        "loo_errors": {k: round(v, 6) for k, v in fit.loo.items()},
    }


def write_profile(data: dict, out: Path) -> None:
    atomic_write(out, lambda fh: fh.write(json.dumps(data, indent=1, sort_keys=True) + "\n"))

"""Calibration: one set of construct costs for both chips, fitted to the training files and
nothing else.

A @map element, a DSD set-up, a ramp, a hop and a task are the same core's on WSE-2 and WSE-3;
only what the SDK documents as different differs (SIMD widths, fabric size, memory: the
hardware descriptions). So one value of each candidate serves both chips.

Method (README, "Ledger, training set, calibration and bands"):
1. Candidates: CANDIDATES, each scaled to x = (value - low) / (high - low) in [0, 1] within
   its bounds (hardware.ASSUMPTION_BOUNDS, the same on both chips).
2. Counts x prices: every point's prediction is a constant times its timelines' cycles to a
   power (training.prediction_form), each timeline a meshsim.form.Form: evaluating it at other
   prices, and its Jacobian (the counts on the branch each overlap's max takes), cost no
   simulation. The forms are rebuilt at the solution until a fresh simulation agrees with
   them (a max inside one cost keeps the branch it took where it was built).
3. Which candidates the data can pin: those that move some prediction by at least
   MIN_EFFECT (in log) over their range at the nominal values enter the fit; after it, the
   one whose std is the largest share of its range goes back to nominal while that share
   exceeds WEAK (the data move it only along with others), and the fit is redone. The rest
   stay at nominal ("not pinned"). For each pinned candidate the share of its information by
   family says which data pin it.
4. Fit: ordinary least squares on log(predicted / measured) over the pinned candidates,
   inside their bounds (SciPy least_squares, trust region reflective), every point the same
   weight. Uncertainty: sigma^2 (J' J)^-1, sigma^2 = sum(r^2) / (n - k). A candidate that ends at
   a bound is reported as a structure the model misses ("at bound"), never accepted silently.
5. Held-out errors: leave-one-out (each point refitted without it, forms frozen at the
   solution), leave-one-grid-out (each WSE-3 grid refitted without its points, forms rebuilt
   once at that fit) and zero-shot (the WSE-2 points alone predicting the WSE-3 grids). The
   bands: WSE-2's the leave-one-out RMS log error over its points, WSE-3's the
   leave-one-grid-out RMS over its points (how far a grid the fit did not see is off).

Only training.py reads data (training.TRAINING_FILES); this module reads nothing else.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from . import training
from .hardware import ASSUMPTION_BOUNDS, HARDWARE, Hardware
from .meshsim.form import Compiled
from .records import atomic_write

# The construct costs the calibration may fit (the other assumptions keep their nominal
# values: clock and SRAM ports are stated facts or bounds of a published range; sync and route
# switches are our kernels', which no training point runs; the bank-conflict factor stays at
# its floor, 1, no stall: the only data that move it, the WSE-3 MeshGEMM's Mt = 8 tiles, put
# it there (1.00, std 0.08, when fitted): the measured kernels show no conflict stall).
CANDIDATES = ("scalar_op_cycles", "scalar_iteration_cycles",
              "map_setup_cycles", "map_element_cycles", "dsd_startup_cycles",
              "fabric_dsd_startup_cycles", "task_activation_cycles", "relay_cycles",
              "hop_latency_cycles", "ramp_latency_cycles", "transcendental_ops",
              "reduce_chain_exposed")
# A pinned candidate whose fitted std exceeds this share of its range is not pinned after all
# (the data move it only along with others): it goes back to nominal and the fit is redone.
WEAK = 0.2
MIN_EFFECT = 0.02
AT_BOUND = 1e-3  # within this of 0 or 1 in x: at its bound
MAX_REBUILDS = 5  # forms rebuilt at the solution until a fresh simulation agrees
AGREE = 1e-9  # |log(form) - log(fresh simulation)| at which the forms are taken as exact


def bounds() -> dict[str, tuple[float, float]]:
    """The candidates' bounds, the same on every chip (checked)."""
    out = {}
    for name in CANDIDATES:
        per_chip = {ASSUMPTION_BOUNDS[h][name][:2] for h in HARDWARE}
        if len(per_chip) != 1:
            raise ValueError(f"{name}: its bounds differ between chips ({per_chip}); one set "
                             "of construct costs needs one range")
        out[name] = per_chip.pop()
    return out


# Every point weighs the same (ordinary least squares on the log errors): a WSE-3 grid's
# measured cycles count as much as one of the paper's numbers. The per-family residuals are
# reported (calibration_report), so a family the shared prices cannot fit shows.


class Problem:
    """The training points, the nominal hardware of each chip and the candidates' bounds."""

    def __init__(self, points: list[training.Point], hws: dict[str, Hardware] | None = None):
        self.points = list(points)
        self.hws = dict(hws or HARDWARE)
        self.bounds = bounds()
        self.constants: dict[str, float] = {}  # each point's price-free factor
        self.builds = 0
        self.weight = {p.id: 1.0 for p in self.points}
        self.weights = np.ones(len(self.points))

    def to_x(self, name: str, value: float) -> float:
        lo, hi = self.bounds[name]
        return (value - lo) / (hi - lo)

    def to_value(self, name: str, x: float) -> float:
        lo, hi = self.bounds[name]
        return lo + x * (hi - lo)

    def nominal(self) -> dict[str, float]:
        """The candidates' nominal values (the same on every chip: checked)."""
        out = {}
        for name in CANDIDATES:
            values = {getattr(hw, name) for hw in self.hws.values()}
            if len(values) != 1:
                raise ValueError(f"{name}: nominal values differ between chips ({values})")
            out[name] = float(values.pop())
        return out

    def build(self, values: dict[str, float], points=None) -> "Built":
        """Every point's forms, simulated at `values` (the other fields nominal)."""
        points = self.points if points is None else points
        hws = {name: replace(hw, **values) for name, hw in self.hws.items()}
        forms = []
        for p in points:
            pf = training.prediction_form(p, hws[p.hardware], self.constants.get(p.id))
            self.constants.setdefault(p.id, pf.constant)
            forms.append(pf)
        self.builds += 1
        return Built(self, points, forms, hws)


@dataclass
class Built:
    """Forms of some points, compiled per chip, and how each point's prediction uses them."""
    problem: Problem
    points: list
    forms: list
    hws: dict
    compiled: dict = field(init=False)

    def __post_init__(self):
        by_chip: dict[str, list] = {}
        self.uses = []  # per point: [(chip, form index, exponent)]
        for p, pf in zip(self.points, self.forms, strict=True):
            chip = by_chip.setdefault(p.hardware, [])
            uses = []
            for e, form in pf.parts:
                uses.append((p.hardware, len(chip), e))
                chip.append(form)
            self.uses.append(uses)
        self.compiled = {chip: Compiled(forms, list(CANDIDATES), self.hws[chip])
                         for chip, forms in by_chip.items()}
        self.log_constant = np.array([math.log(pf.constant) for pf in self.forms])
        self.log_value = np.array([math.log(p.value) for p in self.points])
        self.weights = np.array([self.problem.weight[p.id] for p in self.points])

    def residuals(self, values: dict[str, float], names=()) -> tuple[np.ndarray, np.ndarray]:
        """(log(predicted / measured) per point, its Jacobian in the x of `names`) at
        `values` (every candidate's)."""
        x = [values[n] for n in CANDIDATES]
        at = {chip: c.evaluate(x) for chip, c in self.compiled.items()}
        r = self.log_constant - self.log_value
        jac = np.zeros((len(self.points), len(names)))
        cols = [CANDIDATES.index(n) for n in names]
        scale = np.array([self.problem.bounds[n][1] - self.problem.bounds[n][0]
                          for n in names])
        for i, uses in enumerate(self.uses):
            for chip, k, e in uses:
                cycles, grad = at[chip]
                r[i] += e * math.log(cycles[k])
                jac[i] += e * grad[k, cols] / cycles[k] * scale
        return r, jac


@dataclass
class Fit:
    names: list[str]                # pinned and fitted
    unpinned: list[str]             # left at nominal
    values: dict[str, float]        # every candidate's value (fitted or nominal)
    std: dict[str, float]           # one standard deviation of the fitted ones
    at_bound: dict[str, str]        # name -> "low" / "high"
    pinned_by: dict[str, dict]      # name -> {family: share of its information}
    points: list                    # training.Point
    residuals: dict[str, float]     # point id -> log(predicted / measured) after the fit
    nominal_residuals: dict[str, float]
    loo: dict[str, float] = field(default_factory=dict)   # left out, one point at a time
    logo: dict[str, float] = field(default_factory=dict)  # left out with its grid (WSE-3)
    zero_shot: dict[str, float] = field(default_factory=dict)  # WSE-2 fit, WSE-3 points
    zero_shot_values: dict[str, float] = field(default_factory=dict)
    rebuilds: int = 0

    def bands(self) -> dict[str, dict]:
        """Per chip: the band's log half-width and how it was made."""
        out = {}
        for chip in sorted({p.hardware for p in self.points}):
            ids = [p.id for p in self.points if p.hardware == chip]
            errors, method = ((self.loo, "leave-one-out") if chip == "wse2"
                              else (self.logo, "leave-one-grid-out"))
            have = [i for i in ids if i in errors]
            if have:
                rms = math.sqrt(sum(errors[i] ** 2 for i in have) / len(have))
                out[chip] = {"log_half_width": rms, "method": method, "points": have}
        return out


def _solve(built: Built, names: list[str], start: dict[str, float], mask=None):
    """Weighted least squares over `names` from `start`; `mask`: the points that count."""
    from scipy.optimize import least_squares

    problem = built.problem
    w = built.weights * (1.0 if mask is None else mask)

    def values_at(x):
        return {**start, **{n: problem.to_value(n, v) for n, v in zip(names, x, strict=True)}}

    def fun(x):
        return w * built.residuals(values_at(x), names)[0]

    def jac(x):
        return w[:, None] * built.residuals(values_at(x), names)[1]

    x0 = np.clip([problem.to_x(n, start[n]) for n in names], 0.0, 1.0)
    sol = least_squares(fun, x0, jac=jac, bounds=(0.0, 1.0), method="trf", xtol=1e-10,
                        ftol=1e-12, gtol=1e-12, max_nfev=200)
    return values_at(sol.x), sol


def _fit(problem: Problem, names, start, points=None, progress=print):
    """Fit `names` on `points` (default all), rebuilding the forms at the solution until a
    fresh simulation agrees with them. Returns (values, built at the values)."""
    values = dict(start)
    built = problem.build(values, points)
    for _ in range(MAX_REBUILDS):
        values, _ = _solve(built, names, values)
        fresh = problem.build(values, points)
        drift = float(np.max(np.abs(built.residuals(values)[0] - fresh.residuals(values)[0])))
        progress(f"calibration: forms rebuilt at the solution, drift {drift:.2e}")
        built = fresh
        if drift < AGREE:
            break
    return values, built


def pinned(problem: Problem, built: Built) -> tuple[list[str], list[str]]:
    """(candidates the data can move, the rest): those that move some prediction by at least
    MIN_EFFECT over their range at the nominal values. Which of them the data pin is decided
    after the fit (WEAK)."""
    names = list(CANDIDATES)
    _, jac = built.residuals(problem.nominal(), names)
    keep = [n for j, n in enumerate(names) if float(np.max(np.abs(jac[:, j]))) >= MIN_EFFECT]
    return keep, [n for n in names if n not in keep]


def _uncertainty(problem: Problem, built: Built, values, names):
    """(residuals, Jacobian in x, std of each name in its own unit) at `values`."""
    r, jac = built.residuals(values, names)
    k, n = len(names), len(built.points)
    w2 = built.weights ** 2
    sigma2 = float((w2 * r * r).sum()) / max(1, n - k)
    cov = sigma2 * np.linalg.pinv(jac.T @ (w2[:, None] * jac))
    std = {nm: math.sqrt(max(0.0, cov[i, i])) * (problem.bounds[nm][1] - problem.bounds[nm][0])
           for i, nm in enumerate(names)}
    return r, jac, std


def _information(problem: Problem, jac: np.ndarray, names) -> dict[str, dict]:
    """Per name, each family's share of its information (sum of w^2 J^2)."""
    families = [p.family for p in problem.points]
    out = {}
    for j, name in enumerate(names):
        info = problem.weights ** 2 * jac[:, j] ** 2
        total = float(info.sum()) or 1.0
        shares = {}
        for f, v in zip(families, info, strict=True):
            shares[f] = shares.get(f, 0.0) + float(v) / total
        out[name] = {f: round(s, 4) for f, s in sorted(shares.items(), key=lambda kv: -kv[1])
                     if s >= 0.005}
    return out


def _errors(problem: Problem, built: Built, values: dict, ids) -> dict[str, float]:
    r, _ = built.residuals(values)
    index = {p.id: i for i, p in enumerate(built.points)}
    return {i: float(r[index[i]]) for i in ids}


def calibrate(points: list[training.Point], hws: dict[str, Hardware] | None = None,
              progress=print, held_out: bool = True) -> Fit:
    """Fit the pinned candidates to `points` (see the module's method). `held_out=False`
    skips the leave-one-out, leave-one-grid-out and zero-shot refits."""
    problem = Problem(points, hws)
    nominal = problem.nominal()
    chips = sorted({p.hardware for p in points})
    progress(f"calibration: {len(points)} training points on {', '.join(chips)}, "
             f"{len(CANDIDATES)} candidates")
    built0 = problem.build(nominal)
    names, unpinned = pinned(problem, built0)
    progress(f"calibration: pinned {names}; not pinned (nominal): {unpinned}")
    nominal_r = built0.residuals(nominal)[0]
    values, built = _fit(problem, names, nominal, progress=progress)
    while True:
        r, jac, std = _uncertainty(problem, built, values, names)
        share = {nm: std[nm] / (problem.bounds[nm][1] - problem.bounds[nm][0]) for nm in names}
        weakest = max(names, key=share.get) if names else None
        if weakest is None or share[weakest] <= WEAK:
            break
        # one at a time: of candidates the data move only together, the best pinned stay
        progress(f"calibration: {weakest} weakly pinned (std {share[weakest]:.0%} of its "
                 "range), back to nominal")
        names = [nm for nm in names if nm != weakest]
        unpinned = [nm for nm in CANDIDATES if nm not in names]
        values, _ = _solve(built, names, {**values, weakest: nominal[weakest]})
    values, built = _fit(problem, names, values, progress=progress)
    r, jac, std = _uncertainty(problem, built, values, names)
    at_bound = {}
    for nm in names:
        x = problem.to_x(nm, values[nm])
        if x < AT_BOUND or x > 1 - AT_BOUND:
            at_bound[nm] = "low" if x < AT_BOUND else "high"
    progress("calibration: fitted " + ", ".join(f"{nm}={values[nm]:.3g}" for nm in names))
    ids = [p.id for p in points]
    fit = Fit(names=names, unpinned=unpinned, values=values, std=std, at_bound=at_bound,
              pinned_by=_information(problem, jac, names), points=list(points),
              residuals=dict(zip(ids, map(float, r), strict=True)),
              nominal_residuals=dict(zip(ids, map(float, nominal_r), strict=True)))
    if held_out:
        _held_out(problem, built, fit, progress)
    fit.rebuilds = problem.builds
    return fit


def _held_out(problem: Problem, built: Built, fit: Fit, progress) -> None:
    """Leave-one-out, leave-one-grid-out and zero-shot errors (see the module's method)."""
    names, values = fit.names, fit.values
    n = len(problem.points)
    for i, p in enumerate(problem.points):
        mask = np.ones(n)
        mask[i] = 0.0
        left, _ = _solve(built, names, values, mask)
        fit.loo[p.id] = _errors(problem, built, left, [p.id])[p.id]
    progress("calibration: leave-one-out done")
    wse3 = [p for p in problem.points if p.hardware != "wse2"]
    for grid in sorted({p.grid for p in wse3}):
        out = [p for p in problem.points if p.hardware != "wse2" and p.grid == grid]
        mask = np.array([0.0 if p in out else 1.0 for p in problem.points])
        left, _ = _solve(built, names, values, mask)
        fresh = problem.build(left, out)
        fit.logo.update(_errors(problem, fresh, left, [p.id for p in out]))
        errors = [abs(math.expm1(fit.logo[p.id])) for p in out]
        progress(f"calibration: leave out grid {grid}x{grid} ({len(out)} points): mean "
                 f"|error| {sum(errors) / len(errors):.1%}")
    wse2 = [p for p in problem.points if p.hardware == "wse2"]
    if wse2 and wse3:
        alone = Problem(wse2, problem.hws)
        alone.constants = problem.constants
        names2, _ = pinned(alone, alone.build(alone.nominal()))
        left, _ = _fit(alone, names2, alone.nominal(), progress=lambda m: None)
        fit.zero_shot_values = {nm: left[nm] for nm in names2}
        fresh = problem.build(left, wse3)
        fit.zero_shot = _errors(problem, fresh, left, [p.id for p in wse3])
        errors = [abs(math.expm1(e)) for e in fit.zero_shot.values()]
        progress(f"calibration: zero-shot (WSE-2 points alone) on the WSE-3 grids: mean "
                 f"|error| {sum(errors) / len(errors):.1%}")


# --- the profile ---------------------------------------------------------------------------

def training_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def profile(fit: Fit, paths) -> dict:
    """The calibrated profile: the shared values, what they came from, each chip's band."""
    counts = {}
    for p in fit.points:
        counts[p.hardware] = counts.get(p.hardware, 0) + 1
    return {
        "profile": "calibrated",
        "hardware": sorted(counts),
        "training": [{"path": str(rel), "sha256": training_digest(path),
                      "points": len(training.load(Path(path)))}
                     for rel, path in paths],
        "points": dict(sorted(counts.items())),
        "values": {n: round(fit.values[n], 6) for n in fit.names},
        "std": {n: round(v, 6) for n, v in fit.std.items()},
        "at_bound": fit.at_bound,
        "not_pinned": fit.unpinned,
        "pinned_by": fit.pinned_by,
        "bands": {chip: {**b, "log_half_width": round(b["log_half_width"], 6),
                         "note": "calibrated band: value x exp(+-the RMS log error of the "
                                 f"{b['method']} predictions of this chip's points)"}
                  for chip, b in fit.bands().items()},
        "residuals": {k: round(v, 6) for k, v in fit.residuals.items()},
        "loo_errors": {k: round(v, 6) for k, v in fit.loo.items()},
        "logo_errors": {k: round(v, 6) for k, v in fit.logo.items()},
    }


def write_profile(data: dict, out: Path) -> None:
    atomic_write(out, lambda fh: fh.write(json.dumps(data, indent=1, sort_keys=True) + "\n"))

"""The calibration's outputs: its table (calibration.csv), its figure (predicted vs measured for
the training points) and the profile it writes. Separate from the fit so that the fit
(waferrepro.calibration) stays numbers only."""

from __future__ import annotations

import math
from pathlib import Path

from .calibration import CANDIDATES, Fit, bounds
from .hardware import ASSUMPTION_BOUNDS, HARDWARE
from .plotting import plt, save
from .records import atomic_write

RATIO_TICKS = (0.25, 0.33, 0.5, 0.67, 0.8, 0.9, 1, 1.1, 1.25, 1.5, 2, 3, 4)
COLUMNS = ("section", "name", "family", "value", "std", "nominal", "low_bound", "high_bound",
           "status", "measured", "predicted_nominal", "predicted_calibrated",
           "error_calibrated", "error_left_out", "error_grid_left_out", "error_zero_shot",
           "note")
# The held-out errors a point can have (Fit attribute, table column).
HELD_OUT = (("loo", "error_left_out"), ("logo", "error_grid_left_out"),
            ("zero_shot", "error_zero_shot"))
SIMULATED = "simulated: meshsim cycle model, paper-kernels preset"


def _status(fit: Fit, name: str) -> str:
    lo, hi = bounds()[name]
    if name not in fit.names:
        return "not pinned by the data (left at nominal)"
    if name in fit.at_bound:
        return f"at {fit.at_bound[name]} bound: a structure the model misses"
    if fit.std[name] > 0.5 * (hi - lo):
        return "fitted, weakly pinned (one std over half its range)"
    pins = ", ".join(f"{f} {s:.0%}" for f, s in fit.pinned_by[name].items())
    return f"fitted; pinned by {pins}"


def rows(fit: Fit) -> list[dict]:
    """One row per candidate, per training point, per family and per chip's band."""
    out = []
    why = ASSUMPTION_BOUNDS["wse2"]
    nominal = HARDWARE["wse2"]
    for name in CANDIDATES:
        lo, hi = bounds()[name]
        out.append({"section": "parameter", "name": name, "value": fit.values[name],
                    "std": fit.std.get(name), "nominal": getattr(nominal, name),
                    "low_bound": lo, "high_bound": hi, "status": _status(fit, name),
                    "note": why[name][2]})
    for p in fit.points:
        row = {"section": "point", "name": p.id, "family": p.family, "measured": p.value,
               "predicted_nominal": p.value * math.exp(fit.nominal_residuals[p.id]),
               "predicted_calibrated": p.value * math.exp(fit.residuals[p.id]),
               "error_calibrated": math.expm1(fit.residuals[p.id]),
               "status": "fitted (training point: never counted as agreement)",
               "note": f"{p.metric} [{p.unit}]; {p.source}"}
        for attr, col in HELD_OUT:
            errors = getattr(fit, attr)
            if p.id in errors:
                row[col] = math.expm1(errors[p.id])
        out.append(row)
    for family in sorted({p.family for p in fit.points}):
        ids = [p.id for p in fit.points if p.family == family]
        row = {"section": "family", "name": family, "family": family,
               "error_calibrated": _mean_abs(fit.residuals, ids),
               "status": "mean |error| over the family's points",
               "note": f"{len(ids)} points; {SIMULATED}"}
        for attr, col in HELD_OUT:
            row[col] = _mean_abs(getattr(fit, attr), ids)
        out.append(row)
    for chip, band in fit.bands().items():
        out.append({"section": "band", "name": chip, "value": band["log_half_width"],
                    "status": f"the calibrated band's half-width (log): the RMS of the "
                              f"{band['method']} errors",
                    "note": f"over {len(band['points'])} points; {SIMULATED}"})
    return out


def _mean_abs(errors: dict, ids) -> float | None:
    have = [abs(math.expm1(errors[i])) for i in ids if i in errors]
    return sum(have) / len(have) if have else None


def write_table(table_rows: list[dict], out: Path) -> None:
    """The table, written atomically (records.atomic_write; not tables.write_csv, whose
    module reads the published values: the calibration imports nothing that does)."""
    import pandas as pd

    table = pd.DataFrame(table_rows).reindex(columns=COLUMNS)
    atomic_write(out, lambda fh: table.to_csv(fh, index=False), newline="")


def figure(table_rows: list[dict], outs: list[Path]) -> None:
    """Predicted / measured per training point: the WSE-2 points one by one (nominal,
    calibrated, left out), the WSE-3 grids against their measured cycles (calibrated, the
    grid left out, the WSE-2 fit alone)."""
    import matplotlib.ticker

    pts = [r for r in table_rows if r["section"] == "point"]
    wse2 = [r for r in pts if r["family"].startswith("wse2")]
    wse3 = [r for r in pts if not r["family"].startswith("wse2")]
    fig, axes = plt.subplots(1, 2, figsize=(12, 5), dpi=120)
    ax = axes[0]
    marks = (("predicted_nominal", "nominal", "o", "tab:gray"),
             ("predicted_calibrated", "calibrated (fitted)", "s", "tab:blue"),
             ("error_left_out", "left out of the fit", "^", "tab:orange"))
    for key, name, marker, color in marks:
        ys = [(r[key] / r["measured"]) if key.startswith("predicted") else 1 + r.get(key, 0)
              for r in wse2]
        ax.scatter(range(len(wse2)), ys, marker=marker, color=color, label=name, alpha=0.85)
    ax.set_xticks(range(len(wse2)), [r["name"] for r in wse2], rotation=45, ha="right",
                  fontsize=7)
    ax.set_title("WSE-2 (results/reference/training.csv)", fontsize=10)
    ax = axes[1]
    marks = (("error_calibrated", "calibrated (fitted)", "s", "tab:blue"),
             ("error_grid_left_out", "its grid left out", "^", "tab:orange"),
             ("error_zero_shot", "zero-shot: WSE-2 fit alone", "x", "tab:red"))
    for key, name, marker, color in marks:
        have = [r for r in wse3 if r.get(key) is not None and not _nan(r.get(key))]
        ax.scatter([r["measured"] for r in have], [1 + r[key] for r in have], marker=marker,
                   color=color, label=name, alpha=0.6, s=12)
    ax.set_xscale("log")
    ax.set_xlabel("measured cycles per run (WSE-3)")
    ax.set_title("WSE-3 small grids (results/reference/training-wse3.csv)", fontsize=10)
    for ax in axes:
        ax.axhline(1.0, color="k", lw=0.8)
        ax.axhspan(0.95, 1.05, color="tab:green", alpha=0.12, label="+-5%")
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(matplotlib.ticker.FixedLocator(RATIO_TICKS))
        ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.yaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_ylabel("predicted / measured")
        ax.legend(fontsize=7)
    fig.suptitle("Calibration: one set of construct costs for WSE-2 and WSE-3 "
                 f"({SIMULATED})", fontsize=10)
    fig.tight_layout()
    save(fig, outs, dpi=100)


def _nan(v) -> bool:
    return isinstance(v, float) and math.isnan(v)

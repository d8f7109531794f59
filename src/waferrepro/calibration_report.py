"""The calibration's outputs: its table (calibration.csv), its figure (predicted vs published
for the training points) and the profile it writes. Separate from the fit so that the fit
(waferrepro.calibration) stays numbers only."""

from __future__ import annotations

import math
from pathlib import Path

from . import training
from .calibration import CANDIDATES, Fit
from .hardware import ASSUMPTION_BOUNDS, Hardware
from .tables import write_csv

RATIO_TICKS = (0.25, 0.33, 0.5, 0.67, 0.8, 0.9, 1, 1.1, 1.25, 1.5, 2, 3, 4)
COLUMNS = ("section", "name", "value", "std", "nominal", "low_bound", "high_bound", "status",
           "published", "predicted_nominal", "predicted_calibrated", "error_calibrated",
           "predicted_left_out", "error_left_out", "note")


def rows(hw: Hardware, fit: Fit, points: list[training.Point]) -> list[dict]:
    """One row per candidate parameter, per training point, and the summary."""
    bounds = ASSUMPTION_BOUNDS[hw.name]
    out = []
    for name in CANDIDATES:
        lo, hi, why = bounds[name]
        if name in fit.values:
            value, std = fit.values[name], fit.std[name]
            if name in fit.at_bound:
                status = f"at {fit.at_bound[name]} bound: a structure the model misses"
            elif std > 0.5 * (hi - lo):
                status = "fitted, weakly pinned (one std over half its range)"
            else:
                status = "fitted"
        else:
            status, value, std = "not pinned by the data (left at nominal)", getattr(hw, name), None
        out.append({"section": "parameter", "name": name, "value": value, "std": std,
                    "nominal": getattr(hw, name), "low_bound": lo, "high_bound": hi,
                    "status": status, "note": why})
    for p in points:
        out.append({"section": "point", "name": p.id, "published": p.value,
                    "predicted_nominal": fit.nominal_predictions[p.id],
                    "predicted_calibrated": fit.predictions[p.id],
                    "error_calibrated": math.expm1(fit.residuals[p.id]),
                    "predicted_left_out": fit.loo_predictions[p.id],
                    "error_left_out": math.expm1(fit.loo[p.id]),
                    "status": "fitted (training point: never counted as agreement)",
                    "note": f"{p.metric} [{p.unit}]; {p.source}"})
    band = fit.band_ids or list(fit.loo)
    mean_abs = sum(abs(math.expm1(fit.loo[i])) for i in band) / len(band)
    out.append({"section": "summary", "name": "leave_one_out_rms_log_error",
                "value": fit.loo_rms, "status": "the calibrated band's half-width (log)",
                "note": f"over {len(band)} of {len(points)} points ({', '.join(band)}); mean "
                        f"|leave-one-out error| {mean_abs:.1%}; simulated (meshsim cycle model, "
                        f"paper-kernels preset)"})
    return out


def write_table(table_rows: list[dict], out: Path) -> None:
    import pandas as pd

    write_csv(pd.DataFrame(table_rows).reindex(columns=COLUMNS), out)


def figure(table_rows: list[dict], outs: list[Path]) -> None:
    """Predicted vs published, per training point: nominal, calibrated, left out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    pts = [r for r in table_rows if r["section"] == "point"]
    fig, ax = plt.subplots(figsize=(7, 5), dpi=120)
    marks = (("predicted_nominal", "nominal", "o", "tab:gray"),
             ("predicted_calibrated", "calibrated (fitted)", "s", "tab:blue"),
             ("predicted_left_out", "left out of the fit", "^", "tab:orange"))
    x = range(len(pts))
    for key, label, marker, color in marks:
        ax.scatter(list(x), [r[key] / r["published"] for r in pts], marker=marker,
                   color=color, label=label, alpha=0.85)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.axhspan(0.9, 1.1, color="tab:green", alpha=0.12, label="+-10%")
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(matplotlib.ticker.FixedLocator(RATIO_TICKS))
    ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.yaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_xticks(list(x), [r["name"] for r in pts], rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("predicted / published")
    ax.set_title("Calibration on results/reference/training.csv (simulated, meshsim)",
                 fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    for out in outs:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out)
    plt.close(fig)



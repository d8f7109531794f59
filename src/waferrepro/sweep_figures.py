"""Figures of the hardware sweeps, each drawn only from its table (waferrepro.sensitivity):
a tornado chart per headline metric (sensitivity) and TPR vs SRAM per core (whatif)."""

from __future__ import annotations

import math

import pandas as pd

from .plotting import plt, provenance_label

LOW_COLOR, HIGH_COLOR = "tab:blue", "tab:orange"


def _run_label(row) -> str:
    if isinstance(row["model"], str):
        return f"{row['model']} {row['metric']} on {row['cores']}"
    return f"{row['system']} {row['shape']} {row['metric']} on {row['cores']}"


def tornado_rows(table: pd.DataFrame) -> list[tuple[str, float, pd.DataFrame]]:
    """Per headline run: (label, nominal value, one row per parameter with the value at its
    low and at its high bound and the swing |high - low|, sorted by swing, largest first)."""
    keys = ["system", "model", "shape", "cores", "metric"]
    ok = table[table["source"] == "simulated"].copy()
    out = []
    for _, rows in ok.groupby(keys, dropna=False, sort=False):
        nominal = rows[rows["parameter"] == "nominal"]["value"]
        if nominal.empty:
            continue
        wide = (rows[rows["parameter"] != "nominal"]
                .pivot_table(index="parameter", columns="bound", values="value",
                             aggfunc="first")
                .reindex(columns=["low", "high"]))
        wide["swing"] = (wide["high"] - wide["low"]).abs()
        out.append((_run_label(rows.iloc[0]), float(nominal.iloc[0]),
                    wide.sort_values("swing", ascending=False)))
    return out


def plot_sensitivity(table: pd.DataFrame):
    """Tornado per headline run: a bar from the value at each assumption's low bound to the
    value at its high bound, around the nominal (the vertical line), in % of the nominal."""
    runs = tornado_rows(table)
    if not runs:
        raise ValueError("sensitivity: the table holds no simulated nominal rows to draw")
    cols = min(4, len(runs))
    nrows = math.ceil(len(runs) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.6 * cols, 3.2 * nrows), squeeze=False)
    for ax, (label, nominal, wide) in zip(axes.flat, runs, strict=False):
        y = range(len(wide))[::-1]
        for yi, (_, r) in zip(y, wide.iterrows(), strict=True):
            for bound, color in (("low", LOW_COLOR), ("high", HIGH_COLOR)):
                pct = (r[bound] / nominal - 1) * 100 if nominal else float("nan")
                ax.barh(yi, pct, color=color, alpha=0.8,
                        label=f"value at the {bound} bound" if yi == len(wide) - 1 else None)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(list(y), wide.index, fontsize=6)
        ax.set_xlabel(f"% change from nominal {nominal:.4g} (simulated)", fontsize=7)
        ax.set_title(label, fontsize=8)
        ax.tick_params(axis="x", labelsize=6)
    for ax in list(axes.flat)[len(runs):]:
        ax.set_visible(False)
    axes[0][0].legend(fontsize=6, loc="lower right")
    fig.suptitle("Sensitivity of the simulated headline metrics to each assumed hardware "
                 "parameter (one at a time, others nominal; sorted by swing)\n"
                 f"[{provenance_label(table)}]", fontsize=10)
    fig.tight_layout()
    return fig


def plot_whatif(table: pd.DataFrame):
    """Decode and prefill TPR vs SRAM per core, one line per model and hardware; a size
    whose plan does not fit is a gap (the table's note says why); hollow markers: the plan
    fits one layer but the whole model does not fit the grid."""
    tpr = table[table["metric"].str.endswith("_tpr_tokens_per_s")]
    fits = table[table["metric"] == "fits_grid_whole_model"]
    metrics = sorted(tpr["metric"].unique())
    if not metrics:
        raise ValueError("whatif: the table holds no TPR rows to draw")
    fig, axes = plt.subplots(1, len(metrics), figsize=(6.2 * len(metrics), 4.6), squeeze=False)
    styles = {"wse2": "-", "wse3": "--"}
    for ax, metric in zip(axes[0], metrics, strict=True):
        rows = tpr[tpr["metric"] == metric]
        for (model, hw), line in rows.groupby(["model", "hardware"]):
            line = line.sort_values("parameter_value")
            kb = line["parameter_value"] / 1024
            color = f"C{sorted(rows['model'].unique()).index(model)}"
            ax.plot(kb, line["value"], styles.get(hw, ":"), color=color,
                    label=f"{model}, {hw} ({line['cores'].iloc[0]})")
            f = fits[(fits["model"] == model) & (fits["hardware"] == hw)
                     & fits["cores"].isin(line["cores"])].set_index("parameter_value")["value"]
            whole = line["parameter_value"].map(f).fillna(0).astype(bool)
            ax.scatter(kb[whole], line["value"][whole], color=color, s=18)
            ax.scatter(kb[~whole], line["value"][~whole], facecolors="none", edgecolors=color,
                       s=18)
        missing = rows[rows["value"].isna()]
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("SRAM per core (KB)")
        ax.set_ylabel(f"{metric} (simulated)")
        ax.set_title(f"{metric}: {len(missing)} point(s) missing (plan does not fit)",
                     fontsize=9)
        ax.legend(fontsize=6)
    fig.suptitle("What if: TPR vs SRAM per core, WSE-2 (solid) vs WSE-3 (dashed), simulated\n"
                 "filled: whole model fits the grid; hollow: one layer only; gaps: does not fit"
                 f"\n[{provenance_label(table)}]", fontsize=9)
    fig.tight_layout()
    return fig

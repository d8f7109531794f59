"""Figures, each drawn only from its tidy table (results/<run>/tables/<id>.csv).

Every figure names the backend and source of its numbers in its title, so a simulated cycle
count is never mistaken for a hardware measurement, and the run its table comes from.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from .experiments import grid_side  # noqa: E402

SYSTEM_COLORS = {"MeshGEMM": "tab:blue", "SUMMA": "tab:orange", "Cannon": "tab:green",
                 "MeshGEMV": "tab:blue", "chain-GEMV": "tab:red"}


def _provenance_label(table: pd.DataFrame) -> str:
    pairs = sorted({f"{b}, {s}" for b, s in zip(table["backend"], table["source"], strict=True)})
    runs = sorted(set(table["run"].dropna().astype(str)) - {""}) if "run" in table else []
    return "; ".join(([f"run {', '.join(runs)}"] if runs else []) + pairs)


def _grid_side(cores: str) -> int:
    return round(grid_side(cores))


def _wide(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (system, shape, cores) with a column per metric: the wafer runs only
    (simulated or measured on a core grid; GPU/CPU baseline rows have no grid)."""
    ok = table[table["source"].isin(["simulated", "measured"]) & table["cores"].notna()]
    wide = ok.pivot_table(index=["system", "shape", "cores"], columns="metric", values="value",
                          aggfunc="first").reset_index()
    wide["side"] = wide["cores"].map(_grid_side)
    return wide.sort_values(["shape", "system", "side"])


def _size_label(shape: str) -> str:
    m, k, n = (int(v) for v in shape.split("x"))
    return f"[{m},{k}]x[{k},{n}]" if m == 1 else f"{m}x{k}x{n}"


def _require_metrics(wide: pd.DataFrame, title: str, names) -> None:
    """A figure draws the metrics it names, or fails saying which runs lack one."""
    for name in names:
        missing = (wide[wide[name].isna()] if name in wide
                   else wide)[["system", "shape", "cores"]].drop_duplicates()
        if len(missing):
            raise ValueError(f"{title}: metric {name!r} missing from {len(missing)} run(s), "
                             f"e.g. {missing.iloc[0].to_dict()}; the records of this backend "
                             "do not write it")


def plot_split(table: pd.DataFrame, title: str, lower_metric: str, lower_label: str):
    """Per shape: total and compute cycles per system vs core grid (log scale, the gap between
    the two lines is exposed communication), and below it a 0..1 share per system."""
    wide = _wide(table)
    _require_metrics(wide, title, ("cycles", "compute_cycles", lower_metric))
    shapes = sorted(wide["shape"].unique(), key=lambda s: [int(v) for v in s.split("x")])
    fig, axes = plt.subplots(2, len(shapes), figsize=(4.8 * len(shapes), 7.5), squeeze=False,
                             sharex="col")
    systems = list(dict.fromkeys(wide["system"]))
    cycles_label = "cycles (simulated)" if "simulated" in set(table["source"]) else "cycles"
    for col, shape in enumerate(shapes):
        sub = wide[wide["shape"] == shape]
        top, bottom = axes[0][col], axes[1][col]
        for system in systems:
            rows = sub[sub["system"] == system]
            color = SYSTEM_COLORS.get(system)
            cores = rows["side"] ** 2
            top.plot(cores, rows["cycles"], marker="o", color=color, label=f"{system} total")
            top.plot(cores, rows["compute_cycles"], ls=":", color=color,
                     label=f"{system} compute only")
            bottom.plot(cores, rows[lower_metric], marker="o", color=color, label=system)
        top.set_xscale("log")
        top.set_yscale("log")
        top.set_ylabel(cycles_label)
        top.set_title(_size_label(shape))
        top.legend(fontsize=7)
        bottom.set_ylim(0, 1.05)
        bottom.set_xlabel("cores")
        bottom.set_ylabel(lower_label)
        bottom.legend(fontsize=7)
        ticks = sorted(sub["side"].unique())
        bottom.set_xticks([t * t for t in ticks], [f"{t}²" for t in ticks], fontsize=7)
        bottom.minorticks_off()
    fig.suptitle(f"{title}\n[{_provenance_label(table)}]", fontsize=10)
    fig.tight_layout()
    return fig


CAUSE_COLORS = {"matmul": "tab:blue", "elementwise": "tab:cyan", "transfer": "tab:orange",
                "latency": "tab:red", "fixed": "tab:gray", "wait": "tab:olive"}


def _breakdown_groups(table: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """Panels of the breakdown figure: GEMM and GEMV kernels at their largest grid, then
    prefill and decode per model and grid (prefill rows have no output length)."""
    ok = table[table["source"].isin(["simulated", "measured"]) & table["cores"].notna()]
    ok = ok[ok["metric"].str.startswith("cycles_") | (ok["metric"] == "cycles")]
    keys = ["system", "model", "shape", "cores", "input_len", "output_len"]
    wide = ok.pivot_table(index=keys, columns="metric", values="value", aggfunc="first",
                          dropna=False).reset_index().dropna(subset=["cycles"])
    wide = wide.dropna(subset=[c for c in wide.columns if c.startswith("cycles_")], how="all")
    if wide.empty:
        return []
    wide["side"] = wide["cores"].map(_grid_side)
    kernels = wide[wide["shape"].notna()]
    largest = kernels[kernels["side"] == kernels.groupby("shape")["side"].transform("max")]
    gemm = largest[largest["shape"].map(lambda s: not str(s).startswith("1x"))]
    gemv = largest[largest["shape"].map(lambda s: str(s).startswith("1x"))]
    models = wide[wide["model"].notna()]
    label = lambda r: f"{r['system']}\n{_size_label(r['shape'])}\n{r['cores']}"  # noqa: E731
    mlabel = lambda r: (f"{r['model']} {r['system']}\n{r['cores']}, "  # noqa: E731
                        f"in {r['input_len']:.0f}")
    out = []
    for title, rows, lab in (("GEMM kernels (largest grid)", gemm, label),
                             ("GEMV kernels (largest grid)", gemv, label),
                             ("prefill, one layer x layers", models[models["output_len"].isna()],
                              mlabel),
                             ("decode, one token x layers", models[models["output_len"].notna()],
                              mlabel)):
        if not rows.empty:
            rows = rows.sort_values(["shape", "system", "side"] if lab is label else
                                    ["model", "side"])
            out.append((title, rows.assign(label=rows.apply(lab, axis=1))))
    return out


def plot_breakdown(table: pd.DataFrame):
    """Stacked bars: each run's cycles by cause as shares of its total (total on top)."""
    groups = _breakdown_groups(table)
    if not groups:
        raise ValueError("breakdown: the table holds no cycles_<cause> rows to draw")
    fig, axes = plt.subplots(1, len(groups), figsize=(max(4.0, 0.55 * sum(
        len(g) for _, g in groups) + 2.5 * len(groups)), 5.2), squeeze=False)
    causes = list(CAUSE_COLORS)
    for ax, (title, rows) in zip(axes[0], groups, strict=True):
        x = range(len(rows))
        bottom = [0.0] * len(rows)
        for cause in causes:
            col = f"cycles_{cause}"
            part = rows[col].fillna(0) if col in rows else 0 * rows["cycles"]
            share = (part / rows["cycles"]).tolist()
            ax.bar(x, share, bottom=bottom, color=CAUSE_COLORS[cause], label=cause)
            bottom = [b + v for b, v in zip(bottom, share, strict=True)]
        for i, total in enumerate(rows["cycles"]):
            ax.text(i, 1.01, f"{total:.3g}", ha="center", va="bottom", fontsize=6, rotation=90)
        ax.set_xticks(list(x), rows["label"], fontsize=6, rotation=90)
        ax.set_ylim(0, 1.18)
        ax.set_ylabel("share of cycles (simulated; total above)")
        ax.set_title(title, fontsize=9)
    axes[0][0].legend(fontsize=7, loc="lower left")
    fig.suptitle(f"Where the time goes, by cause (simulated cost model)\n"
                 f"[{_provenance_label(table)}]", fontsize=10)
    fig.tight_layout()
    return fig


PLOTTERS = {
    "breakdown": plot_breakdown,
    "fig9": lambda t: plot_split(t, "Figure 9: MeshGEMM vs SUMMA vs Cannon",
                                 "compute_efficiency", "compute efficiency"),
    "fig10": lambda t: plot_split(t, "Figure 10: MeshGEMV vs chain-reduction GEMV",
                                  "comm_share",
                                  "comm_share: exposed communication / total cycles"),
}


def _sweep_plotter(name):
    def plot(table):
        from . import sweep_figures
        return getattr(sweep_figures, name)(table)
    return plot


PLOTTERS.update(sensitivity=_sweep_plotter("plot_sensitivity"),
                whatif=_sweep_plotter("plot_whatif"))


def render(figure_id: str, table: pd.DataFrame, outputs) -> None:
    if figure_id not in PLOTTERS:
        raise ValueError(f"no figure for {figure_id!r}; figures exist for {sorted(PLOTTERS)}")
    save(PLOTTERS[figure_id](table), outputs)


def save(fig, outputs) -> None:
    """Write a figure to each output (png, pdf, ...) atomically, then close it."""
    for out in outputs:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.stem}.tmp{out.suffix}")
        fig.savefig(tmp, dpi=150)
        os.replace(tmp, out)
    plt.close(fig)

"""Figures, each drawn only from its tidy table (results/<run>/tables/<id>.csv).

Every figure names the backend and source of its numbers in its title, so a simulated cycle
count is never mistaken for a hardware measurement, and the run its table comes from.
"""

from __future__ import annotations

import pandas as pd

from . import sweep_figures, wse3_figure
from .experiments import grid_side
from .plotting import plt, provenance_label, save

SYSTEM_COLORS = {"MeshGEMM": "tab:blue", "SUMMA": "tab:orange", "Cannon": "tab:green",
                 "MeshGEMV": "tab:blue", "chain-GEMV": "tab:red"}


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


def plot_split(table: pd.DataFrame, title: str, lower_metric: str, lower_label: str,
               computation=None, computation_label: str = "compute only"):
    """Per shape: total and compute cycles per system vs core grid (log scale), and below it
    a 0..1 share per system. `computation(rows)` gives the dotted line (default: the
    records' compute_cycles, arithmetic only); Figure 9 draws total x compute_efficiency, so
    the gap between its two lines is the communication on the critical path (§7.2)."""
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
            dotted = rows["compute_cycles"] if computation is None else computation(rows)
            top.plot(cores, dotted, ls=":", color=color,
                     label=f"{system} {computation_label}")
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
    fig.suptitle(f"{title}\n[{provenance_label(table)}]", fontsize=10)
    fig.tight_layout()
    return fig


CAUSE_COLORS = {"matmul": "tab:blue", "elementwise": "tab:cyan", "transfer": "tab:orange",
                "latency": "tab:red", "fixed": "tab:gray", "wait": "tab:olive"}


# The breakdown figure's grid: at most this many panels a row and bars a panel, panels of
# this size (inches; saved at 150 dpi: 4 panels are 1,950 px wide), fonts of at least 9 pt.
BREAKDOWN_COLUMNS = 4
BREAKDOWN_BARS = 8
BREAKDOWN_PANEL = (3.25, 0.5)  # width; height per bar (plus BREAKDOWN_PANEL_PAD)
BREAKDOWN_PANEL_PAD = 1.2
BREAKDOWN_FONT = 9


def _breakdown_groups(table: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """Panels of the breakdown figure, each with its bars' labels: GEMM then GEMV kernels at
    each shape's largest grid, one panel per shape (a bar per system); then prefill and
    decode, one panel per model and lengths (a bar per grid and schedule preset). A panel of
    more than BREAKDOWN_BARS bars is split."""
    ok = table[table["source"].isin(["simulated", "measured"]) & table["cores"].notna()]
    ok = ok[ok["metric"].str.startswith("cycles_") | (ok["metric"] == "cycles")]
    ok = ok.assign(preset=ok["preset"].fillna("").astype(str) if "preset" in ok else "")
    keys = ["system", "model", "shape", "cores", "input_len", "output_len", "preset"]
    wide = ok.pivot_table(index=keys, columns="metric", values="value", aggfunc="first",
                          dropna=False).reset_index().dropna(subset=["cycles"])
    wide = wide.dropna(subset=[c for c in wide.columns if c.startswith("cycles_")], how="all")
    if wide.empty:
        return []
    wide["side"] = wide["cores"].map(_grid_side)
    kernels = wide[wide["shape"].notna()]
    largest = kernels[kernels["side"] == kernels.groupby("shape")["side"].transform("max")]
    models = wide[wide["model"].notna()]
    panels = []
    for kind, gemv in (("GEMM", False), ("GEMV", True)):
        rows = largest[largest["shape"].map(lambda s: str(s).startswith("1x")) == gemv]
        for shape in sorted(rows["shape"].unique(), key=lambda s: [int(v) for v in
                                                                   str(s).split("x")]):
            sub = rows[rows["shape"] == shape].sort_values(["system", "preset"])
            grids = sorted(set(sub["cores"]))
            labels = [_bar_label(r, [r["system"]] + ([r["cores"]] if len(grids) > 1 else []),
                                 sub) for _, r in sub.iterrows()]
            panels.append((f"{kind} {_size_label(shape)}" +
                           (f"\non {grids[0]}" if len(grids) == 1 else ""), sub, labels))
    for kind, decode in (("prefill", False), ("decode", True)):
        rows = models[models["output_len"].notna() == decode]
        order = {m: i for i, m in enumerate(dict.fromkeys(ok["model"].dropna()))}
        rows = rows.sort_values(["model", "input_len", "output_len"],
                                key=lambda c: c.map(order) if c.name == "model" else c)
        for (model, inp, outp), sub in rows.groupby(["model", "input_len", "output_len"],
                                                   dropna=False, sort=False):
            sub = sub.sort_values(["side", "system", "preset"])
            lengths = f"{inp:.0f} + {outp:.0f} tokens" if decode else f"{inp:.0f}-token prompt"
            systems = set(sub["system"])
            labels = [_bar_label(r, [r["cores"]] + ([r["system"]] if len(systems) > 1
                                                    else []), sub) for _, r in sub.iterrows()]
            panels.append((f"{kind} {model}\n{lengths}", sub, labels))
    out = []
    for title, rows, labels in panels:
        for i in range(0, len(rows), BREAKDOWN_BARS):
            part = "" if len(rows) <= BREAKDOWN_BARS else f" ({i // BREAKDOWN_BARS + 1})"
            chunk = rows.iloc[i:i + BREAKDOWN_BARS]
            out.append((title + part, chunk.assign(label=labels[i:i + BREAKDOWN_BARS])))
    return out


def _bar_label(row, parts: list, panel: pd.DataFrame) -> str:
    """A bar's label: the parts that tell it from the panel's other bars, and its schedule
    preset where the panel holds more than one."""
    if panel["preset"].nunique() > 1 and row["preset"]:
        parts = parts + [row["preset"]]
    return "\n".join(str(p) for p in parts)


def _cycles_label(total: float) -> str:
    """1.56e+08 -> 1.56e8: a bar's total, short enough to sit beside it."""
    mantissa, _, exp = f"{total:.3g}".partition("e")
    return f"{mantissa}e{int(exp)}" if exp else mantissa


def plot_breakdown(table: pd.DataFrame):
    """Horizontal stacked bars, one panel per kernel shape or model workload (at most
    BREAKDOWN_COLUMNS a row): each run's cycles by cause as shares of its total (the total
    beside the bar)."""
    groups = _breakdown_groups(table)
    if not groups:
        raise ValueError("breakdown: the table holds no cycles_<cause> rows to draw")
    ncols = min(BREAKDOWN_COLUMNS, len(groups))
    nrows = -(-len(groups) // ncols)
    width, per_bar = BREAKDOWN_PANEL
    heights = [BREAKDOWN_PANEL_PAD + per_bar * max(len(g) for _, g in
                                                   groups[r * ncols:(r + 1) * ncols])
               for r in range(nrows)]
    fig, axes = plt.subplots(nrows, ncols, squeeze=False, layout="constrained",
                             figsize=(width * ncols, sum(heights) + 1.2),
                             gridspec_kw={"height_ratios": heights})
    font = BREAKDOWN_FONT
    causes = list(CAUSE_COLORS)
    for ax, (title, rows) in zip(list(axes.flat)[:len(groups)], groups, strict=True):
        y = list(range(len(rows)))
        left = [0.0] * len(rows)
        for cause in causes:
            col = f"cycles_{cause}"
            part = rows[col].fillna(0) if col in rows else 0 * rows["cycles"]
            share = (part / rows["cycles"]).tolist()
            ax.barh(y, share, left=left, color=CAUSE_COLORS[cause], label=cause, height=0.7)
            left = [b + v for b, v in zip(left, share, strict=True)]
        for i, total in enumerate(rows["cycles"]):
            ax.text(1.03, i, _cycles_label(total), va="center", ha="left", fontsize=font)
        ax.set_yticks(y, rows["label"], fontsize=font)
        ax.set_ylim(len(rows) - 0.5, -0.5)  # first bar on top
        ax.set_xlim(0, 1.5)
        ax.set_xticks([0, 0.5, 1], ["0", "0.5", "1"], fontsize=font)
        ax.set_xlabel("share of cycles", fontsize=font)
        ax.set_title(title, fontsize=font + 1)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    for ax in list(axes.flat)[len(groups):]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(causes),
               fontsize=font + 1, frameon=False)
    fig.suptitle("Where the time goes, by cause (simulated cost model; beside each bar: its "
                 f"total cycles)\n[{provenance_label(table)}]", fontsize=font + 2)
    return fig


PLOTTERS = {
    "breakdown": plot_breakdown,
    "fig9": lambda t: plot_split(
        t, "Figure 9: MeshGEMM vs SUMMA vs Cannon", "compute_efficiency",
        "compute efficiency: 1 - communication / total (§7.2)",
        computation=lambda rows: rows["cycles"] * rows["compute_efficiency"],
        computation_label="computation"),
    "fig10": lambda t: plot_split(t, "Figure 10: MeshGEMV vs chain-reduction GEMV",
                                  "comm_share",
                                  "comm_share: exposed communication / total cycles"),
    "sensitivity": sweep_figures.plot_sensitivity,
    "whatif": sweep_figures.plot_whatif,
    "wse3": wse3_figure.plot,
}


def render(figure_id: str, table: pd.DataFrame, outputs) -> None:
    if figure_id not in PLOTTERS:
        raise ValueError(f"no figure for {figure_id!r}; figures exist for {sorted(PLOTTERS)}")
    save(PLOTTERS[figure_id](table), outputs)


"""The wse3 figure, drawn only from its table (waferrepro.wse3): predicted vs measured, and
the model's cycles vs P per shape family."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .experiments import parse_dims
from .plotting import plt, provenance_label

FAMILY_MARKERS = "osD^v<>Ph*"


def family(row) -> str:
    """A point's shape family: MeshGEMV by group_num, MeshGEMM by its tile's Mt (M / P) where
    every dimension is a multiple of P (the benchmark's matrix); any other GEMM point is a
    family of its own. From the row alone: the figure needs no config."""
    if row["system"] == "MeshGEMV":
        return f"MeshGEMV group_num {int(row['group_num'])}"
    p = parse_dims(row["cores"], 2, "core grid")[1]
    dims = parse_dims(row["shape"], 3, "shape")
    if all(d % p == 0 for d in dims):
        return f"MeshGEMM Mt = {dims[0] // p}"
    return f"MeshGEMM {row['shape']} on {row['cores']}"


def plot(table):
    """Predicted vs measured (log-log, 1:1 and +-15%, one marker per family, colour by grid),
    then cycles vs P: MeshGEMV one panel per group_num, MeshGEMM one per Mt, a line per
    (Kt, Nt) tile, the measured values as hollow markers on them."""
    sim = table[(table["source"] == "simulated") & table["value"].notna()].copy()
    if sim.empty:
        raise ValueError("wse3: the table holds no simulated values to draw")
    sim["family"] = [family(r) for r in sim.to_dict("records")]
    sim["P"] = [parse_dims(c, 2, "core grid")[1] for c in sim["cores"]]
    dims = [parse_dims(s, 3, "shape") for s in sim["shape"]]
    sim["tile"] = [f"{k // p}x{n // p}" for (m, k, n), p in zip(dims, sim["P"], strict=True)]
    gemv = sorted(sim.loc[sim["system"] == "MeshGEMV", "group_num"].dropna().unique())
    mts = sorted({int(f.rsplit(" ", 1)[1]) for f in sim["family"]
                  if f.startswith("MeshGEMM Mt = ")})
    panels = 1 + len(gemv) + len(mts)
    cols = min(4, panels)
    rows_n = math.ceil(panels / cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(5.2 * cols, 4.4 * rows_n + 0.8),
                             squeeze=False, layout="constrained")
    flat = list(axes.flat)

    ax = flat[0]
    pairs = sim[sim["measured"].notna()]
    families = list(dict.fromkeys(sorted(sim["family"])))
    grids = sorted(pairs["P"].unique())
    for fam in families:
        rows = pairs[pairs["family"] == fam]
        if rows.empty:
            continue
        err = (rows["value"] / rows["measured"] - 1).abs().mean() * 100
        marker = FAMILY_MARKERS[families.index(fam) % len(FAMILY_MARKERS)]
        for p in grids:
            at = rows[rows["P"] == p]
            ax.scatter(at["measured"], at["value"], marker=marker, s=18, alpha=0.8,
                       color=f"C{grids.index(p)}", edgecolors="none")
        ax.scatter([], [], marker=marker, color="gray",
                   label=f"{fam}: {len(rows)}, mean |err| {err:.0f}%")
    for p in grids:  # colour legend as lines: every marker shape is a family's
        ax.plot([], [], color=f"C{grids.index(p)}", lw=4, label=f"P = {p}")
    if not pairs.empty:
        lo = min(pairs["measured"].min(), pairs["value"].min()) / 1.5
        hi = max(pairs["measured"].max(), pairs["value"].max()) * 1.5
        line = np.array([lo, hi])
        ax.plot(line, line, color="black", lw=0.8, label="1:1")
        for f in (0.85, 1.15):
            ax.plot(line, f * line, color="black", lw=0.6, ls="--",
                    label="\u00b115%" if f > 1 else None)
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("measured cycles (CS-3, training-wse3.csv)")
    ax.set_ylabel("predicted cycles (meshsim, simulated)")
    ax.set_title(f"predicted vs measured: {len(pairs)} points (marker: family, colour: P)",
                 fontsize=9)
    # Below the panels, not over the points: where they fall is what the figure shows.
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(6, len(labels)),
               fontsize=7, frameon=False)

    def lines(ax, rows, title):
        tiles = sorted(rows["tile"].unique(), key=lambda t: [int(v) for v in t.split("x")])
        cmap = plt.get_cmap("tab20")
        for i, tile in enumerate(tiles):
            line = rows[rows["tile"] == tile].sort_values("P")
            color = cmap(i % 20)
            ax.plot(line["P"], line["value"], color=color, lw=0.9, marker=".", ms=3,
                    label=f"Kt x Nt {tile}")
            meas = line[line["measured"].notna()]
            ax.scatter(meas["P"], meas["measured"], facecolors="none", edgecolors=color, s=20)
        ax.set_yscale("log")
        ax.set_xlabel("P (P x P cores)")
        ax.set_ylabel("cycles (simulated; hollow: measured)")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=5, ncol=2)

    i = 1
    for g in gemv:
        lines(flat[i], sim[(sim["system"] == "MeshGEMV") & (sim["group_num"] == g)],
              f"MeshGEMV 1xKxN, group_num {int(g)}")
        i += 1
    for mt in mts:
        lines(flat[i], sim[sim["family"] == f"MeshGEMM Mt = {mt}"],
              f"MeshGEMM MxKxN, Mt = M / P = {mt}")
        i += 1
    for ax in flat[panels:]:
        ax.set_visible(False)
    skipped = int((table["source"] == "skipped").sum())
    fig.suptitle("WSE-3: the authors' MeshGEMM and MeshGEMV, model cycles (simulated) vs "
                 "CS-3 measurements (measured: results/reference/training-wse3.csv)"
                 + (f"; {skipped} point(s) skipped (plan does not fit)" if skipped else "")
                 + f"\n[{provenance_label(pd.DataFrame(table))}]", fontsize=10)
    return fig

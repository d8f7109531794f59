"""The scorecard figure: every reproduced number against its published value (log axes); the
title counts agreements (within +-DEFAULT_TOLERANCE); training points (`fitted`) are drawn
apart and never counted."""

from __future__ import annotations

import numpy as np

from ..plotting import plt, save
from .verdicts import DEFAULT_TOLERANCE, run_of

MARKERS = ["o", "s", "^", "v", "D", "P", "X", "*"]
COLORS = {"simulated": "tab:blue", "measured": "tab:orange"}


def draw(card):
    numbers = card[card["kind"] == "number"]
    rows = numbers[numbers["verdict"].isin(["agrees", "disagrees"])]
    fitted = numbers[numbers["verdict"] == "fitted"]
    drawn = numbers[numbers["verdict"].isin(["agrees", "disagrees", "fitted"])]
    fig, ax = plt.subplots(figsize=(6.4, 5.8))
    values = np.concatenate([drawn["published"].to_numpy(float),
                             drawn["reproduced"].to_numpy(float)]) if len(drawn) else np.array([])
    lo, hi = (values.min() / 3, values.max() * 3) if len(values) else (1e-3, 1e3)
    xs = np.logspace(np.log10(lo), np.log10(hi), 100)
    tol = DEFAULT_TOLERANCE
    ax.fill_between(xs, xs * (1 - tol), xs * (1 + tol), color="0.85",
                    label=f"±{tol:.0%} (agreement)")
    ax.plot(xs, xs, color="k", lw=1, label="y = x (reproduced = published)")
    for i, table in enumerate(sorted(rows["table"].unique())):
        for source, sub in rows[rows["table"] == table].groupby("source"):
            color = COLORS.get(source, "tab:gray")
            x, y = sub["published"].to_numpy(float), sub["reproduced"].to_numpy(float)
            ax.scatter(x, y, marker=MARKERS[i % len(MARKERS)], s=46, zorder=3,
                       facecolors="none" if source == "simulated" else color, edgecolors=color,
                       label=f"{table} ({source})")
            band = sub[sub["low"].notna() & sub["high"].notna()]
            if len(band):  # the reproduced value's own uncertainty band, where it has one
                by = band["reproduced"].to_numpy(float)
                ax.errorbar(band["published"].to_numpy(float), by, fmt="none", ecolor=color,
                            yerr=[by - band["low"].to_numpy(float),
                                  band["high"].to_numpy(float) - by])
    if len(fitted):  # the calibration was fitted to these: shown, not counted
        ax.scatter(fitted["published"].to_numpy(float), fitted["reproduced"].to_numpy(float),
                   marker="x", s=46, zorder=3, color="tab:gray",
                   label="training point (fitted, not counted)")
    if drawn.empty:
        ax.text(0.5, 0.5, "no published number has a reproduced\ncounterpart in this run",
                ha="center", va="center", transform=ax.transAxes)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("published (paper), in the row's unit")
    ax.set_ylabel("reproduced (this run), same unit")
    ax.legend(fontsize=7, loc="upper left")
    n_agree = int((rows["verdict"] == "agrees").sum())
    run = run_of(card)
    extra = f"; {len(fitted)} fitted (training points, not counted)" if len(fitted) else ""
    ax.set_title(f"Scorecard{f' of run {run}' if run else ''}: reproduced vs published\n"
                 f"{n_agree} of {len(rows)} agree within ±{tol:.0%}{extra}\n"
                 "hollow = simulated (meshsim cost model, not measured); filled = measured",
                 fontsize=9)
    fig.tight_layout()
    return fig


def render(card, outputs) -> None:

    save(draw(card), outputs)

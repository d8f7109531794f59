"""The report's front page (reStructuredText): the scorecard's counts, its figure, the claims with
their verdicts, then each table's published values beside this run's.

Snakemake renders this file as the report's workflow description (the page it opens on); the
Snakefile points `report:` at it once `snakemake scorecard` has written it.
"""

from __future__ import annotations

import base64
import os
import textwrap
from pathlib import Path

from ..published import KEYS, norm
from .verdicts import DEFAULT_TOLERANCE, context_text, counts, in_band_text, run_of

# Snakemake's report centers its front page vertically in a narrow column, which clips a page
# longer than the window at the top; start it at the top and let it use the width.
LAYOUT = [".. raw:: html", "",
          "   <style>div.h-screen.overflow-auto.items-center {align-items: flex-start;}",
          "   div.prose.max-w-lg {max-width: 60rem;}</style>"]


def _cell(text) -> str:
    """One list-table cell: one line, no reST markup, nothing Jinja would read."""
    text = " ".join(str(text).split())
    for ch in "*`|_{}#":
        text = text.replace(ch, " " if ch in "{}#" else f"\\{ch}")
    return text or "-"


def _list_table(title: str, header: list[str], rows: list[list], widths: list[int]) -> list[str]:
    lines = [f".. list-table:: {title}", "   :header-rows: 1",
             f"   :widths: {' '.join(map(str, widths))}", ""]
    for row in [header, *rows]:
        lines.append(f"   * - {_cell(row[0])}")
        lines += [f"     - {_cell(c)}" for c in row[1:]]
    return lines + [""]


def _num(v) -> str:
    return f"{float(v):.4g}" if norm(v) else "-"


def _reproduced(row) -> str:
    if row.verdict in ("pending", "context"):
        return f"{row.verdict}: {row.detail}"
    return f"{_num(row.reproduced)} ({row.detail})"


def _in_band(row) -> str:
    return f"{row.in_band} ({row.band})" if norm(row.in_band) else "-"


def front_page(card, figure_png: str | None = None, intro: str = "") -> str:
    c = counts(card)
    run = run_of(card)
    title = f"WaferLLM reproduction, run {run}: scorecard" if run else \
        "WaferLLM reproduction: scorecard"
    lines = [title, "=" * len(title), "", *LAYOUT, ""]
    if intro:
        lines += [intro.strip(), ""]
    lines += ["Summary", "-------", "",
              f"- Claims: **{c['holds']} holds**, **{c['fails']} fails**, "
              f"**{c['fitted claims']} fitted**, **{c['pending claims']} pending**",
              f"- Published numbers: **{c['agrees']} agree**, **{c['disagrees']} disagree**, "
              f"**{c['fitted numbers']} fitted**, **{c['pending numbers']} pending** "
              f"(agreement: reproduced within ±{DEFAULT_TOLERANCE:.0%} of the published value; "
              f"{in_band_text(c)})",
              "- Fitted: a training point of the calibration (results/reference/training.csv "
              "and training-wse3.csv); "
              "the model was fitted to it, so it is shown but never counted as agreement.",
              f"- C{context_text(c)[1:]}.",
              "- Simulated numbers come from the meshsim cost model, not from a wafer; "
              "pending rows say what a run needs (a GPU, the Cerebras SDK).",
              f"- All rows: ``results/{run or '<run>'}/tables/scorecard.csv`` (category "
              "Scorecard); the tidy tables: category Tables.", ""]
    if figure_png and Path(figure_png).exists():
        # Inlined (the report is one file); split into short lines, which the image directive
        # joins again (docutils refuses input lines over 10,000 characters).
        data = base64.b64encode(Path(figure_png).read_bytes()).decode()
        lines += [".. image:: data:image/png;base64,",
                  *("   " + line for line in textwrap.wrap(data, 76)),
                  "   :alt: scorecard figure", "   :width: 100%", ""]
    claims = card[card["kind"] == "claim"]
    lines += ["Claims", "------", ""]
    lines += _list_table("The paper's claims on this run", ["claim", "where", "verdict",
                                                            "measured / missing"],
                         [[r.item, r.location, r.verdict + (f" ({r.source})" if norm(r.source)
                                                             else ""), r.detail]
                          for r in claims.itertuples()], [30, 15, 10, 45])
    numbers = card[card["kind"] == "number"]
    lines += ["Published beside reproduced", "---------------------------", ""]
    for table_id, rows in numbers.groupby("table", sort=True):
        where = rows["location"].iloc[0].split(",")[0]
        lines += [f"{where} ({table_id})", "~" * (len(where) + len(table_id) + 3), ""]
        body = [[" ".join(norm(getattr(r, k)) for k in ("system", *KEYS) if norm(getattr(r, k))),
                 f"{_num(r.published)} {r.unit}", _reproduced(r),
                 _num(r.ratio), r.verdict, _in_band(r)] for r in rows.itertuples()]
        lines += _list_table(f"{where}: published vs this run",
                             ["what", "published", "reproduced", "ratio", "verdict", "in band"],
                             body, [28, 12, 34, 8, 9, 9])
    return "\n".join(lines) + "\n"


def write_front_page(card, out: str | os.PathLike, figure: str | None = None,
                     intro_path: str | None = None) -> None:
    intro = Path(intro_path).read_text() if intro_path and Path(intro_path).exists() else ""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(front_page(card, figure, intro))
    os.replace(tmp, out)

"""What every figure module shares: matplotlib on a file backend (figures are written, never
shown; set before pyplot is imported), the provenance label each figure's title carries, and
the atomic write of a figure's files."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

__all__ = ["plt", "provenance_label", "save"]


def provenance_label(table: pd.DataFrame) -> str:
    """The run(s), and each backend with its source, of a table's rows."""
    pairs = sorted({f"{b}, {s}" for b, s in zip(table["backend"], table["source"], strict=True)})
    runs = sorted(set(table["run"].dropna().astype(str)) - {""}) if "run" in table else []
    return "; ".join(([f"run {', '.join(runs)}"] if runs else []) + pairs)


def save(fig, outputs, dpi: int = 150) -> None:
    """Write a figure to each output (png, pdf, ...) atomically (a failed write keeps the
    previous file), then close it."""
    for out in outputs:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.stem}.tmp{out.suffix}")
        fig.savefig(tmp, dpi=dpi)
        os.replace(tmp, out)
    plt.close(fig)

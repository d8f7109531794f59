"""What every figure module shares: matplotlib on a file backend (figures are written, never
shown; set before pyplot is imported) and the provenance label each figure's title carries."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

__all__ = ["plt", "provenance_label"]


def provenance_label(table: pd.DataFrame) -> str:
    """The run(s), and each backend with its source, of a table's rows."""
    pairs = sorted({f"{b}, {s}" for b, s in zip(table["backend"], table["source"], strict=True)})
    runs = sorted(set(table["run"].dropna().astype(str)) - {""}) if "run" in table else []
    return "; ".join(([f"run {', '.join(runs)}"] if runs else []) + pairs)

"""Figures draw the metrics they name, from the tidy table (issue 12: Fig. 10's lower panel)."""

import numpy as np
import pandas as pd
import pytest

from waferrepro import figures, tables
from waferrepro.hardware import WSE2
from waferrepro.jobs.meshsim import run_meshsim


@pytest.fixture(scope="module")
def fig10_table():
    rows = []
    for system in ("MeshGEMV", "chain-GEMV"):
        for p in (4, 8):
            rec = run_meshsim(system, "1x256x256", f"{p}x{p}", WSE2, "cycle-model")
            rows += tables.rows_from_record("fig10", rec)
    return pd.DataFrame(rows, columns=tables.COLUMNS)


def test_kernel_records_carry_comm_share(fig10_table):
    wide = fig10_table.pivot_table(index=["system", "cores"], columns="metric", values="value")
    assert np.allclose(wide["comm_share"], wide["comm_cycles"] / wide["cycles"])
    assert ((wide["comm_share"] > 0) & (wide["comm_share"] < 1)).all()


def test_fig10_lower_panel_plots_comm_share(fig10_table):
    fig = figures.PLOTTERS["fig10"](fig10_table)
    lower = fig.axes[1]
    assert "comm_share" in lower.get_ylabel()
    plotted = sorted(float(y) for line in lower.get_lines() for y in line.get_ydata())
    expected = sorted(fig10_table.loc[fig10_table["metric"] == "comm_share", "value"])
    assert plotted == pytest.approx(expected)


def test_a_missing_metric_fails_by_name(fig10_table):
    without = fig10_table[fig10_table["metric"] != "comm_share"]
    with pytest.raises(ValueError, match="'comm_share' missing"):
        figures.PLOTTERS["fig10"](without)

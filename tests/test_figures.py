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


def _breakdown_table(config: dict) -> pd.DataFrame:
    """A breakdown table of a config's breakdown jobs (made-up cycles, as its rows are
    shaped): the layout, not the numbers, is under test."""
    from waferrepro.experiments import breakdown_jobs
    from waferrepro.meshsim.cost import CAUSES

    rows = []
    for i, job in enumerate(breakdown_jobs(config, "meshsim")):
        d = job.__dict__
        base = {"id": "breakdown", "system": d.get("system", "WaferLLM"), "backend": "meshsim",
                "model": d.get("model"), "shape": d.get("shape"), "cores": d["cores"],
                "input_len": d.get("input_len"), "output_len": d.get("output_len"),
                "source": "simulated", "preset": d.get("preset"), "run": "paper"}
        parts = {c: float(1 + (i * 7 + k) % 5) * 10 ** (5 + i % 4) for k, c in enumerate(CAUSES)}
        rows.append({**base, "metric": "cycles", "value": sum(parts.values())})
        rows += [{**base, "metric": f"cycles_{c}", "value": v} for c, v in parts.items()]
    return pd.DataFrame(rows)


def test_breakdown_is_a_legible_grid_of_panels(repo, tmp_path):
    # The paper config's breakdown (134 runs; was one row of 4 panels, 4,635 px wide, 6 pt
    # labels): at most 4 panels a row, under 2,000 px wide, no text under 9 pt, and the
    # decode / prefill runs of both schedule presets each a bar of their own.
    import yaml
    from PIL import Image

    config = yaml.safe_load((repo / "config/config.yaml").read_text())
    table = _breakdown_table(config)
    groups = figures._breakdown_groups(table)
    assert all(len(rows) <= figures.BREAKDOWN_BARS for _, rows in groups)
    bars = sum(len(rows) for title, rows in groups if title.startswith(("decode", "prefill")))
    assert bars == len(table[(table["metric"] == "cycles") & table["model"].notna()])
    decode_8b = next(rows for title, rows in groups if title.startswith("decode llama3-8b"))
    assert list(decode_8b["label"])[:2] == ["420x420\nfull-model", "420x420\npaper-kernels"]
    fig = figures.plot_breakdown(table)
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert len(shown) == len(groups)
    assert len({round(ax.get_position().x0, 3) for ax in shown}) <= 4
    sizes = [t.get_fontsize() for ax in shown for t in ax.get_yticklabels() + ax.texts]
    assert min(sizes) >= 9
    png = tmp_path / "breakdown.png"
    figures.save(fig, [png])
    width, height = Image.open(png).size
    assert 1600 <= width <= 2000, (width, height)


def test_fig9_plots_the_papers_compute_efficiency_and_computation():
    # Fig. 9 (§7.2): the lower panel is compute_efficiency, the dotted line its computation
    # (total x efficiency), so the gap between the lines is the critical-path communication.
    rows = []
    for system in ("MeshGEMM", "SUMMA", "Cannon"):
        for p in (4, 8):
            rec = run_meshsim(system, "64x64x64", f"{p}x{p}", WSE2, "cycle-model",
                              preset="paper-kernels")
            rows += tables.rows_from_record("fig9", rec)
    table = pd.DataFrame(rows, columns=tables.COLUMNS)
    fig = figures.PLOTTERS["fig9"](table)
    top, lower = fig.axes[0], fig.axes[1]
    assert "compute efficiency" in lower.get_ylabel()
    wide = table.pivot_table(index=["system", "cores"], columns="metric", values="value")
    plotted = sorted(float(y) for line in lower.get_lines() for y in line.get_ydata())
    assert plotted == pytest.approx(sorted(wide["compute_efficiency"]))
    dotted = sorted(float(y) for line in top.get_lines() if line.get_linestyle() == ":"
                    for y in line.get_ydata())
    assert dotted == pytest.approx(sorted(wide["cycles"] * wide["compute_efficiency"]))

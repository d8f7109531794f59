"""The `wse3` target (issue 23, part 3): the model's cycles for the authors' WSE-3 benchmark
matrix, the CS-3 measurements beside them, and the figure."""

import math
import subprocess

import pandas as pd
import pytest
import yaml

from waferrepro import cli, experiments, tables, wse3, wse3_figure
from waferrepro.hardware_profiles import get_hardware
from waferrepro.jobs.meshsim import run_meshsim

REDUCED = {"wse3": {"grids": [8, 16], "gemm_multiples": [1, 2], "gemv_multiples": [1],
                    "group_nums": [2, 4],
                    # 1024 x 1024 fp16 tiles a core: more than its SRAM, a row with the reason
                    "gemm_shapes": [{"grid": 4, "shape": "4096x4096x4096"}]},
           "functional_limits": {"max_cores": 64}, "hardware_profile": "calibrated"}


@pytest.fixture(scope="module")
def reduced(repo):
    return wse3.table(REDUCED, repo / wse3.MEASURED_CSV, progress=None)


def test_paper_matrix_is_the_authors_benchmark(repo):
    config = yaml.safe_load((repo / "config/config.yaml").read_text())
    spec = wse3.spec_of(config)
    jobs = wse3.matrix(spec)
    assert spec["grids"] == list(range(16, 721, 64))
    assert len(jobs) == 12 * (64 + 48) + 1 == 1345
    for p in spec["grids"]:
        on = [j for j in jobs if j.cores == f"{p}x{p}"]
        assert sum(j.system == "MeshGEMM" for j in on) == 64
        gemv = [j for j in on if j.system == "MeshGEMV"]
        assert len(gemv) == 48 and {j.group_num for j in gemv} == {2, 4, 8}
    assert [j for j in jobs if j.cores == "64x64"][0].shape == "1024x1024x1024"
    # every measurement has its point
    keys = {wse3._key(j.system, j.shape, j.cores, j.group_num) for j in jobs}
    measured = wse3.measurements(repo / wse3.MEASURED_CSV)
    assert len(measured) == 337 and set(measured) <= keys


def test_schema_defaults_are_the_authors_benchmark(repo):
    schema = yaml.safe_load((repo / "src/waferrepro/schemas/config.schema.yaml").read_text())
    props = schema["properties"]["wse3"]["properties"]
    assert {k: props[k]["default"] for k in wse3.DEFAULTS} == wse3.DEFAULTS
    limits = schema["properties"]["functional_limits"]["properties"]
    assert {k: v["default"] for k, v in limits.items()} == experiments.FUNCTIONAL_LIMITS


def test_reduced_table_has_every_column_bands_and_measured_pairs(repo, reduced):
    assert list(reduced.columns) == tables.OUTPUT_COLUMNS + ["group_num", "measured"]
    assert len(reduced) == 2 * (8 + 2) + 1
    assert set(reduced["id"]) == {"wse3"} and set(reduced["backend"]) == {"meshsim"}
    assert set(reduced["metric"]) == {"cycles"} and set(reduced["preset"]) == {"paper-kernels"}
    sim = reduced[reduced["source"] == "simulated"]
    assert len(sim) == len(reduced) - 1
    assert ((sim["low"] <= sim["value"]) & (sim["value"] <= sim["high"])).all()
    assert (sim["low"] < sim["high"]).all()
    # 8x8 (64 cores) within functional_limits: checked against NumPy; 16x16 the cycle model
    small, large = sim[sim["cores"] == "8x8"], sim[sim["cores"] == "16x16"]
    assert small["note"].str.startswith("functional; numeric check passed").all()
    assert large["note"].str.startswith("cycle-model; numeric check not performed").all()
    assert sim["note"].str.contains("simulated by meshsim").all()
    # the plan that does not fit is kept, with the reason
    (skipped,) = reduced[reduced["source"] == "skipped"].to_dict("records")
    assert skipped["shape"] == "4096x4096x4096" and math.isnan(skipped["value"])
    assert "plan does not fit" in skipped["note"]
    # the measured value beside every point that has one (16x16), as the file has it
    measured = wse3.measurements(repo / wse3.MEASURED_CSV)
    for row in reduced.to_dict("records"):
        key = wse3._key(row["system"], row["shape"], row["cores"],
                        None if pd.isna(row["group_num"]) else row["group_num"])
        if key in measured:
            assert row["measured"] == measured[key]["value"]
            assert measured[key]["id"] in row["note"]
        else:
            assert pd.isna(row["measured"])
    assert large["measured"].notna().all() and small["measured"].isna().all()
    assert set(reduced.loc[reduced["system"] == "MeshGEMV", "group_num"]) == {2, 4}
    assert reduced.loc[reduced["system"] == "MeshGEMM", "group_num"].isna().all()


def test_values_are_the_records(reduced):
    hw = get_hardware("wse3")
    for system, shape, group_num in [("MeshGEMV", "1x16x16", 4), ("MeshGEMM", "16x32x16", None)]:
        record = run_meshsim(system, shape, "16x16", hw, "cycle-model", group_num=group_num)
        cycles = next(m for m in record["metrics"] if m["metric"] == "cycles")["value"]
        row = reduced[(reduced["shape"] == shape) & (reduced["cores"] == "16x16")
                      & (reduced["group_num"].fillna(0) == (group_num or 0))]
        # the fast path multiplies a repeat where the record adds its steps
        assert row["value"].tolist() == pytest.approx([cycles], rel=1e-12)


def test_two_workers_give_the_same_table(repo, reduced):
    both = wse3.table(REDUCED, repo / wse3.MEASURED_CSV, workers=2, progress=None)
    pd.testing.assert_frame_equal(both, reduced)


def test_progress_says_how_far(repo):
    lines = []
    wse3.table({**REDUCED, "wse3": {**REDUCED["wse3"], "gemm_shapes": []}},
               repo / wse3.MEASURED_CSV, progress=lines.append)
    assert lines[0].startswith("wse3: 20 points on 2 grids")
    assert any("20/20 after" in line for line in lines)
    assert "10 with their measured value" in lines[-1]


def test_figure_draws_pairs_and_families(reduced, tmp_path):
    from waferrepro import figures

    table = reduced.assign(run="test-run")
    fig = wse3_figure.plot(table)
    shown = [ax for ax in fig.axes if ax.get_visible()]
    # predicted vs measured; MeshGEMV per group_num (2, 4); MeshGEMM per Mt (1, 2)
    assert len(shown) == 5
    assert shown[0].get_xscale() == shown[0].get_yscale() == "log"
    title = fig._suptitle.get_text()
    assert "run test-run" in title and "meshsim, simulated" in title and "measured" in title
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "1:1" in labels and "\u00b115%" in labels
    # one entry per family with its paired points (16x16: one GEMV shape a group_num)
    assert any(t.startswith("MeshGEMV group_num 4: 1,") for t in labels), labels
    assert any(t.startswith("MeshGEMM Mt = 2: 4,") for t in labels), labels
    figures.render("wse3", table, [tmp_path / "w.png", tmp_path / "w.pdf"])
    assert (tmp_path / "w.png").stat().st_size > 10_000
    assert (tmp_path / "w.pdf").read_bytes()[:4] == b"%PDF"


def test_cli_failure_is_one_line_and_keeps_the_previous_table(repo, tmp_path, capsys):
    out = tmp_path / "wse3.csv"
    out.write_text("previous\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("id,value\nx,1\n")
    config = '{"wse3": {"grids": [16], "gemm_multiples": [1], "gemv_multiples": [1]}}'
    cases = [
        (["--config", config, "--measured", str(bad)], "bad.csv: missing column(s)"),
        (["--config", "{not json"], "--config: not a JSON object"),
        (["--config", "{}"], "no `wse3:` section"),
        (["--config", '{"wse3": {"grids": [16], "group_nums": [5]}}'],
         "wse3/group_nums/0 (grid 16x16): 5 does not fit"),
        (["--config", config, "--workers", "0"], "--workers: 0"),
    ]
    for argv, words in cases:
        assert cli.main(["wse3", *argv, "--out", str(out)]) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and words in err, err
        assert out.read_text() == "previous\n" and not list(tmp_path.glob(".*.tmp"))


@pytest.mark.workflow
def test_wse3_target_on_the_smoke_config(repo, tmp_path, snakemake_cmd):
    work = tmp_path / "run"
    res = subprocess.run([*snakemake_cmd, "wse3", "-s", str(repo / "Snakefile"), "--directory",
                          str(work), "--configfile", str(repo / "config/smoke.yaml"),
                          "--cores", "2"], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "wse3: 32 rows, 32 with their measured value" in res.stdout + res.stderr
    table = tables.read_csv(work / "results/smoke/tables/wse3.csv")
    assert list(table.columns) == tables.OUTPUT_COLUMNS + ["group_num", "measured"]
    assert len(table) == 32 and set(table["source"]) == {"simulated"}
    assert set(table["run"]) == {"smoke"} and table["measured"].notna().all()
    assert table[["low", "high"]].notna().all().all()
    modes = set(table["note"].str.split(";").str[0])
    assert modes == {"functional", "cycle-model"}
    for suffix in ("png", "pdf"):
        assert (work / f"figures/smoke/wse3.{suffix}").stat().st_size > 10_000

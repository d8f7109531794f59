import pandas as pd
import pytest

from waferrepro import cli, meshsim, records, tables
from waferrepro.meshsim import gemv


# One wrong element: +1.0 is far outside fp32's 1e-3 of the output's magnitude (about 28
# here); fp16 accumulation allows 8 * 2^-11 * sqrt(128) = 4.4% of it (1.2), so +3.0 there.
@pytest.mark.parametrize("preset,error", [("full-model", 1.0), ("paper-kernels", 3.0)])
def test_numeric_mismatch_fails_the_job(tmp_path, monkeypatch, capsys, preset, error):
    def wrong_gemv(hw, shape, px, py, inputs=None, **schedule):
        run = gemv.run_gemv(hw, shape, px, py, inputs, tree_levels=2, system="MeshGEMV",
                            **schedule)
        if run.output is not None:
            run.output[0, 5] += error
        return run

    monkeypatch.setitem(meshsim.SYSTEMS, "MeshGEMV", wrong_gemv)
    out = tmp_path / "r.json"
    rc = cli.main(["run", "--system", "MeshGEMV", "--shape", "1x128x128", "--cores", "4x4",
                   "--preset", preset,
                   "--out", str(out)])
    assert rc == 1 and not out.exists()
    assert "differs from the NumPy reference" in capsys.readouterr().err


def test_run_table_figure(tmp_path, repo):
    recs = []
    for system in ("MeshGEMV", "chain-GEMV"):
        for grid in ("4x4", "8x8"):
            path = tmp_path / f"{system}_{grid}.json"
            assert cli.main(["run", "--system", system, "--shape", "1x512x512", "--cores", grid,
                             "--out", str(path)]) == 0
            recs.append(str(path))
    csv = tmp_path / "fig10.csv"
    assert cli.main(["table", "--id", "fig10", "--out", str(csv),
                     "--reference", str(repo / "results/reference/published.csv"), *recs]) == 0
    table = tables.read_csv(csv)
    # MeshGEMV's records say which group_num ran (the authors' default): the column follows
    assert list(table.columns) == tables.OUTPUT_COLUMNS + [tables.GROUP_COLUMN]
    assert set(table["source"]) == {"simulated"} and set(table["backend"]) == {"meshsim"}
    assert (table.groupby(["system", "cores"])["metric"].apply(lambda m: "cycles" in set(m))).all()
    png, pdf = tmp_path / "f.png", tmp_path / "f.pdf"
    assert cli.main(["figure", "--id", "fig10", "--table", str(csv), "--out", str(png),
                     str(pdf)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG" and pdf.read_bytes()[:4] == b"%PDF"


def test_table_includes_published_reference(tmp_path, repo):
    csv = tmp_path / "t6.csv"
    rec = tmp_path / "r.json"
    cli.main(["run", "--system", "MeshGEMV", "--shape", "1x16384x16384", "--cores", "720x720",
              "--mode", "cycle-model", "--out", str(rec)])
    cli.main(["table", "--id", "table6", "--out", str(csv),
              "--reference", str(repo / "results/reference/published.csv"), str(rec)])
    table = pd.read_csv(csv)
    paper = table[table["source"] == "paper"]
    # Table 6: 2 MeshGEMV times, 6 GPU times (1, 8, 2x8 A100s), 6 energy ratios.
    assert len(paper) == 14 and set(paper["id"]) == {"table6"}
    ratio = table[table["metric"] == "latency_ms_vs_paper"]
    sim_ms = table[(table["metric"] == "latency_ms") & (table["source"] == "simulated")]
    assert len(ratio) == 1 and ratio["value"].iloc[0] == pytest.approx(
        sim_ms["value"].iloc[0] / 0.0012)
    assert "720x720" in ratio["note"].iloc[0] and "paper (wse2)" in ratio["note"].iloc[0]
    sim = table[(table["source"] == "simulated") & (table["metric"] == "latency_ms")]
    assert len(sim) == 1 and sim["note"].str.contains("cycle-model").all()
    assert records.read(rec)["mode"] == "cycle-model"


def test_sdk_backend_missing_is_one_clear_line(capsys, monkeypatch):
    monkeypatch.delenv("CEREBRAS_SDK_DIR", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    assert cli.main(["backend", "sdk-sim"]) == 1
    err = capsys.readouterr().err
    assert "cslc" in err and "Cerebras" in err and len(err.strip().splitlines()) == 1
    assert cli.main(["backend", "auto"]) == 0
    assert capsys.readouterr().out.strip() == "meshsim"


def test_figure_ignores_baseline_rows(tmp_path):
    recs = []
    for system, grid in (("MeshGEMM", "4x4"), ("Cannon", "4x4")):
        path = tmp_path / f"{system}.json"
        cli.main(["run", "--system", system, "--shape", "64x64x64", "--cores", grid,
                  "--out", str(path)])
        recs.append(str(path))
    base = tmp_path / "cpu.json"
    assert cli.main(["baseline", "matmul", "--device", "cpu", "--shape", "64x64x64",
                     "--cpu-repeats", "2", "--out", str(base)]) == 0
    csv = tmp_path / "fig9.csv"
    cli.main(["table", "--id", "fig9", "--out", str(csv), *recs, str(base)])
    assert "CPU-BLAS" in set(tables.read_csv(csv)["system"])
    assert cli.main(["figure", "--id", "fig9", "--table", str(csv), "--out",
                     str(tmp_path / "f.png")]) == 0


def test_energy_ratio_rows_match_workload_and_unit():
    base = {"id": "table8", "model": "llama3-8b", "shape": None, "input_len": 4096,
            "output_len": 128, "note": ""}
    rows = [
        {**base, "system": "vLLM", "backend": "cuda:NVIDIA H100 80GB HBM3", "cores": None,
         "gpus": 1, "metric": "decode_energy_j", "value": 3.0, "unit": "J/token",
         "source": "measured"},
        {**base, "system": "WaferLLM", "backend": "meshsim", "cores": "420x420", "gpus": None,
         "metric": "decode_energy_j", "value": 1.5, "unit": "J/token", "source": "simulated"},
        {**base, "system": "WaferLLM", "backend": "meshsim", "cores": "420x420", "gpus": None,
         "metric": "prefill_energy_j", "value": 9.0, "unit": "J/request",
         "source": "simulated"},  # other metric: no pair
        {**base, "system": "CPU-BLAS", "backend": "cpu", "cores": None, "gpus": None,
         "metric": "decode_energy_j", "value": 7.0, "unit": "J/token", "source": "measured"},
    ]
    ratios = tables.energy_ratio_rows("table8", rows)
    assert len(ratios) == 1
    r = ratios[0]
    assert r["value"] == 2.0 and r["source"] == "simulated" and r["cores"] == "420x420"
    assert r["system"] == "vLLM/WaferLLM" and "H100" in r["backend"]


def test_energy_ratio_names_vllm_and_still_pairs_with_the_papers_sglang_row(repo):
    # Tables 7 and 8: vLLM gives the GPU energy, the paper's row is SGLang's. The ratio row
    # names vLLM, its note says it stands in, and its _vs_paper row pairs with the paper's.
    base = {"id": "table8", "model": "llama3-8b", "shape": None, "input_len": 4096,
            "output_len": 128, "metric": "decode_energy_j", "unit": "J/token"}
    rows = [
        {**base, "system": "vLLM", "backend": "cuda:NVIDIA A100-SXM4-80GB", "cores": None,
         "gpus": 8, "value": 4.4, "source": "measured", "note": ""},
        {**base, "system": "WaferLLM", "backend": "meshsim", "cores": "420x420", "gpus": None,
         "value": 2.0, "source": "simulated", "note": "", "preset": "paper-kernels"},
    ]
    (ratio,) = tables.energy_ratio_rows("table8", rows)
    assert ratio["system"] == "vLLM/WaferLLM" and "SGLang" not in ratio["system"]
    assert "vLLM stands in for the paper's SGLang" in ratio["note"]
    assert "no energy window" in ratio["note"]
    paper = tables.reference_rows("table8", repo / "results/reference/published.csv")
    (vs,) = tables.paper_ratio_rows("table8", [ratio], paper)
    assert vs["metric"] == "energy_ratio_vs_paper" and vs["system"] == "vLLM/WaferLLM"
    assert vs["value"] == pytest.approx(2.2 / 2.22)  # the paper's SGLang row at 8 GPUs
    assert "vLLM/WaferLLM stands in for SGLang/WaferLLM" in vs["note"]
    # a GPU engine the paper names itself (SGLang, cuBLAS) is no stand-in
    sglang = [{**rows[0], "system": "SGLang"}, rows[1]]
    assert "stands in" not in tables.energy_ratio_rows("table8", sglang)[0]["note"]

"""The scorecard on the paper config's own tables, built as the workflow builds them (each job
through the `waferrepro` command, then `waferrepro table` with the published values), without a
full paper run: every claim that waits for neither a GPU nor an SDK gives a verdict, and the
published WaferLLM values of Tables 2-4 meet their rows (all of Table 4, one record of Tables 2
and 3: their other rows pair by the same fields, tests/test_published.py)."""

import json

import pytest
import yaml
from snakemake.utils import validate

from waferrepro import experiments
from waferrepro.cli import main
from waferrepro.scorecard import claims as claims_mod
from waferrepro.scorecard import verdicts as scorecard

WAFER_JOBS = (experiments.KernelJob, experiments.DecodeJob, experiments.KVCapacityJob,
              experiments.PrefillJob, experiments.EndToEndJob)


@pytest.fixture(scope="module")
def paper(repo):
    """The paper config (config/config.yaml) with its schema's defaults, as the workflow reads
    it, and its paths."""
    config = yaml.safe_load((repo / "config/config.yaml").read_text())
    validate(config, str(repo / "src/waferrepro/schemas/config.schema.yaml"), set_default=True)
    return {"config": config, "published": repo / "results/reference/published.csv",
            "claims": repo / "results/reference/claims.yaml"}


def _argv(job, config) -> list[str]:
    """The job's command, as the workflow's rule writes it (workflows/meshsim.smk)."""
    hw = ["--hardware", config["hardware"], "--hardware-profile", config["hardware_profile"],
          "--hardware-overrides", json.dumps(config["hardware_overrides"])]
    mode = ["--mode", experiments.run_mode(config, job)]
    if isinstance(job, experiments.KernelJob):
        group = [] if job.group_num is None else ["--group-num", str(job.group_num)]
        return ["run", "--system", job.system, "--shape", job.shape, "--cores", job.cores,
                *group, *mode, "--preset", config["schedule_preset"], *hw]
    model = ["--model", job.model, "--preset", job.preset, *hw]
    if isinstance(job, experiments.KVCapacityJob):
        return ["kv-capacity", *model, "--cores", job.cores, "--kv", job.kv]
    if isinstance(job, experiments.PrefillJob):
        return ["prefill", *model, *mode, "--cores", job.cores, "--input-len", str(job.input_len)]
    lengths = ["--input-len", str(job.input_len), "--output-len", str(job.output_len)]
    if isinstance(job, experiments.EndToEndJob):
        return ["e2e", *model, *mode, *lengths, "--prefill-cores", job.prefill_cores,
                "--decode-cores", job.decode_cores]
    return ["decode", *model, *mode, *lengths, "--cores", job.cores, "--kv", job.kv]


def _table(paper, table_id: str, jobs, out) -> None:
    """Run `jobs` of experiment `table_id` and aggregate their records into out/<id>.csv."""
    config, records = paper["config"], []
    for n, job in enumerate(jobs):
        path = out / "records" / table_id / f"{n}.json"
        assert main([*_argv(job, config), "--out", str(path)]) == 0, job
        records.append(str(path))
    metrics = config["experiments"][table_id].get("metrics", [])
    # as the rule: --metrics (nargs *) before another option, the records last
    assert main(["table", "--id", table_id, "--reference", str(paper["published"]),
                 *(["--metrics", *metrics] if metrics else []), "--run", "paper",
                 "--out", str(out / f"{table_id}.csv"), *records]) == 0


def _wafer_jobs(config, table_id, keep=lambda job: True) -> list:
    return [j for j in experiments.jobs_for(config, table_id, "meshsim")
            if isinstance(j, WAFER_JOBS) and keep(j)]


def _first_paper_kernels(job, model, cores) -> bool:
    return job.preset == "paper-kernels" and job.model == model and job.cores == cores


@pytest.fixture(scope="module")
def tables_dir(paper, tmp_path_factory):
    """Every wafer job of the tables that claims waiting for nothing read (the GPU baselines
    left out: only claims that wait for a GPU select them), and one end-to-end and one prefill
    record (their jobs take seconds each)."""
    out = tmp_path_factory.mktemp("paper-tables")
    config = paper["config"]
    waiting_for_nothing = [c for c in claims_mod.load(paper["claims"])
                           if not claims_mod.waits_for(c)]
    for table_id in sorted({ch["table"] for c in waiting_for_nothing for ch in c["checks"]}):
        _table(paper, table_id, _wafer_jobs(config, table_id), out)
    e2e = _wafer_jobs(config, "table2", lambda j: _first_paper_kernels(j, "llama2-13b",
                                                                       "750x750"))
    _table(paper, "table2", e2e[:1], out)
    _table(paper, "table3", _wafer_jobs(config, "table3", lambda j: _first_paper_kernels(
        j, "codellama-34b", "600x600")), out)
    return out


@pytest.fixture(scope="module")
def card(paper, tables_dir):
    return scorecard.build(tables_dir, paper["published"], paper["claims"], run="paper",
                           configured=set(paper["config"]["experiments"]))


def test_every_claim_gives_a_verdict_unless_it_waits_for_a_gpu_or_sdk(paper, card):
    loaded = claims_mod.load(paper["claims"])
    for claim in loaded:
        row = card[card["item"].str.startswith(claim["id"] + ":")].iloc[0]
        if claims_mod.waits_for(claim):
            assert row["verdict"] == "pending", claim["id"]
            assert row["detail"].startswith(f"needs {' '.join(claim['needs'].split())}")
        else:
            assert row["verdict"] in ("holds", "fails", "fitted"), (claim["id"], row["detail"])
    assert sum(not claims_mod.waits_for(c) for c in loaded) >= 4


def _wafer_numbers(card, table_id):
    numbers = card[(card["kind"] == "number") & (card["table"] == table_id)]
    return numbers[numbers["system"] == "WaferLLM"]


def test_table4_points_are_predictions_but_the_fitted_8b_ones(card):
    """All twelve published WaferLLM decode TPRs of Table 4 meet a simulated row: LLaMA3-8B's
    are training points of the calibration (fitted), the others predictions."""
    t4 = _wafer_numbers(card, "table4")
    assert len(t4) == 12 and (t4["source"] == "simulated").all()
    assert set(t4[t4["model"] == "llama3-8b"]["verdict"]) == {"fitted"}
    assert set(t4[t4["model"] != "llama3-8b"]["verdict"]) <= {"agrees", "disagrees"}
    assert (t4["reproduced"] > 0).all() and (t4["input_len"] == "4096").all()


def test_one_record_of_tables_2_and_3_meets_its_published_value(card):
    t2 = _wafer_numbers(card, "table2")
    got = t2[t2["verdict"] != "pending"]
    assert len(got) == 1 and got.iloc[0]["cores"] == "750x750+375x375"
    assert got.iloc[0]["verdict"] in ("agrees", "disagrees")
    assert (got.iloc[0]["input_len"], got.iloc[0]["output_len"]) == ("2048", "128")
    t3 = _wafer_numbers(card, "table3")
    got = t3[t3["verdict"] != "pending"]
    assert len(got) == 1 and got.iloc[0]["model"] == "codellama-34b"
    assert got.iloc[0]["published"] == 7540.1 and got.iloc[0]["verdict"] in ("agrees",
                                                                             "disagrees")

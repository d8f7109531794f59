"""The Snakemake workflow end to end, on the smoke config, in a scratch run directory."""

import os
import signal
import subprocess
import time

import pandas as pd
import pytest

from waferrepro import records

pytestmark = pytest.mark.workflow


def _snakemake(cmd, repo, workdir, *args, config="config/smoke.yaml", timeout=600):
    full = [*cmd, "-s", str(repo / "Snakefile"), "--directory", str(workdir),
            "--configfile", str(repo / config), "--cores", "2", *args]
    return subprocess.run(full, capture_output=True, text=True, timeout=timeout)


def _bad_config(repo, tmp_path, old, new):
    text = (repo / "config/config.yaml").read_text()
    assert old in text
    path = tmp_path / "bad.yaml"
    path.write_text(text.replace(old, new))
    return path


@pytest.mark.parametrize("old,new,key", [
    ("seed: 0", "seed: zero", "seed"),
    ("  fig10:\n    systems", "  fig10:\n    sytems: []\n    systems", "sytems"),
    ("backend: meshsim", "backend: tpu", "backend"),
    ("hardware_overrides: {}", "hardware_overrides: {clock_ghz: 1}", "clock_ghz"),
])
def test_bad_config_stops_before_any_job(repo, tmp_path, snakemake_cmd, old, new, key):
    bad = _bad_config(repo, tmp_path, old, new)
    res = _snakemake(snakemake_cmd, repo, tmp_path / "run", "-n", config=bad)
    assert res.returncode != 0
    output = res.stdout + res.stderr
    line = next(ln for ln in output.splitlines() if ln.startswith("invalid config"))
    assert key in line
    assert not (tmp_path / "run" / "results").exists()


def test_sdk_backend_without_sdk_stops_with_reason(repo, tmp_path, snakemake_cmd):
    bad = _bad_config(repo, tmp_path, "backend: meshsim", "backend: sdk-sim")
    env_path = os.environ.get("PATH", "")
    assert "cslc" not in env_path
    res = _snakemake(snakemake_cmd, repo, tmp_path / "run", "-n", config=bad)
    assert res.returncode != 0 and "needs the Cerebras SDK" in res.stdout + res.stderr
    assert not (tmp_path / "run" / "results").exists()


def test_paper_dag_lists_quickly(repo, tmp_path, snakemake_cmd):
    res = _snakemake(snakemake_cmd, repo, tmp_path / "run", "-n", config="config/config.yaml")
    assert res.returncode == 0, res.stderr
    assert "run_kernel" in res.stdout and "fig9" in res.stdout + res.stderr


def test_smoke_workflow_produces_tables_and_figures(repo, tmp_path, snakemake_cmd):
    work = tmp_path / "run"
    res = _snakemake(snakemake_cmd, repo, work)
    assert res.returncode == 0, res.stderr[-3000:]
    for exp_id in ("fig9", "fig10", "table6", "table4", "table3", "table2"):
        table = pd.read_csv(work / f"results/tables/{exp_id}.csv")
        sim = table[table["source"] == "simulated"]
        assert len(sim) > 0 and set(sim["backend"]) == {"meshsim"}
        assert sim["note"].str.startswith("functional; numeric check passed").all()
    table4 = pd.read_csv(work / "results/tables/table4.csv")
    assert set(table4["system"]) == {"WaferLLM", "WaferLLM-KVconcat", "SGLang"}
    sglang = table4[table4["system"] == "SGLang"]  # no CPU build: skipped, never invented
    assert (sglang["source"] == "skipped").all() and sglang["value"].isna().all()
    assert sglang["note"].str.contains("no CPU build").all()
    table6 = pd.read_csv(work / "results/tables/table6.csv")
    cpu = table6[table6["system"] == "CPU-BLAS"]
    assert (cpu["source"] == "measured").all() and (cpu["backend"] == "cpu").all()
    assert "latency_ms" in set(cpu["metric"])
    cublas = table6[(table6["system"] == "cuBLAS") & (table6["source"] != "paper")]
    assert len(cublas) == 1 and cublas["source"].iloc[0] == "skipped"
    table5 = pd.read_csv(work / "results/tables/table5.csv")
    cap = table5[(table5["metric"] == "max_decode_len_tokens")
                 & (table5["source"] == "simulated")].set_index(["model", "system"])
    for model in ("tiny-llama", "llama3-8b"):  # KV shift holds 420 (rows) times more context
        shift = cap.loc[(model, "WaferLLM"), "value"]
        concat = cap.loc[(model, "WaferLLM-KVconcat"), "value"]
        assert shift == 420 * concat and concat > 0
    breakdown = pd.read_csv(work / "results/tables/breakdown.csv")
    sim = breakdown[breakdown["source"] == "simulated"]
    per_run = sim.pivot_table(index=["system", "model", "shape", "cores", "input_len",
                                     "output_len"], columns="metric", values="value",
                              dropna=False).dropna(subset=["cycles"])
    causes = per_run[[c for c in per_run.columns if c.startswith("cycles_")]].sum(axis=1)
    assert len(per_run) > 10
    assert ((causes - per_run["cycles"]).abs() <= 1e-6 * per_run["cycles"]).all()
    for fig in ("fig9", "fig10", "breakdown", "scorecard"):
        assert (work / f"figures/{fig}.png").stat().st_size > 10_000
        assert (work / f"figures/{fig}.pdf").read_bytes()[:4] == b"%PDF"
    recs = list((work / "results/records").rglob("*.json"))
    assert recs and all(records.read(r)["provenance"]["git_commit"] for r in recs)
    # The HTML report bundles the tables and figures.
    report = _snakemake(snakemake_cmd, repo, work, "--report", str(work / "report.html"))
    assert report.returncode == 0, report.stderr[-2000:]
    assert (work / "report.html").stat().st_size > 100_000
    # A second run has nothing to do.
    again = _snakemake(snakemake_cmd, repo, work, "-n")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr


def test_sweep_targets_on_the_smoke_config(repo, tmp_path, snakemake_cmd):
    work = tmp_path / "run"
    res = _snakemake(snakemake_cmd, repo, work, "sensitivity", "whatif")
    assert res.returncode == 0, res.stderr[-3000:]
    sens = pd.read_csv(work / "results/tables/sensitivity.csv")
    assert set(sens["source"]) == {"simulated"} and set(sens["backend"]) == {"meshsim"}
    assert {"parameter", "bound"} <= set(sens.columns)
    whatif = pd.read_csv(work / "results/tables/whatif.csv")
    small = whatif[whatif["parameter_value"] == 1024]
    assert (small["source"] == "skipped").all() and small["value"].isna().all()
    for fig in ("sensitivity", "whatif"):
        assert (work / f"figures/{fig}.pdf").read_bytes()[:4] == b"%PDF"


def _start_and_kill(snakemake_cmd, repo, work, sig):
    """Start the smoke run, and send `sig` to its whole process group once records appear."""
    full = [*snakemake_cmd, "-s", str(repo / "Snakefile"), "--directory", str(work),
            "--configfile", str(repo / "config/smoke.yaml"), "--cores", "1"]
    proc = subprocess.Popen(full, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 120
    rec_dir = work / "results/records"
    while time.time() < deadline and len(list(rec_dir.rglob("*.json"))) < 3:
        time.sleep(0.05)
    os.killpg(proc.pid, sig)
    proc.wait(timeout=60)
    done_before = list(rec_dir.rglob("*.json"))
    assert done_before, "the run was killed before any record was written"
    for path in done_before:
        records.read(path)  # every record present is complete and valid
    assert not (work / "results/tables/table6.csv").exists(), "killed too late to test"
    return {p: p.read_bytes() for p in done_before}


def _planned_kernel_jobs(snakemake_cmd, repo, work) -> int:
    res = _snakemake(snakemake_cmd, repo, work, "-n", "--rerun-incomplete")
    assert res.returncode == 0, res.stderr[-2000:]
    for line in (res.stdout + res.stderr).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "run_kernel":
            return int(parts[1])
    return 0


def _finish_and_check(snakemake_cmd, repo, work, done_before, *extra):
    total = _planned_kernel_jobs(snakemake_cmd, repo, work.with_name("fresh"))
    left = _planned_kernel_jobs(snakemake_cmd, repo, work)
    # Finished records are kept: only the rest is planned again. (A job killed between
    # writing its record and Snakemake noting it is redone; the atomic write makes that safe.)
    assert left <= total - len(done_before) + 2, (left, total, len(done_before))
    res = _snakemake(snakemake_cmd, repo, work, *extra)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (work / "results/tables/table6.csv").exists()
    for path in (work / "results/records").rglob("*.json"):
        records.read(path)


def test_interrupted_run_resumes(repo, tmp_path, snakemake_cmd):
    """Ctrl-C: Snakemake stops cleanly; rerunning the same command completes the run."""
    work = tmp_path / "run"
    done = _start_and_kill(snakemake_cmd, repo, work, signal.SIGINT)
    _finish_and_check(snakemake_cmd, repo, work, done)


def test_killed_run_resumes_after_unlock(repo, tmp_path, snakemake_cmd):
    """SIGKILL (or power loss): the lock stays; --unlock then --rerun-incomplete completes."""
    work = tmp_path / "run"
    done = _start_and_kill(snakemake_cmd, repo, work, signal.SIGKILL)
    unlock = _snakemake(snakemake_cmd, repo, work, "--unlock")
    assert unlock.returncode == 0, unlock.stderr[-2000:]
    _finish_and_check(snakemake_cmd, repo, work, done, "--rerun-incomplete")

"""The Snakemake workflow end to end, on the smoke config, in a scratch run directory."""

import contextlib
import os
import re
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml

from waferrepro import records

pytestmark = pytest.mark.workflow


def _snakemake(cmd, repo, workdir, *args, config="config/smoke.yaml", timeout=600, env=None):
    full = [*cmd, "-s", str(repo / "Snakefile"), "--directory", str(workdir),
            "--configfile", str(repo / config), "--cores", "2", *args]
    return subprocess.run(full, capture_output=True, text=True, timeout=timeout, env=env)


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
        table = pd.read_csv(work / f"results/smoke/tables/{exp_id}.csv")
        sim = table[table["source"] == "simulated"]
        assert len(sim) > 0 and set(sim["backend"]) == {"meshsim"}
        assert sim["note"].str.startswith("functional; numeric check passed").all()
    table4 = pd.read_csv(work / "results/smoke/tables/table4.csv")
    assert set(table4["system"]) == {"WaferLLM", "WaferLLM-KVconcat", "SGLang"}
    # no CPU build: skipped, never invented (the paper's own SGLang rows sit beside them)
    sglang = table4[(table4["system"] == "SGLang") & (table4["source"] != "paper")]
    assert (sglang["source"] == "skipped").all() and sglang["value"].isna().all()
    assert sglang["note"].str.contains("no CPU build").all()
    table6 = pd.read_csv(work / "results/smoke/tables/table6.csv")
    cpu = table6[table6["system"] == "CPU-BLAS"]
    assert (cpu["source"] == "measured").all() and (cpu["backend"] == "cpu").all()
    assert "latency_ms" in set(cpu["metric"])
    cublas = table6[(table6["system"] == "cuBLAS") & (table6["source"] != "paper")]
    assert len(cublas) == 1 and cublas["source"].iloc[0] == "skipped"
    table5 = pd.read_csv(work / "results/smoke/tables/table5.csv")
    cap = table5[(table5["metric"] == "max_decode_len_tokens")
                 & (table5["source"] == "simulated")].set_index(["model", "system"])
    for model in ("tiny-llama", "llama3-8b"):  # KV shift holds 420 (rows) times more context
        shift = cap.loc[(model, "WaferLLM"), "value"]
        concat = cap.loc[(model, "WaferLLM-KVconcat"), "value"]
        assert shift == 420 * concat and concat > 0
    breakdown = pd.read_csv(work / "results/smoke/tables/breakdown.csv")
    sim = breakdown[breakdown["source"] == "simulated"]
    per_run = sim.pivot_table(index=["system", "model", "shape", "cores", "input_len",
                                     "output_len"], columns="metric", values="value",
                              dropna=False).dropna(subset=["cycles"])
    causes = per_run[[c for c in per_run.columns if c.startswith("cycles_")]].sum(axis=1)
    assert len(per_run) > 10
    assert ((causes - per_run["cycles"]).abs() <= 1e-6 * per_run["cycles"]).all()
    for fig in ("fig9", "fig10", "breakdown", "scorecard"):
        assert (work / f"figures/smoke/{fig}.png").stat().st_size > 10_000
        assert (work / f"figures/smoke/{fig}.pdf").read_bytes()[:4] == b"%PDF"
    recs = list((work / "results/smoke/records").rglob("*.json"))
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
    sens = pd.read_csv(work / "results/smoke/tables/sensitivity.csv")
    assert set(sens["source"]) == {"simulated"} and set(sens["backend"]) == {"meshsim"}
    assert {"parameter", "bound"} <= set(sens.columns)
    whatif = pd.read_csv(work / "results/smoke/tables/whatif.csv")
    small = whatif[whatif["parameter_value"] == 1024]
    assert (small["source"] == "skipped").all() and small["value"].isna().all()
    for fig in ("sensitivity", "whatif"):
        assert (work / f"figures/smoke/{fig}.pdf").read_bytes()[:4] == b"%PDF"


GATE = "tests/workflow_gate/gate.bash"
GATE_AT = 4  # the 4th record job is interrupted: three finished records before it


def _gated_env(repo, gate_dir, block: bool) -> dict:
    """The environment of a run through the gate (tests/workflow_gate/gate.bash): each record
    job logged to gate_dir/ran; with `block`, the GATE_AT-th waits on gate_dir/block."""
    gate_dir.mkdir(exist_ok=True)
    if block:
        (gate_dir / "block").touch()
    else:
        (gate_dir / "block").unlink(missing_ok=True)
    return {**os.environ, "BASH_ENV": str(repo / GATE), "GATE_DIR": str(gate_dir),
            "GATE_AT": str(GATE_AT)}


def _ran(gate_dir) -> list[str]:
    return (gate_dir / "ran").read_text().split()


def _start_and_kill(snakemake_cmd, repo, work, sig):
    """Start the smoke run on one core, and send `sig` to its whole process group while the
    GATE_AT-th record job is running: its record written, Snakemake not yet told it finished.
    Returns the finished records (path -> bytes) and the interrupted job's record path."""
    gate_dir = work.with_name("gate")
    full = [*snakemake_cmd, "-s", str(repo / "Snakefile"), "--directory", str(work),
            "--configfile", str(repo / "config/smoke.yaml"), "--cores", "1"]
    log = work.with_name("snakemake.log")
    with log.open("w") as out:  # a file, not a pipe: a full pipe would stall the run
        proc = subprocess.Popen(full, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, env=_gated_env(repo, gate_dir, True))
    try:
        # No race: the gate holds the run at that job until the block goes. The deadline only
        # bounds a run that never gets there (it fails, with Snakemake's output).
        deadline = time.time() + 600
        while not (gate_dir / "reached").exists():
            if proc.poll() is not None or time.time() > deadline:
                with contextlib.suppress(ProcessLookupError):  # the group may be gone
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=60)
                pytest.fail("the run never reached the gate:\n" + log.read_text()[-3000:])
            time.sleep(0.05)
        interrupted = (gate_dir / "reached").read_text().strip()
        os.killpg(proc.pid, sig)
        proc.wait(timeout=120)
    finally:
        (gate_dir / "block").unlink(missing_ok=True)  # never leave a job waiting
    ran = _ran(gate_dir)
    assert len(ran) == GATE_AT and ran[-1] == interrupted
    finished = ran[:-1]
    rec_dir = work / "results/smoke/records"
    on_disk = {str(p.relative_to(work)) for p in rec_dir.rglob("*") if p.is_file()}
    # No partial or temporary files: the finished records and the interrupted job's (written
    # atomically before the gate; Snakemake keeps it, marked incomplete, after either signal).
    assert set(finished) <= on_disk <= set(ran), (on_disk, ran)
    for path in on_disk:
        records.read(work / path)  # complete and valid
    # Ctrl-C lets Snakemake release its lock; SIGKILL leaves it (hence --unlock).
    locks = list((work / ".snakemake/locks").glob("*"))
    assert bool(locks) == (sig == signal.SIGKILL), locks
    return {work / p: (work / p).read_bytes() for p in finished}, interrupted


def _planned_records(snakemake_cmd, repo, work, *extra) -> set[str]:
    """The record paths a dry run of the smoke run in `work` would write."""
    res = _snakemake(snakemake_cmd, repo, work, "-n", "-p", *extra)
    assert res.returncode == 0, res.stderr[-2000:]
    planned = set(re.findall(r"--out (\S+/records/\S+\.json)", res.stdout + res.stderr))
    assert planned
    return planned


def _finish_and_check(snakemake_cmd, repo, work, done_before, interrupted, *extra):
    total = _planned_records(snakemake_cmd, repo, work.with_name("fresh"))
    left = _planned_records(snakemake_cmd, repo, work, *extra)
    finished = {str(p.relative_to(work)) for p in done_before}
    # Exactly the rest is planned: the finished records kept, the interrupted job redone.
    assert interrupted in left and not finished & left
    assert left == total - finished
    gate_dir = work.with_name("gate")
    res = _snakemake(snakemake_cmd, repo, work, *extra, env=_gated_env(repo, gate_dir, False))
    assert res.returncode == 0, res.stderr[-3000:]
    ran = _ran(gate_dir)
    # The rerun ran each planned record job once (the interrupted one again), no finished one.
    assert sorted(ran[GATE_AT:]) == sorted(left)
    for path, data in done_before.items():
        assert path.read_bytes() == data
    assert (work / "results/smoke/tables/table6.csv").exists()
    on_disk = {str(p.relative_to(work)) for p in (work / "results/smoke/records").rglob("*")
               if p.is_file()}
    assert on_disk == total  # every record, and no temporary file left behind
    for path in on_disk:
        records.read(work / path)


def test_interrupted_run_resumes(repo, tmp_path, snakemake_cmd):
    """Ctrl-C: Snakemake stops cleanly; rerunning the same command completes the run."""
    work = tmp_path / "run"
    done, interrupted = _start_and_kill(snakemake_cmd, repo, work, signal.SIGINT)
    _finish_and_check(snakemake_cmd, repo, work, done, interrupted)


def test_killed_run_resumes_after_unlock(repo, tmp_path, snakemake_cmd):
    """SIGKILL (or power loss): the lock stays; --unlock then --rerun-incomplete completes."""
    work = tmp_path / "run"
    done, interrupted = _start_and_kill(snakemake_cmd, repo, work, signal.SIGKILL)
    unlock = _snakemake(snakemake_cmd, repo, work, "--unlock")
    assert unlock.returncode == 0, unlock.stderr[-2000:]
    _finish_and_check(snakemake_cmd, repo, work, done, interrupted, "--rerun-incomplete")


TINY = """\
backend: meshsim
experiments:
  fig10:
    systems: [MeshGEMV]
    sizes: [512]
    grids: [4]
  table5:
    kind: kv_capacity
    models: [llama3-8b]
    grids: [360]
    kv_modes: [concat, shift]
"""
CLOCK_850 = "hardware_overrides={clock_hz: 8.5e+8}"


def _run_name(output: str) -> str:
    """The run a Snakemake command planned, from its results/<run>/ paths."""
    names = set(re.findall(r"results/([A-Za-z0-9._-]+)/(?:config\.yaml|tables/)", output))
    assert len(names) == 1, names
    return names.pop()


def test_runs_sit_side_by_side(repo, tmp_path, snakemake_cmd):
    """A default run and an 850 MHz run of the same config keep both sets of records, tables,
    figures and scorecards, each naming its run; re-running the first has nothing to do."""
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY)
    work = tmp_path / "run"
    first = _snakemake(snakemake_cmd, repo, work, "scorecard", config=config)
    assert first.returncode == 0, first.stderr[-3000:]
    plan = _snakemake(snakemake_cmd, repo, work, "-n", "--forceall", "--config", CLOCK_850,
                      config=config)
    clocked = _run_name(plan.stdout + plan.stderr)
    assert re.fullmatch(r"tiny-[0-9a-f]{8}", clocked), clocked
    second = _snakemake(snakemake_cmd, repo, work, "scorecard", "--config", CLOCK_850,
                        config=config)
    assert second.returncode == 0, second.stderr[-3000:]
    assert sorted(p.name for p in (work / "results").iterdir()) == sorted(["tiny", clocked])
    assert sorted(p.name for p in (work / "figures").iterdir()) == sorted(["tiny", clocked])

    def latency(run):
        table = pd.read_csv(work / f"results/{run}/tables/fig10.csv")
        assert set(table["run"]) == {run}
        return table[table["metric"] == "latency_ms"]["value"].iloc[0]

    assert latency(clocked) == pytest.approx(latency("tiny") * 1.1e9 / 8.5e8)
    for run in ("tiny", clocked):
        card = pd.read_csv(work / f"results/{run}/tables/scorecard.csv")
        assert set(card["run"]) == {run}
        numbers = card[card["kind"] == "number"]
        assert numbers["verdict"].isin(["agrees", "disagrees"]).sum() >= 2  # table5
        assert f"table6 is not in run {run}'s config" in set(numbers["detail"])
        assert (work / f"figures/{run}/scorecard.png").exists()
        assert f"run {run}: scorecard" in (work / f"results/{run}/report/front.rst").read_text()
        saved = yaml.safe_load((work / f"results/{run}/config.yaml").read_text())
        assert saved["run"] == run
    # The first run's outputs were not touched: nothing to redo.
    again = _snakemake(snakemake_cmd, repo, work, "-n", "scorecard", config=config)
    assert "Nothing to be done" in again.stdout + again.stderr
    # The run's own config.yaml runs it again under its name.
    saved = _snakemake(snakemake_cmd, repo, work, "-n", "scorecard",
                       config=work / f"results/{clocked}/config.yaml")
    assert "Nothing to be done" in saved.stdout + saved.stderr, saved.stderr[-2000:]
    # The CLI reads the most recent run by default, and any run by name; both name it.
    cli = [sys.executable, "-m", "waferrepro", "scorecard",
           "--published", str(repo / "results/reference/published.csv"),
           "--claims", str(repo / "results/reference/claims.yaml")]
    latest = subprocess.run(cli, cwd=work, capture_output=True, text=True)
    assert latest.returncode == 0, latest.stderr
    assert latest.stdout.splitlines()[0].startswith(f"WaferLLM scorecard of run {clocked} ")
    assert "the most recent run; others: tiny" in latest.stdout.splitlines()[0]
    named = subprocess.run([*cli, "--run", "tiny"], cwd=work, capture_output=True, text=True)
    assert named.stdout.startswith("WaferLLM scorecard of run tiny "), named.stderr


def test_derived_run_name_is_stable_and_differs_with_overrides(repo, tmp_path, snakemake_cmd):
    def name(*args, config="config/smoke.yaml"):
        res = _snakemake(snakemake_cmd, repo, tmp_path / "run", "-n", *args, config=config)
        assert res.returncode == 0, res.stderr[-2000:]
        return _run_name(res.stdout + res.stderr)

    assert name() == "smoke"
    assert name(config="config/config.yaml") == "paper"
    assert name("--config", "seed=0") == "smoke"  # the smoke config's own value: no change
    clocked = name("--config", CLOCK_850)
    assert clocked == name("--config", "hardware_overrides={clock_hz: 850.0e6}")  # stable
    assert re.fullmatch(r"smoke-[0-9a-f]{8}", clocked)
    assert name("--config", "hardware_overrides={clock_hz: 9.0e8}") not in ("smoke", clocked)
    assert name("--config", "schedule_preset=full-model") == "smoke-full-model"
    # the default preset (the smoke config sets none), named: the effective config is the same
    assert name("--config", "schedule_preset=paper-kernels") == "smoke"
    assert name("--config", "run=mine") == "mine"
    bad = _snakemake(snakemake_cmd, repo, tmp_path / "run", "-n", "--config", "run=../x")
    assert bad.returncode != 0
    assert next(ln for ln in (bad.stdout + bad.stderr).splitlines()
                if ln.startswith("invalid config")).startswith("invalid config at run")
    assert not (tmp_path / "run" / "results").exists()

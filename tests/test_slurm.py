"""The workflow submitted through profiles/slurm to a real one-node SLURM on loopback.

Needs Debian's slurm-wlm and munge (`.ci/run` installs them) and root (the daemons run as
root here); skipped with the reason otherwise.
"""

import os
import subprocess

import pandas as pd
import pytest
from slurm_cluster import SlurmCluster, missing_tools

from waferrepro import records

pytestmark = pytest.mark.workflow

SLICE = """\
run: slice
backend: meshsim
experiments:
  fig10:
    systems: [MeshGEMV, chain-GEMV]
    sizes: [512]
    grids: [4]
    matmul_baselines: [cpu]
  table5:
    kind: kv_capacity
    models: [llama3-8b]
    grids: [420]
    kv_modes: [shift]
"""
FAILING = "results/slice/records/meshsim/MeshGEMV/1x512x512/4x4.json"


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    import importlib.util

    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        pytest.skip("snakemake-executor-plugin-slurm not installed: pip install -e '.[slurm]'")
    missing = missing_tools()
    if missing:
        pytest.skip(f"SLURM not installed ({', '.join(missing)} missing): "
                    "apt-get install slurm-wlm munge")
    if os.geteuid() != 0:
        pytest.skip("the test SLURM runs its daemons as root; not root here")
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm")).start()
    yield cluster
    cluster.stop()


def _submit(slurm, repo, snakemake_cmd, work, extra_env=None):
    config = work.parent / f"{work.name}.yaml"
    config.write_text(SLICE)
    cmd = [*snakemake_cmd, "-s", str(repo / "Snakefile"), "--directory", str(work),
           "--configfile", str(config), "--profile", str(repo / "profiles/slurm"),
           "--jobs", "4", "--slurm-no-account", "--default-resources", "slurm_partition=debug",
           "--slurm-status-command", "squeue",
           "--slurm-init-seconds-before-status-checks", "1"]
    env = {**slurm.env(), **(extra_env or {})}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)


def test_slice_runs_through_slurm(slurm, repo, snakemake_cmd, tmp_path):
    work = tmp_path / "run"
    res = _submit(slurm, repo, snakemake_cmd, work)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    recs = sorted((work / "results/slice/records").rglob("*.json"))
    assert len(recs) == 4  # two simulator jobs, one CPU baseline, one memory-model job
    sources = sorted(records.read(r)["source"] for r in recs)
    assert sources == ["measured", "simulated", "simulated", "simulated"]
    table = pd.read_csv(work / "results/slice/tables/fig10.csv")
    assert set(table["system"]) == {"MeshGEMV", "chain-GEMV", "CPU-BLAS"}
    assert (work / "figures/slice/fig10.png").exists()
    assert "slurm" in (res.stdout + res.stderr).lower()  # really went through the executor


def test_failing_job_fails_the_run_and_points_to_its_log(slurm, repo, snakemake_cmd, tmp_path):
    work = tmp_path / "run"
    res = _submit(slurm, repo, snakemake_cmd, work,
                  {"WAFERREPRO_FAIL_OUTPUT": FAILING})
    out = res.stdout + res.stderr
    assert res.returncode != 0
    log = "results/slice/logs/meshsim/MeshGEMV/1x512x512/4x4.log"
    assert log in out
    assert "failure injected" in (work / log).read_text()
    assert not (work / FAILING).exists()
    # The other jobs still finished (keep-going) and left valid records.
    others = list((work / "results/slice/records").rglob("*.json"))
    assert others and all(records.read(r) for r in others)

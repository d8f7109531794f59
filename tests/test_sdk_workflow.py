"""The SDK backends' DAG, as a dry run. No SDK here: stand-in `cslc` and `cs_python` files
only make the tools *found*; they are never executed (-n), and nothing here claims to test a
compilation: it checks which jobs the DAG holds and the exact commands they would run."""

import os
import subprocess

import pytest

pytestmark = pytest.mark.workflow

CONFIG = """\
backend: {backend}
sdk: {{cmaddr: "10.1.2.3:9000"}}
experiments:
  fig10:
    systems: [MeshGEMV]
    sizes: [512, 1024]
    grids: [4, "8x4"]
  table6:
    systems: [MeshGEMV]
    sizes: [512]
    grids: [4]
"""


@pytest.fixture
def fake_sdk(tmp_path):
    bin_dir = tmp_path / "sdk"
    bin_dir.mkdir()
    for tool in ("cslc", "cs_python"):
        path = bin_dir / tool
        path.write_text("#!/bin/sh\necho 'stand-in: must not run' >&2\nexit 99\n")
        path.chmod(0o755)
    return bin_dir


def _dry(snakemake_cmd, repo, tmp_path, fake_sdk, backend, config=CONFIG):
    cfg = tmp_path / f"{backend}.yaml"
    cfg.write_text(config.format(backend=backend))
    env = {**os.environ, "CEREBRAS_SDK_DIR": str(fake_sdk)}
    return subprocess.run([*snakemake_cmd, "-s", str(repo / "Snakefile"), "--directory",
                           str(tmp_path / "run"), "--configfile", str(cfg), "-n", "-p",
                           "--cores", "1"], capture_output=True, text=True, env=env)


def test_sdk_sim_dag_compiles_once_per_parameter_set(snakemake_cmd, repo, tmp_path, fake_sdk):
    res = _dry(snakemake_cmd, repo, tmp_path, fake_sdk, "sdk-sim")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    # fig10: 2 sizes x 2 grids; table6's 512 on 4x4 is the same job: 4 compiles, 4 runs.
    counts = {p[0]: int(p[1]) for p in (l.split() for l in out.splitlines())
              if len(p) == 2 and p[1].isdigit()}
    assert counts["compile_csl"] == 4 and counts["run_csl"] == 4
    assert f"{fake_sdk}/cslc --arch=wse2 " in out
    assert "--fabric-dims=15,6 --fabric-offsets=4,1" in out  # 8x4 grid + memcpy halo
    assert "--params=width:8,height:4,kt:128,nt:64,group:2" in out
    assert "--memcpy --channels=1" in out
    assert f"{fake_sdk}/cs_python" in out and "--cmaddr" not in out


def test_wafer_dag_uses_device_fabric_and_cmaddr(snakemake_cmd, repo, tmp_path, fake_sdk):
    res = _dry(snakemake_cmd, repo, tmp_path, fake_sdk, "wse3")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert "--arch=wse3" in out and "--fabric-dims=762,1172" in out
    assert "--cmaddr 10.1.2.3:9000" in out


def test_modules_without_csl_are_refused_by_name(snakemake_cmd, repo, tmp_path, fake_sdk):
    res = _dry(snakemake_cmd, repo, tmp_path, fake_sdk, "sdk-sim",
               CONFIG.replace("systems: [MeshGEMV]\n    sizes: [512, 1024]",
                              "systems: [MeshGEMV, chain-GEMV]\n    sizes: [512, 1024]"))
    assert res.returncode != 0
    assert "no CSL program yet for chain-GEMV" in res.stdout + res.stderr

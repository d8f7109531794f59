"""The SDK backends' DAG, as a dry run. No SDK here: stand-in `cslc` and `cs_python` files
only make the tools *found*; they are never executed (-n), and nothing here claims to test a
compilation: it checks which jobs the DAG holds and the exact commands they would run."""

import os
import subprocess

import pytest

pytestmark = pytest.mark.workflow

CONFIG = """\
backend: {backend}
sdk: {{mode: {mode}, cmaddr: "10.1.2.3:9000"}}
experiments:
  fig9:
    systems: [MeshGEMM]
    sizes: [64]
    grids: [4]
  fig10:
    systems: [MeshGEMV]
    sizes: [256, 512]
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


def _dry(snakemake_cmd, repo, tmp_path, fake_sdk, backend, config=CONFIG, mode="direct"):
    cfg = tmp_path / f"{backend}.yaml"
    cfg.write_text(config.format(backend=backend, mode=mode))
    env = {**os.environ, "CEREBRAS_SDK_DIR": str(fake_sdk)}
    if mode == "appliance":  # a stand-in client package, only *found* (never imported: -n)
        pkg = tmp_path / "client" / "cerebras" / "sdk"
        pkg.mkdir(parents=True)
        for init in (pkg.parent / "__init__.py", pkg / "__init__.py"):
            init.write_text("")
        (pkg / "client.py").write_text("raise ImportError('stand-in: must not be imported')\n")
        env["PYTHONPATH"] = str(tmp_path / "client")
    return subprocess.run([*snakemake_cmd, "-s", str(repo / "Snakefile"), "--directory",
                           str(tmp_path / "run"), "--configfile", str(cfg), "-n", "-p",
                           "--cores", "1"], capture_output=True, text=True, env=env)


def _job_counts(out):
    """Jobs per rule from the dry run's job-stats table."""
    return {p[0]: int(p[1]) for p in (line.split() for line in out.splitlines())
            if len(p) == 2 and p[1].isdigit()}


# The tests below that name no preset were written for full-model's forms: they say so.
FULL_MODEL = "schedule_preset: full-model\n"


def test_sdk_sim_dag_compiles_once_per_parameter_set(snakemake_cmd, repo, tmp_path, fake_sdk):
    res = _dry(snakemake_cmd, repo, tmp_path, fake_sdk, "sdk-sim", CONFIG + FULL_MODEL)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    # fig10: 2 sizes x 2 grids; table6's 512 on 4x4 is the same job; fig9: one MeshGEMM:
    # 5 compiles, 5 runs.
    counts = _job_counts(out)
    assert counts["compile_csl"] == 5 and counts["run_csl"] == 5
    assert "waferrepro sdk stage --kernels" in out and "--system MeshGEMM" in out
    assert "/src/layout.csl --fabric-dims=11,6" in out  # 4x4 MeshGEMM + memcpy halo
    assert "--params=P:4,Mt:16,Kt:16,Nt:16,packed:0,acc32:1" in out
    assert f"{fake_sdk}/cslc --arch=wse2 " in out
    assert "--fabric-dims=15,6 --fabric-offsets=4,1" in out  # 8x4 grid + memcpy halo
    # full-model: edge tree roots, one fp16 per wavelet, fp32 accumulate
    assert "--params=width:8,height:4,kt:128,nt:64,group:2,tree_middle:0,packed:0,acc32:1 " in out
    assert "--memcpy --channels=1" in out
    assert f"{fake_sdk}/cs_python" in out and "--cmaddr" not in out
    assert "--warmup 1 --repeats 5" in out  # the authors' simulator counts (sdk_timing)


def test_a_config_without_schedule_preset_compiles_paper_kernels(snakemake_cmd, repo, tmp_path,
                                                                 fake_sdk):
    # the schema's default (presets.DEFAULT_PRESET): the authors' forms, as config/config.yaml
    res = _dry(snakemake_cmd, repo, tmp_path, fake_sdk, "sdk-sim")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert "--params=width:8,height:4,kt:128,nt:64,group:2,tree_middle:1,packed:1,acc32:0 " in out


@pytest.mark.parametrize("preset,middle", [("paper-kernels", 1), ("full-model", 0)])
def test_meshgemv_compiles_the_tree_form_of_the_schedule_preset(snakemake_cmd, repo, tmp_path,
                                                                fake_sdk, preset, middle):
    # The CSL twin of meshsim's MeshGEMV under the preset: middle roots for paper-kernels
    # (presets.PRESETS tree_root), edge roots for full-model; paper-kernels also packs two
    # fp16 per wavelet (fp16_per_wavelet) and accumulates in fp16 (acc32:0), in both kernels.
    res = _dry(snakemake_cmd, repo, tmp_path, fake_sdk, "sdk-sim",
               CONFIG + f"schedule_preset: {preset}\n")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    forms = f"packed:{middle},acc32:{1 - middle} "  # paper-kernels packs, accumulates in fp16
    tail = f"group:2,tree_middle:{middle},{forms}"
    assert f"--params=width:8,height:4,kt:128,nt:64,{tail}" in out
    assert f"--params=width:4,height:4,kt:128,nt:128,{tail}" in out
    assert f"--params=P:4,Mt:16,Kt:16,Nt:16,{forms}" in out


def test_wafer_dag_uses_device_fabric_and_cmaddr(snakemake_cmd, repo, tmp_path, fake_sdk):
    res = _dry(snakemake_cmd, repo, tmp_path, fake_sdk, "wse3")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert "--arch=wse3" in out and "--fabric-dims=762,1172" in out
    assert "--cmaddr 10.1.2.3:9000" in out


def test_modules_without_csl_are_refused_by_name(snakemake_cmd, repo, tmp_path, fake_sdk):
    res = _dry(snakemake_cmd, repo, tmp_path, fake_sdk, "sdk-sim",
               CONFIG.replace("systems: [MeshGEMV]\n    sizes: [256, 512]",
                              "systems: [MeshGEMV, chain-GEMV]\n    sizes: [256, 512]"))
    assert res.returncode != 0
    assert "no CSL program yet for chain-GEMV" in res.stdout + res.stderr


DECODE = CONFIG + """  table4:
    kind: decode
    models: [tiny-llama]
    grids: ["4x3"]
    lengths: [[7, 4]]
    kv_modes: [shift]
"""


def test_decode_compiles_once_and_runs_one_step_per_cost_group(snakemake_cmd, repo, tmp_path,
                                                                fake_sdk):
    res = _dry(snakemake_cmd, repo, tmp_path, fake_sdk, "sdk-sim", DECODE + FULL_MODEL)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    counts = _job_counts(out)
    # full-model (the model's heads, the shifting cache):
    # 4 output tokens after 7 on 3 rows: contexts 7..10 -> busiest row 3, 3, 4, 4 tokens,
    # shifting or not: 4 groups of one step (model_metrics.decode_step_plan), one compile (cap 4).
    from waferrepro.meshsim.decode_layout import DecodeLayout
    from waferrepro.model_metrics import decode_step_plan
    from waferrepro.models import arch

    cap, plan = decode_step_plan(DecodeLayout(arch("tiny-llama"), 4, 3), 7, 4, "shift")
    assert counts["compile_csl_decode"] == 1 and counts["run_csl_decode_step"] == len(plan)
    assert counts["record_csl_decode"] == 1 and "run_decode" not in counts
    assert f"--params=width:4,height:3,dy:43,cq:32,ckv:16,cf:64,rep:2,heads:4,cap:{cap}" in out
    assert "--model tiny-llama --context 7 --kv shift" in out
    assert "waferrepro sdk decode-record --steps" in out


def test_decode_and_prefill_compile_and_run_the_presets_layer(snakemake_cmd, repo, tmp_path,
                                                              fake_sdk):
    # paper-kernels: one head of hidden width (heads 1, rep 1), the static cache's step plan,
    # no causal mask; the launchers build the same layer (--preset)
    from waferrepro.meshsim.decode_layout import DecodeLayout
    from waferrepro.model_metrics import decode_step_plan
    from waferrepro.models import arch
    from waferrepro.presets import attention_arch

    config = PREFILL + "schedule_preset: paper-kernels\n"
    res = _dry(snakemake_cmd, repo, tmp_path, fake_sdk, "sdk-sim", config)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    one_head = attention_arch(arch("tiny-llama"), "paper-kernels")
    cap, plan = decode_step_plan(DecodeLayout(one_head, 4, 3), 7, 4, "static")
    assert _job_counts(out)["run_csl_decode_step"] == len(plan)
    assert f"rep:1,heads:1,cap:{cap}," in out
    assert "heads:1,kvh:1,hd:128,tokens:16,gx:4,tree_middle:1,causal:0" in out
    assert out.count("--preset paper-kernels") >= len(plan) + 2  # every decode step, prefills


PREFILL = CONFIG + """  table3:
    kind: prefill
    models: [tiny-llama]
    grids: [4]
    input_lens: [16]
  table2:
    kind: e2e
    setups:
      - {{model: tiny-llama, prefill_grid: 4, decode_grid: "4x3"}}
    lengths: [[7, 4]]
"""


def test_prefill_and_end_to_end_run_the_csl_kernels(snakemake_cmd, repo, tmp_path, fake_sdk):
    res = _dry(snakemake_cmd, repo, tmp_path, fake_sdk, "sdk-sim", PREFILL + FULL_MODEL)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    counts = _job_counts(out)
    # full-model's layer. table3's 16-token prompt and table2's 7-token one: two compiles,
    # two kernel runs; the e2e record combines the 7-token prefill with the KV-shift decode on 4x3.
    assert counts["compile_csl_prefill"] == 2 and counts["run_csl_prefill"] == 2
    assert counts["record_csl_e2e"] == 1 and counts["record_csl_decode"] == 1
    assert "run_prefill" not in counts and "run_end_to_end" not in counts
    assert ("--params=P:4,lt:4,dt:32,cq:32,ckv:16,ft:64,rep:2,heads:4,kvh:2,hd:32,tokens:16,"
            "gx:2") in out
    assert "--system Prefill" in out and "--model tiny-llama --input-len 7" in out
    assert "waferrepro sdk prefill-record --result" in out
    assert "waferrepro sdk e2e-from-parts --prefill-record" in out
    assert "decode/tiny-llama/4x3/in7_out4_kvshift.json" in out


@pytest.mark.parametrize("config,modules", [(DECODE, "Decode"), (PREFILL, "Decode, Prefill")])
def test_wse2_only_kernels_on_wse3_are_refused(snakemake_cmd, repo, tmp_path, fake_sdk, config,
                                               modules):
    res = _dry(snakemake_cmd, repo, tmp_path, fake_sdk, "wse3", config)
    assert res.returncode != 0
    assert f"the CSL of {modules} targets WSE-2" in res.stdout + res.stderr


def test_appliance_mode_compiles_and_runs_through_the_client(snakemake_cmd, repo, tmp_path,
                                                             fake_sdk):
    res = _dry(snakemake_cmd, repo, tmp_path, fake_sdk, "wse2", mode="appliance")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert "waferrepro appliance compile --app" in out
    assert "'--options=--arch=wse2 --fabric-dims=757,996 --fabric-offsets=4,1" in out
    assert "waferrepro appliance run --artifact" in out and "--cmaddr" not in out
    assert "cslc" not in out and "cs_python" not in out


def test_appliance_mode_without_client_stops_before_any_job(snakemake_cmd, repo, tmp_path,
                                                            fake_sdk):
    cfg = tmp_path / "a.yaml"
    cfg.write_text(CONFIG.format(backend="sdk-sim", mode="appliance"))
    res = subprocess.run([*snakemake_cmd, "-s", str(repo / "Snakefile"), "--directory",
                          str(tmp_path / "run"), "--configfile", str(cfg), "-n", "--cores", "1"],
                         capture_output=True, text=True)
    assert res.returncode != 0
    assert "cerebras-sdk client package not found" in res.stdout + res.stderr


def test_sdk_smoke_config_is_a_valid_sdk_run(snakemake_cmd, repo, tmp_path, fake_sdk):
    env = {**os.environ, "CEREBRAS_SDK_DIR": str(fake_sdk)}
    res = subprocess.run([*snakemake_cmd, "-s", str(repo / "Snakefile"), "--directory",
                          str(tmp_path / "run"), "--configfile",
                          str(repo / "config" / "sdk-smoke.yaml"), "-n", "--cores", "1"],
                         capture_output=True, text=True, env=env)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    counts = _job_counts(out)
    assert counts["compile_csl"] == 7 and counts["run_csl"] == 7
    assert counts["compile_csl_decode"] == 2  # shift and concat need different capacities
    assert counts["record_csl_decode"] == 2
    assert counts["compile_csl_prefill"] == 2 and counts["record_csl_e2e"] == 1

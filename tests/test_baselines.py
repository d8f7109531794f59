import json

import numpy as np
import pytest

from waferrepro.baselines import devices, energy


def test_peak_lookup_by_cuda_name():
    assert devices.peak_for("NVIDIA H100 80GB HBM3").hbm_gbs == 3350.0
    assert devices.peak_for("NVIDIA H100 PCIe").fp16_tflops == 756.0
    assert devices.peak_for("NVIDIA A100-SXM4-40GB").hbm_gbs == 1555.0
    assert devices.peak_for("NVIDIA H200").hbm_gbs == 4800.0
    assert devices.peak_for("NVIDIA GeForce RTX 4090") is None


class FakeClock:
    """Time advances 0.3 s per kernel; the energy counter follows a 200 W draw."""

    def __init__(self, resets=0):
        self.t, self.resets = 0.0, resets

    def run(self):
        self.t += 0.3

    def now(self):
        return self.t

    def energy(self):
        if self.resets:  # a counter reset between two reads
            self.resets -= 1
            self.t += 0.01
            return 1e9 if self.resets % 2 else 0.0
        return 200.0 * self.t


def test_energy_window_is_long_enough_and_per_repeat():
    c = FakeClock()
    w = energy.measure(c.run, lambda: None, c.energy, min_window_s=1.0, clock=c.now)
    assert w.seconds >= 1.0 and w.repeats == 4
    assert w.joules_per_repeat == pytest.approx(200.0 * 0.3)
    assert w.mean_power_w == pytest.approx(200.0)


def test_energy_counter_going_backwards_is_retried_then_fails():
    c = FakeClock(resets=2)
    w = energy.measure(c.run, lambda: None, c.energy, clock=c.now)
    assert w.joules > 0
    c = FakeClock(resets=100)
    with pytest.raises(energy.EnergyUnavailable, match="backwards"):
        energy.measure(c.run, lambda: None, c.energy, clock=c.now)


def test_nvml_missing_is_a_clear_error():
    import importlib.util

    if importlib.util.find_spec("pynvml") is not None:
        pytest.skip("nvidia-ml-py installed here")
    with pytest.raises(energy.EnergyUnavailable, match="nvidia-ml-py"):
        energy.nvml_counter()


def test_cpu_matmul_baseline_record():
    from waferrepro import records
    from waferrepro.jobs.baselines import run_matmul_baseline

    rec = run_matmul_baseline("cpu", "1x512x300", warmup=1, repeats=3)
    records.validate(rec)
    assert rec["backend"] == "cpu" and rec["source"] == "measured"
    assert rec["check"]["performed"] and rec["check"]["passed"]
    names = {m["metric"] for m in rec["metrics"]}
    assert {"latency_ms", "tflops", "bandwidth_gbs"} <= names and "utilization" not in names
    assert "energy not measured" in rec["note"]


def test_wrong_baseline_result_fails(monkeypatch):
    from waferrepro.baselines import matmul
    from waferrepro.check import NumericMismatch
    from waferrepro.jobs.baselines import run_matmul_baseline

    real = matmul.run_cpu

    def wrong(shape, warmup, repeats, seed=0):
        out = real(shape, warmup, repeats, seed)
        out["check"] = matmul._check(np.zeros((1, 4)), np.ones((1, 8), np.float32),
                                     np.ones((8, 8), np.float32), np.arange(4), 1e-4)
        return out

    import numpy as np
    monkeypatch.setattr(matmul, "run_cpu", wrong)
    with pytest.raises(NumericMismatch):
        run_matmul_baseline("cpu", "1x64x64", warmup=0, repeats=1)


def test_gpu_baselines_without_gpu_are_skipped_with_reason(tmp_path):
    from waferrepro import records
    from waferrepro.jobs.baselines import run_llm_baseline, run_matmul_baseline

    try:
        import torch
        if torch.cuda.is_available():
            pytest.skip("a GPU is visible here")
    except ImportError:
        pass
    rec = run_matmul_baseline("cuda", "1x64x64", warmup=0, repeats=1)
    records.validate(rec)
    assert rec["source"] == "skipped" and "CUDA" in rec["note"]
    rec = run_llm_baseline("sglang", "llama3-8b", 2048, 128, 8, "cuda", str(tmp_path))
    records.validate(rec)
    assert rec["source"] == "skipped" and "needs 8 CUDA GPUs; 0 visible" in rec["note"]


def test_sglang_command_and_result_parsing(tmp_path):
    from waferrepro.baselines import llm

    cmd = llm.sglang_command(tmp_path / "m", 4096, 128, 8, tmp_path / "r.jsonl", "run1",
                             python="python")
    assert cmd[:3] == ["python", "-m", "sglang.bench_one_batch"]
    joined = " ".join(cmd)
    for part in ("--load-format dummy", "--batch-size 1", "--input-len 4096",
                 "--output-len 128", "--tp-size 8", "--result-filename"):
        assert part in joined
    multi = llm.sglang_command(tmp_path / "m", 4096, 128, 16, tmp_path / "r.jsonl", "r", 2, 1,
                               "node0:5000", python="python")
    assert "--nnodes 2 --node-rank 1 --dist-init-addr node0:5000" in " ".join(multi)
    with pytest.raises(ValueError, match="dist_init_addr"):
        llm.sglang_command(tmp_path, 1, 2, 16, tmp_path / "r", "r", 2, 0, None)

    lines = [{"run_name": "other", "batch_size": 1, "input_len": 1, "output_len": 1},
             {"run_name": "run1", "batch_size": 1, "input_len": 4096, "output_len": 128,
              "prefill_latency": 0.2, "prefill_throughput": 20480.0,
              "median_decode_latency": 0.01, "median_decode_throughput": 100.0,
              "total_latency": 1.47, "overall_throughput": 2873.5}]
    (tmp_path / "r.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    s = llm.parse_sglang_results(tmp_path / "r.jsonl", "run1", 4096, 128)
    assert s["ttft_s"] == 0.2 and s["decode_tpr"] == pytest.approx(100.0)
    assert s["e2e_tpr"] == pytest.approx(128 / 1.47)
    with pytest.raises(RuntimeError, match="asked 1, 4096, 64"):
        llm.parse_sglang_results(tmp_path / "r.jsonl", "run1", 4096, 64)


def test_local_model_dir_and_vllm_args(tmp_path):
    from waferrepro.baselines import llm

    d = llm.prepare_model_dir("llama3-8b", tmp_path)
    assert json.loads((d / "config.json").read_text())["num_key_value_heads"] == 8
    args = llm.vllm_engine_args(d, 2048, 128, 8, "cuda")
    assert args["load_format"] == "dummy" and args["tensor_parallel_size"] == 8
    assert args["max_model_len"] == 2048 + 128 and args["skip_tokenizer_init"]
    ids = llm.prompt_ids("llama3-8b", 100)
    assert len(ids) == 100 and min(ids) >= 3 and max(ids) < 128256
    s = llm.summarize([0.1, 0.3, 0.2], [1.2, 1.0, 1.1], 11)
    assert s["ttft_s"] == 0.2 and s["tpot_s"] == pytest.approx(0.09)


def test_energy_split_prefill_and_decode():
    from waferrepro.baselines.llm import energy_split

    e = energy_split(prefill_j=2.0, request_j=12.0, output_len=11)
    assert e == {"energy_j": 12.0, "prefill_energy_j": 2.0, "decode_energy_j": 1.0}
    assert "decode_energy_j" not in energy_split(2.0, 2.0, 1)


def test_sglang_record_says_what_was_checked(tmp_path, monkeypatch):
    """bench_one_batch reports no token count: the record must not claim one was checked
    (issue 12), and says what was compared."""
    import subprocess
    import sys
    import types

    from waferrepro import records
    from waferrepro.baselines import llm
    from waferrepro.jobs import baselines as runner

    row = {"run_name": "llama3-8b_in64_out8_tp1", "batch_size": 1, "input_len": 64,
           "output_len": 8, "prefill_latency": 0.02, "median_decode_latency": 0.01,
           "total_latency": 0.1}

    real_run = subprocess.run

    def fake_bench(cmd, **kwargs):  # what bench_one_batch appends to --result-filename
        if "sglang.bench_one_batch" not in cmd:
            return real_run(cmd, **kwargs)  # provenance's git calls
        out = cmd[cmd.index("--result-filename") + 1]
        with open(out, "a") as fh:
            fh.write(json.dumps(row) + "\n")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setitem(sys.modules, "sglang", types.SimpleNamespace(__version__="0.0-test"))
    monkeypatch.setattr(llm.subprocess, "run", fake_bench)
    monkeypatch.setattr(llm, "prepare_model_dir", lambda model, root, tokenizer=False: tmp_path)
    monkeypatch.setattr(runner, "_gpu_inventory", lambda: (1, "Test GPU"))
    rec = records.validate(runner.run_llm_baseline("sglang", "llama3-8b", 64, 8, 1, "cuda",
                                                   str(tmp_path)))
    reason = rec["check"]["reason"]
    assert rec["source"] == "measured" and "produced exactly" not in reason
    assert "not counted" in reason and "batch 1, input 64, output 8" in reason
    assert "7 decode steps" in reason


def test_cpu_matmul_checks_free_memory_first(monkeypatch):
    """Too little free memory gives a skipped record with bytes needed and available, before
    anything is allocated (issue 12: [1,32K]x[32K,32K] peaked at 8.4 GB)."""
    from waferrepro import records
    from waferrepro.baselines import matmul
    from waferrepro.jobs.baselines import run_matmul_baseline

    need = matmul.host_bytes_needed((1, 512, 300), np.float32)
    assert need >= 4 * (512 + 512 * 300 + 2 * 300)
    monkeypatch.setattr(matmul, "available_memory_bytes", lambda: need - 1)
    monkeypatch.setattr(matmul, "_inputs", lambda *a: pytest.fail("allocated anyway"))
    rec = records.validate(run_matmul_baseline("cpu", "1x512x300", warmup=0, repeats=1))
    assert rec["source"] == "skipped" and rec["backend"] == "cpu"
    assert f"needs {need} bytes" in rec["note"] and f"{need - 1} available" in rec["note"]
    # The 32K GEMV's peak: the operands plus one 64 MiB block, not two full copies of B.
    big = matmul.host_bytes_needed((1, 32768, 32768), np.float32)
    assert big < 4 * 32768 * 32768 * 1.02


def test_blockwise_operands_are_the_same_numbers(monkeypatch):
    from waferrepro.baselines import matmul

    a, b, cols = matmul._inputs((3, 40, 50), 7, np.float16)
    monkeypatch.setattr(matmul, "GEN_BLOCK_BYTES", 4 * 50 * 3)  # 3-row blocks
    a2, b2, cols2 = matmul._inputs((3, 40, 50), 7, np.float16)
    rng = np.random.default_rng(7)
    ref_a = rng.standard_normal((3, 40), dtype=np.float32).astype(np.float16)
    ref_b = rng.standard_normal((40, 50), dtype=np.float32).astype(np.float16)
    for x in (a, a2):
        assert np.array_equal(x, ref_a)
    for x in (b, b2):
        assert np.array_equal(x, ref_b)
    assert np.array_equal(cols, cols2)

"""Host side of the SDK backends, as far as this machine allows (no SDK here): parameters,
command lines, timestamp decoding, and the packing the launcher shares with meshsim."""

import numpy as np
import pytest

from waferrepro import cli
from waferrepro.hardware import WSE2
from waferrepro.sdk import timing as sdk_timing
from waferrepro.sdk import toolchain as sdk


def test_kernel_params_follow_the_simulator_tiles():
    assert sdk.kernel_params("MeshGEMV", (1, 16384, 16384), 720, 720, "full-model") == {
        "width": 720, "height": 720, "kt": 23, "nt": 23, "group": 27, "tree_middle": 0,
        "packed": 0, "acc32": 1}
    # the tree's form follows the schedule preset (its meshsim twin's tree_root)
    for preset, middle in (("paper-kernels", 1), ("full-model", 0)):
        assert sdk.kernel_params("MeshGEMV", (1, 64, 64), 4, 4,
                                 preset=preset)["tree_middle"] == middle
    assert sdk.kernel_params("MeshGEMM", (2048, 1000, 300), 8, 8, "full-model") == {
        "P": 8, "Mt": 256, "Kt": 125, "Nt": 38, "packed": 0, "acc32": 1}
    with pytest.raises(ValueError, match="square"):
        sdk.kernel_params("MeshGEMM", (64, 64, 64), 8, 4)


def test_packed_follows_the_presets_fp16_per_wavelet():
    from waferrepro.presets import PRESETS, options
    from waferrepro.sdk import dsd_limits

    for preset in PRESETS:  # one source of truth: presets.options
        packed = int(options(preset)["fp16_per_wavelet"] == 2)
        gemv = sdk.kernel_params("MeshGEMV", (1, 16384, 16384), 720, 720, preset)
        gemm = sdk.kernel_params("MeshGEMM", (2048, 1000, 300), 8, 8, preset)
        assert gemv["packed"] == gemm["packed"] == packed
        assert gemv["nt"] == 23 and gemm["Kt"] == 125  # tiles unchanged: the kernels pad
    # packed, the kernels pad an odd transfer buffer by one (NT_WIRE, A_WIRE): the wire
    # length is what must fit the DSD extent
    edge = {"width": 1, "height": 1, "kt": 1, "nt": 32767, "group": 1, "tree_middle": 0}
    dsd_limits.check("MeshGEMV", {**edge, "packed": 0})
    with pytest.raises(ValueError, match="tree extent NT_WIRE = 32768 > 32767"):
        dsd_limits.check("MeshGEMV", {**edge, "packed": 1})
    gemm = {"P": 2, "Mt": 1, "Kt": 32767, "Nt": 1}
    dsd_limits.check("MeshGEMM", {**gemm, "packed": 0})
    with pytest.raises(ValueError, match="ring extent A_WIRE = 32768"):
        dsd_limits.check("MeshGEMM", {**gemm, "packed": 1})


def test_acc32_follows_the_presets_accumulate():
    from waferrepro.models import arch
    from waferrepro.presets import PRESETS, options
    from waferrepro.sdk import dsd_limits
    from waferrepro.sdk.inputs import prefill_params

    for preset in PRESETS:  # one source of truth: presets.options
        acc32 = int(options(preset)["accumulate"] == "fp32")
        gemv = sdk.kernel_params("MeshGEMV", (1, 64, 64), 4, 4, preset)
        gemm = sdk.kernel_params("MeshGEMM", (64, 64, 64), 4, 4, preset)
        prefill = prefill_params(arch("tiny-llama"), 4, 16, preset=preset)
        assert gemv["acc32"] == gemm["acc32"] == prefill["acc32"] == acc32
    assert sdk.kernel_params("MeshGEMV", (1, 64, 64), 4, 4, "full-model")["acc32"] == 1
    assert sdk.kernel_params("MeshGEMM", (64, 64, 64), 4, 4, "paper-kernels")["acc32"] == 0
    # f32 partial sums are never packed: MeshGEMV's tree extent is nt itself (no pad) ...
    edge = {"width": 1, "height": 1, "kt": 1, "nt": 32767, "group": 1, "tree_middle": 0,
            "packed": 1}
    dsd_limits.check("MeshGEMV", {**edge, "acc32": 1})
    with pytest.raises(ValueError, match="NT_WIRE = 32768"):
        dsd_limits.check("MeshGEMV", {**edge, "acc32": 0})
    # ... and an f32 C's row offsets count 16-bit words, two per element
    gemm = {"P": 2, "Mt": 3, "Kt": 1, "Nt": 10000, "packed": 0}
    dsd_limits.check("MeshGEMM", {**gemm, "acc32": 0})  # (Mt-1)*Nt = 20000
    with pytest.raises(ValueError, match=r"c_dsd offset 2\*\(Mt-1\)\*Nt words \(f32 C\) = 40000"):
        dsd_limits.check("MeshGEMM", {**gemm, "acc32": 1})


def test_compile_command_simulator_and_device():
    spec = sdk.CompileSpec("MeshGEMV", 4, 3, {"width": 4, "height": 3, "kt": 8, "nt": 6})
    cmd = sdk.compile_command(spec, "simulator", "kernels/MeshGEMV/layout.csl", "out")
    assert cmd == ["cslc", "--arch=wse2", "kernels/MeshGEMV/layout.csl", "--fabric-dims=11,5",
                   "--fabric-offsets=4,1", "--params=width:4,height:3,kt:8,nt:6", "-o", "out",
                   "--memcpy", "--channels=1", "--width-west-buf=0", "--width-east-buf=0"]
    dev = sdk.compile_command(spec, "device", "l.csl", "out")
    assert "--fabric-dims=757,996" in dev
    wse3 = sdk.compile_command(sdk.CompileSpec("MeshGEMV", 4, 3, spec.params, arch="wse3"),
                               "device", "l.csl", "o")
    assert "--arch=wse3" in wse3 and "--fabric-dims=762,1172" in wse3
    with pytest.raises(ValueError, match="does not fit"):
        sdk.fabric_dims(sdk.CompileSpec("MeshGEMM", 751, 751, {}), "device")


def test_run_commands():
    assert sdk.run_command("run.py", "out", "simulator") == ["cs_python", "run.py", "--name",
                                                             "out"]
    assert sdk.run_command("run.py", "out", "device", "10.0.0.1:9000")[-2:] == [
        "--cmaddr", "10.0.0.1:9000"]
    with pytest.raises(ValueError, match="cmaddr"):
        sdk.run_command("run.py", "out", "device")


def test_u48_from_known_words():
    assert int(sdk_timing.u48([0x1234, 0x5678, 0x9ABC])) == 0x9ABC56781234
    assert int(sdk_timing.u48([0xFFFF, 0xFFFF, 0xFFFF])) == 2**48 - 1


def _words(values):
    v = np.asarray(values, dtype=np.uint64)
    return np.stack([v & 0xFFFF, (v >> 16) & 0xFFFF, (v >> 32) & 0xFFFF], axis=-1)


def _time_buf(ref, begins, ends):
    """time_buf as sync_timer.csl lays it out: ref, then begin and end of each timed run."""
    from waferrepro.sdk.timing import STAMP_WORDS

    h, w = ref.shape
    buf = np.zeros((h, w, STAMP_WORDS), dtype=np.uint32)
    buf[..., 0:3] = _words(ref)
    for r, (b, e) in enumerate(zip(begins, ends, strict=True)):
        buf[..., 3 + 6 * r: 6 + 6 * r] = _words(b)
        buf[..., 6 + 6 * r: 9 + 6 * r] = _words(e)
    return buf


def test_run_statistics_align_counters_and_take_mean_and_max_over_runs():
    from waferrepro.sdk.timing import run_statistics

    # 2x3 cores; every counter has its own arbitrary offset; the sync wavelet arrives at
    # (x + y) cycles of core (0, 0)'s time. Run 0 spans t=100..1100 (core (0,0) time) over
    # the earliest/latest cores, run 1 t=1200..1700, run 2 t=1800..2400.
    h, w = 2, 3
    offsets = np.array([[5, 2**40, 17], [123456, 9, 2**33]], dtype=np.int64)
    hops = np.add.outer(np.arange(h), np.arange(w))
    ref = hops + offsets  # counter value when the sync wavelet arrives
    begins, ends = [], []
    for t0, t1 in ((100, 1100), (1200, 1700), (1800, 2400)):
        b = np.full((h, w), t0 + 50) + offsets
        b[0, 2] = t0 + offsets[0, 2]
        e = np.full((h, w), t1 - 100) + offsets
        e[1, 1] = t1 + offsets[1, 1]
        begins.append(b)
        ends.append(e)
    stats = run_statistics(_time_buf(ref, begins, ends), 3)
    assert stats["cycles_per_run"] == [1000, 500, 600]
    assert stats["cycles_mean"] == pytest.approx(700) and stats["cycles_max"] == 1000
    assert stats["span_mean"] == pytest.approx((2400 - 100) / 3)
    with pytest.raises(ValueError, match="out of order"):
        run_statistics(_time_buf(ref, ends, begins), 3)


def test_timing_defaults_are_the_authors_and_match_the_kernels_capacity():
    import re
    from pathlib import Path

    from waferrepro.sdk.timing import MAX_TIMED_RUNS, runs_for

    assert runs_for("sdk-sim") == (1, 5) and runs_for("wse2") == (10, 100)
    assert runs_for("wse3") == (5, 50) and runs_for("wse2", 0, 3) == (0, 3)
    with pytest.raises(ValueError, match="repeats"):
        runs_for("wse2", 1, MAX_TIMED_RUNS + 1)
    csl = (Path(__file__).resolve().parents[1] / "kernels/common/sync_timer.csl").read_text()
    assert int(re.search(r"const MAX_RUNS: i16 = (\d+);", csl).group(1)) == MAX_TIMED_RUNS


def test_memcpy_16bit_words_carry_fp16_in_the_low_half():
    from waferrepro.sdk.launch import f16_to_words, words_to_f16

    tiles = np.random.default_rng(1).standard_normal((3, 4, 5)).astype(np.float16)
    words = f16_to_words(tiles)
    assert words.dtype == np.uint32 and words.size == 60 and (words >> 16).max() == 0
    np.testing.assert_array_equal(words_to_f16(words | 0xABCD0000, (3, 4, 5)), tiles)


def test_memcpy_32bit_words_carry_one_f32_each_and_the_check_follows_acc32():
    from waferrepro.check import tolerance
    from waferrepro.sdk.launch import accumulate_check, words_to_f32

    vals = np.random.default_rng(2).standard_normal((2, 3, 4)).astype(np.float32)
    words = vals.view(np.uint32).ravel()
    np.testing.assert_array_equal(words_to_f32(words, (2, 3, 4)), vals)
    fp32 = accumulate_check({"acc32": 1}, 4096)
    assert fp32["rtol"] == tolerance("fp32", 4096)["rtol"] and "@fmachs" in fp32["reference"]
    fp16 = accumulate_check({"acc32": 0}, 4096)
    assert fp16["rtol"] == tolerance("fp16", 4096)["rtol"] and "@fmach)" in fp16["reference"]


def test_result_document_checks_and_records_what_it_compared():
    from waferrepro.sdk.launch import result_document

    ref = np.arange(6.0).reshape(2, 3)
    timing = {"cycles_mean": 123.5, "cycles_max": 130, "cycles_per_run": [117, 130],
              "repeats": 2, "warmup": 1}
    good = result_document(ref + 1e-4, ref, timing, 2, 2, {"P": 2}, None)
    assert good["check"]["passed"] and good["rows_agree"] is None and good["cycles"] == 123.5
    assert good["timing"]["cycles_per_run"] == [117, 130]
    assert "fp16" in good["check"]["reference"]
    assert not result_document(ref + 1.0, ref, timing, 2, 2, {}, None)["check"]["passed"]
    # MeshGEMM / MeshGEMV pass their accumulate's check (launch.accumulate_check)
    fp32 = {"rtol": 1e-3, "atol": 1e-6, "reference": "fp32 accumulate"}
    doc = result_document(ref + 1e-3, ref, timing, 2, 2, {}, None, fp32)
    assert doc["check"]["passed"] and doc["check"]["reference"] == "fp32 accumulate"
    assert not result_document(ref + 1e-2, ref, timing, 2, 2, {}, None, fp32)["check"]["passed"]


def test_appliance_commands_and_missing_client(monkeypatch, capsys):
    import builtins

    from waferrepro import cli
    from waferrepro.sdk import appliance

    assert appliance.remote_command("--shape 64x64x64 --seed 3", simulator=True) == (
        "cs_python run.py --name out --shape 64x64x64 --seed 3 --out-json result.json")
    assert appliance.remote_command("--shape 1x8x8", simulator=False).endswith(
        "--cmaddr %CMADDR%")
    real_import = builtins.__import__

    def no_cerebras(name, *args, **kwargs):
        if name.startswith("cerebras"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_cerebras)
    assert cli.main(["appliance", "compile", "--app", "src", "--options=--arch=wse2",
                     "--out", "out"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "cerebras-sdk" in err and "own environment" in err


def test_compile_options_for_appliance_mode():
    spec = sdk.CompileSpec("MeshGEMM", 4, 4, {"P": 4, "Mt": 2, "Kt": 2, "Nt": 2}, arch="wse3")
    opts = sdk.compiler_options(spec, "device", "out")
    assert opts[0] == "--arch=wse3" and "--fabric-dims=762,1172" in opts
    assert "--params=P:4,Mt:2,Kt:2,Nt:2" in opts and opts[opts.index("-o") + 1] == "out"
    # the direct command is the same options around cslc and the layout
    assert sdk.compile_command(spec, "device", "l.csl", "out") == ["cslc", opts[0], "l.csl",
                                                                    *opts[1:]]


def test_decode_record_weights_step_cycles_by_group_size(tmp_path):
    import json

    from waferrepro import records
    from waferrepro.check import NumericMismatch
    from waferrepro.jobs.sdk import record_from_sdk_decode

    def step(name, cycles, passed=True):
        path = tmp_path / name
        path.write_text(json.dumps({
            "cycles": cycles, "rows_agree": True, "width": 4, "height": 3, "params": {},
            "check": {"passed": passed, "max_abs_err": 0.01, "max_rel_err": 0.002,
                      "rtol": 0.02, "atol": 0.001, "reference": "numpy float64"}}))
        return str(path)

    steps = [step("a.json", 1000), step("b.json", 4000)]
    rec = record_from_sdk_decode(steps, [3, 1], "tiny-llama", "4x3", 7, 4, "shift", "sdk-sim",
                                 WSE2)
    records.validate(rec)
    m = {x["metric"]: x["value"] for x in rec["metrics"]}
    assert m["cycles_per_layer"] == pytest.approx((3 * 1000 + 4000) / 4)
    assert m["cycles"] == pytest.approx(m["cycles_per_layer"] * 2)  # tiny-llama: 2 layers
    assert rec["source"] == "simulated" and rec["backend"] == "sdk-sim"
    assert "SDK simulator" in rec["provenance"]["device"]
    assert rec["what"]["params"]["step_counts"] == [3, 1]
    with pytest.raises(ValueError, match="do not cover"):
        record_from_sdk_decode(steps, [3, 2], "tiny-llama", "4x3", 7, 4, "shift", "sdk-sim",
                               WSE2)
    with pytest.raises(NumericMismatch):
        record_from_sdk_decode([step("c.json", 10, passed=False)], [4], "tiny-llama", "4x3",
                               7, 4, "shift", "wse2", WSE2)


def _launcher_json(path, cycles, passed=True, preset=None, params=None):
    import json

    doc = {"cycles": cycles, "rows_agree": None, "width": 4, "height": 4,
           "params": params or {},
           "check": {"passed": passed, "max_abs_err": 0.01, "max_rel_err": 0.003,
                     "rtol": 0.02, "atol": 0.001, "reference": "numpy float64"}}
    if preset:
        doc["preset"] = preset
    path.write_text(json.dumps(doc))
    return str(path)


def test_sdk_model_records_follow_the_launchers_preset(tmp_path):
    # The Decode / Prefill launchers build the preset's layer (sdk.inputs); their records
    # compute memory and metrics on that layer, say the preset, and refuse mixed parts.
    from waferrepro import records
    from waferrepro.jobs.sdk import (
        record_from_parts_e2e,
        record_from_sdk_decode,
        record_from_sdk_prefill,
    )
    from waferrepro.model_metrics import prefill_metrics
    from waferrepro.models import arch
    from waferrepro.presets import attention_arch
    from waferrepro.presets import hardware as preset_hardware

    # the kernel as compiled under paper-kernels: packed, fp16 accumulate (no acc32)
    pre = record_from_sdk_prefill(_launcher_json(tmp_path / "p.json", 50_000,
                                                 preset="paper-kernels", params={"packed": 1}),
                                  "tiny-llama", "4x4", 7, "sdk-sim", WSE2, "")
    assert pre["what"]["preset"] == "paper-kernels"
    assert pre["hardware"]["accumulate"] == "fp16"  # the kernel's, not WSE2's nominal
    assert pre["hardware"]["fp16_per_wavelet"] == 2
    paper_hw = preset_hardware(WSE2, "paper-kernels")
    one_head, _ = prefill_metrics(paper_hw, attention_arch(arch("tiny-llama"), "paper-kernels"),
                                  4, 7, causal=False)
    model, _ = prefill_metrics(paper_hw, arch("tiny-llama"), 4, 7)
    m = {x["metric"]: x["value"] for x in pre["metrics"]}
    assert m["bytes_per_core"] == one_head["bytes_per_core"][0] != model["bytes_per_core"][0]
    steps = [_launcher_json(tmp_path / f"s{i}.json", 20_000, preset=preset)
             for i, preset in enumerate(["paper-kernels", "full-model"])]
    with pytest.raises(ValueError, match="different presets"):
        record_from_sdk_decode(steps, [2, 2], "tiny-llama", "4x3", 7, 4, "shift", "sdk-sim",
                               WSE2)
    dec = record_from_sdk_decode(steps[1:], [4], "tiny-llama", "4x3", 7, 4, "shift", "sdk-sim",
                                 WSE2)
    assert dec["what"]["preset"] == "full-model"
    paths = []
    for name, rec in (("pre.json", pre), ("dec.json", dec)):
        records.write(rec, tmp_path / name)
        paths.append(str(tmp_path / name))
    with pytest.raises(ValueError, match="different presets"):
        record_from_parts_e2e(*paths, "tiny-llama", "4x4", "4x3", 7, 4, "sdk-sim", WSE2)


def test_sdk_params_cli_gives_decode_and_prefill_the_presets_layer(capsys):
    base = ["sdk", "params", "--model", "tiny-llama"]
    pre = [*base, "--system", "Prefill", "--cores", "4x4", "--input-len", "16"]
    assert cli.main([*pre, "--preset", "paper-kernels"]) == 0
    out = dict(kv.split(":") for kv in capsys.readouterr().out.strip().split(","))
    assert (out["heads"], out["kvh"], out["causal"], out["acc32"]) == ("1", "1", "0", "0")
    assert cli.main([*pre, "--preset", "full-model"]) == 0  # fp32 accumulate: @fmachs form
    out = dict(kv.split(":") for kv in capsys.readouterr().out.strip().split(","))
    assert out["causal"] == "1" and int(out["heads"]) == arch_heads("tiny-llama")
    assert (out["acc32"], out["packed"]) == ("1", "0")
    dec = [*base, "--system", "Decode", "--cores", "4x3", "--context", "7"]
    assert cli.main([*dec, "--preset", "paper-kernels"]) == 0
    out = dict(kv.split(":") for kv in capsys.readouterr().out.strip().split(","))
    assert (out["heads"], out["rep"], out["packed"]) == ("1", "1", "1")
    assert cli.main([*dec, "--preset", "full-model"]) == 0  # one fp16 per wavelet
    out = dict(kv.split(":") for kv in capsys.readouterr().out.strip().split(","))
    assert out["packed"] == "0" and int(out["heads"]) == arch_heads("tiny-llama")


def arch_heads(model):
    from waferrepro.models import arch

    return arch(model).heads


def test_prefill_record_and_e2e_from_sdk_parts(tmp_path):
    from waferrepro import records
    from waferrepro.check import NumericMismatch
    from waferrepro.jobs.meshsim import run_end_to_end
    from waferrepro.jobs.sdk import (
        record_from_parts_e2e,
        record_from_sdk_decode,
        record_from_sdk_prefill,
    )
    from waferrepro.model_metrics import prefill_metrics
    from waferrepro.models import arch

    pre = record_from_sdk_prefill(_launcher_json(tmp_path / "p.json", 50_000,
                                                 preset="full-model"), "tiny-llama",
                                  "4x4", 7, "sdk-sim", WSE2, "cs_python run.py ...")
    records.validate(pre)
    m = {x["metric"]: x["value"] for x in pre["metrics"]}
    assert m["cycles_per_layer"] == 50_000 and m["cycles"] == 100_000  # 2 layers
    assert m["ttft_ms"] == pytest.approx(100_000 / WSE2.clock_hz * 1e3)
    # memory from meshsim's plan on the hardware as the kernel ran (its params: unpacked,
    # fp16 accumulate), which allocates what the kernel does
    from dataclasses import replace

    sim, _ = prefill_metrics(replace(WSE2, accumulate="fp16"), arch("tiny-llama"), 4, 7)
    assert m["bytes_per_core"] == sim["bytes_per_core"][0]
    assert pre["source"] == "simulated" and "CSL Prefill" in pre["note"]
    with pytest.raises(NumericMismatch):
        record_from_sdk_prefill(_launcher_json(tmp_path / "bad.json", 9, passed=False),
                                "tiny-llama", "4x4", 7, "wse2", WSE2, "")

    steps = [_launcher_json(tmp_path / f"s{i}.json", 20_000, preset="full-model")
             for i in range(2)]
    dec = record_from_sdk_decode(steps, [2, 2], "tiny-llama", "4x3", 7, 4, "shift", "sdk-sim",
                                 WSE2)
    paths = []
    for name, rec in (("pre.json", pre), ("dec.json", dec)):
        records.write(rec, tmp_path / name)
        paths.append(str(tmp_path / name))
    e2e = record_from_parts_e2e(*paths, "tiny-llama", "4x4", "4x3", 7, 4, "sdk-sim", WSE2)
    records.validate(e2e)
    e = {x["metric"]: x["value"] for x in e2e["metrics"]}
    d = {x["metric"]: x["value"] for x in dec["metrics"]}
    assert e["latency_ms"] == pytest.approx(m["ttft_ms"] + 4 * d["tpot_ms"])
    assert e["e2e_tpr_tokens_per_s"] == pytest.approx(4 / (e["latency_ms"] / 1e3))
    # the same combination meshsim's e2e uses
    sim_e2e = run_end_to_end("tiny-llama", "4x4", "4x3", 7, 4, WSE2, "cycle-model",
                             preset="full-model")
    assert {x["metric"] for x in sim_e2e["metrics"]} == set(e)
    with pytest.raises(ValueError, match="not a Decode record"):
        record_from_parts_e2e(paths[0], paths[0], "tiny-llama", "4x4", "4x3", 7, 4, "sdk-sim",
                              WSE2)
    with pytest.raises(ValueError, match="expected a wse2 run"):
        record_from_parts_e2e(*paths, "tiny-llama", "4x4", "4x3", 7, 4, "wse2", WSE2)


def test_sdk_params_cli_takes_the_schedule_preset(capsys):
    base = ["sdk", "params", "--system", "MeshGEMV", "--cores", "5x3", "--shape", "1x64x64"]
    assert cli.main([*base, "--preset", "paper-kernels"]) == 0
    # middle roots, two fp16 per wavelet (the kernel pads its odd nt = 13 vector itself)
    assert (capsys.readouterr().out.strip()
            == "width:5,height:3,kt:22,nt:13,group:2,tree_middle:1,packed:1,acc32:0")
    from waferrepro.presets import DEFAULT_PRESET

    assert cli.main(base) == 0  # the default preset: presets.DEFAULT_PRESET, as the config's
    default = capsys.readouterr().out
    assert cli.main([*base, "--preset", DEFAULT_PRESET]) == 0
    assert capsys.readouterr().out == default
    assert cli.main([*base, "--preset", "full-model"]) == 0  # edge roots, unpacked, fp32
    assert capsys.readouterr().out.strip().endswith(
        ",nt:13,group:2,tree_middle:0,packed:0,acc32:1")
    gemm = ["sdk", "params", "--system", "MeshGEMM", "--cores", "4x4", "--shape", "64x64x64"]
    assert cli.main([*gemm, "--preset", "full-model"]) == 0
    assert capsys.readouterr().out.strip() == "P:4,Mt:16,Kt:16,Nt:16,packed:0,acc32:1"


def test_e2e_from_parts_with_a_skipped_part_is_a_skipped_record(tmp_path):
    """A part recorded as skipped (source 'skipped', as every skipped record is marked) gives
    a skipped end-to-end record naming it, not a KeyError (issue 12)."""
    from waferrepro import records
    from waferrepro.jobs.sdk import (
        record_from_parts_e2e,
        record_from_sdk_decode,
        record_from_sdk_prefill,
    )

    pre = record_from_sdk_prefill(_launcher_json(tmp_path / "p.json", 50_000,
                                                 preset="full-model"), "tiny-llama",
                                  "4x4", 7, "sdk-sim", WSE2, "cs_python run.py ...")
    dec = record_from_sdk_decode([_launcher_json(tmp_path / "s.json", 20_000,
                                                 preset="full-model")], [4],
                                 "tiny-llama", "4x3", 7, 4, "shift", "sdk-sim", WSE2)
    reason = "per-core memory exceeded on wse2: needs 60000 bytes, available 49152 bytes"
    dec.update(source="skipped", mode="skipped", metrics=[], note=f"skipped: {reason}",
               check={"performed": False, "passed": None, "reason": reason})
    paths = [str(records.write(rec, tmp_path / name))
             for name, rec in (("pre.json", pre), ("dec.json", dec))]
    e2e = records.validate(record_from_parts_e2e(*paths, "tiny-llama", "4x4", "4x3", 7, 4,
                                                 "sdk-sim", WSE2))
    assert e2e["source"] == "skipped" and e2e["metrics"] == [] and e2e["backend"] == "sdk-sim"
    assert dec["job"] in e2e["note"] and reason in e2e["note"]


def test_hardware_overrides_reach_the_kernel_forms_as_they_reach_meshsim():
    # twin_hardware: the preset's packing and accumulate unless the config's overrides set
    # them (presets.hardware); the CSL params follow it, the launchers' layer checks ignore it
    from waferrepro.hardware_profiles import get_hardware
    from waferrepro.models import arch
    from waferrepro.sdk import launch
    from waferrepro.sdk.inputs import decode_params, prefill_params

    hw = get_hardware("wse2", {"fp16_per_wavelet": 2, "accumulate": "fp16"})
    gemv = sdk.kernel_params("MeshGEMV", (1, 64, 64), 5, 3, preset="full-model", hw=hw)
    assert (gemv["packed"], gemv["acc32"]) == (1, 0)
    assert sdk.kernel_params("MeshGEMV", (1, 64, 64), 5, 3, preset="full-model")["packed"] == 0
    a = arch("tiny-llama")
    dec = decode_params(a, 4, 3, 7, "shift", preset="full-model", hw=hw)
    pre = prefill_params(a, 4, 16, preset="full-model", hw=hw)
    assert dec["packed"] == pre["packed"] == 1
    plain = decode_params(a, 4, 3, 7, "shift", preset="full-model")
    assert plain["packed"] == 0 and launch.layer_params(plain) == launch.layer_params(dec)

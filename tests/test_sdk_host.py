"""Host side of the SDK backends, as far as this machine allows (no SDK here): parameters,
command lines, timestamp decoding, and the packing the launcher shares with meshsim."""

import numpy as np
import pytest

from waferrepro.hardware import WSE2
from waferrepro.host import pack_cannon, unpack_cannon
from waferrepro.meshsim import make_inputs
from waferrepro.sdk import toolchain as sdk


def test_kernel_params_follow_the_simulator_tiles():
    assert sdk.kernel_params("MeshGEMV", (1, 16384, 16384), 720, 720) == {
        "width": 720, "height": 720, "kt": 23, "nt": 23, "group": 27}
    assert sdk.kernel_params("MeshGEMM", (2048, 1000, 300), 8, 8) == {
        "P": 8, "Mt": 256, "Kt": 125, "Nt": 38}
    with pytest.raises(ValueError, match="square"):
        sdk.kernel_params("MeshGEMM", (64, 64, 64), 8, 4)


def test_compile_command_simulator_and_device():
    spec = sdk.CompileSpec("MeshGEMV", 4, 3, {"width": 4, "height": 3, "kt": 8, "nt": 6})
    cmd = sdk.compile_command(spec, "simulator", "kernels/MeshGEMV/layout.csl", "out")
    assert cmd == ["cslc", "--arch=wse2", "kernels/MeshGEMV/layout.csl", "--fabric-dims=11,5",
                   "--fabric-offsets=4,1", "--params=width:4,height:3,kt:8,nt:6", "-o", "out",
                   "--memcpy", "--channels=1", "--width-west-buf=0", "--width-east-buf=0"]
    dev = sdk.compile_command(spec, "device", "l.csl", "out")
    assert "--fabric-dims=757,996" in dev
    wse3 = sdk.compile_command(sdk.CompileSpec("MeshGEMV", 4, 3, {}, arch="wse3"), "device",
                               "l.csl", "o")
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
    assert int(sdk.u48([0x1234, 0x5678, 0x9ABC])) == 0x9ABC56781234
    assert int(sdk.u48([0xFFFF, 0xFFFF, 0xFFFF])) == 2**48 - 1


def _words(values):
    v = np.asarray(values, dtype=np.uint64)
    return np.stack([v & 0xFFFF, (v >> 16) & 0xFFFF, (v >> 32) & 0xFFFF], axis=-1)


def test_elapsed_cycles_aligns_counters():
    # 2x3 cores; every counter has its own arbitrary offset; the sync wavelet arrives at
    # (x + y) cycles of core (0, 0)'s time. The kernel ran from t=100 to t=1100 (core (0,0)
    # time) on the earliest/latest cores.
    h, w = 2, 3
    offsets = np.array([[5, 2**40, 17], [123456, 9, 2**33]], dtype=np.int64)
    hops = np.add.outer(np.arange(h), np.arange(w))
    ref = hops + offsets  # counter value when the sync wavelet arrives
    start = np.full((h, w), 150) + offsets
    start[0, 2] = 100 + offsets[0, 2]
    end = np.full((h, w), 900) + offsets
    end[1, 1] = 1100 + offsets[1, 1]
    assert sdk.elapsed_cycles(_words(start), _words(end), _words(ref)) == 1000
    assert sdk.cycles_to_seconds(1100, WSE2.clock_hz) == pytest.approx(1e-6)


def test_launcher_packing_round_trip_through_meshsim():
    """What the launcher sends and unpacks (host.pack_cannon / unpack_cannon) is what meshsim
    computes on: pack -> the simulator's Cannon steps -> unpack gives the NumPy product."""
    from waferrepro.meshsim.fabric import Fabric
    from waferrepro.meshsim.gemm import cannon_loop

    a, b = make_inputs((40, 24, 32), seed=5)
    p = 4
    pa, pb = pack_cannon(a.astype(np.float32), b.astype(np.float32), p, interleaved=True)
    fab = Fabric(WSE2, p, p, functional=True)
    c = cannon_loop(fab, pa, pb, np.zeros((p, p, 10, 8), np.float32), 0, 60, 48, True)
    out = unpack_cannon(c, 40, 32, interleaved=True)
    np.testing.assert_allclose(out, a.astype(np.float64) @ b, rtol=1e-5, atol=1e-4)


def test_record_from_launcher_result(tmp_path):
    import json

    from waferrepro import records
    from waferrepro.check import NumericMismatch
    from waferrepro.jobs.sdk import record_from_sdk

    result = {"cycles": 2200, "rows_agree": True, "width": 4, "height": 4,
              "params": {"width": 4, "height": 4, "kt": 128, "nt": 128},
              "check": {"passed": True, "max_abs_err": 0.01, "max_rel_err": 0.001,
                        "rtol": 0.02, "atol": 0.001, "reference": "numpy float64"}}
    path = tmp_path / "r.json"
    path.write_text(json.dumps(result))
    rec = record_from_sdk(str(path), "MeshGEMV", "1x512x512", "4x4", "sdk-sim", WSE2,
                          "cs_python run.py")
    records.validate(rec)
    assert rec["backend"] == "sdk-sim" and rec["source"] == "simulated"
    m = {x["metric"]: x["value"] for x in rec["metrics"]}
    assert m["latency_ms"] == pytest.approx(2200 / 1.1e9 * 1e3)
    wafer = record_from_sdk(str(path), "MeshGEMV", "1x512x512", "4x4", "wse2", WSE2, "")
    assert wafer["source"] == "measured" and wafer["mode"] == "hardware"
    result["rows_agree"] = False  # the broadcast did not reach every row
    path.write_text(json.dumps(result))
    with pytest.raises(NumericMismatch):
        record_from_sdk(str(path), "MeshGEMV", "1x512x512", "4x4", "sdk-sim", WSE2, "")


def test_staged_folder_holds_module_common_library_and_host_bundle(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from waferrepro.sdk import appliance

    kernels = Path(__file__).resolve().parents[1] / "kernels"
    out = tmp_path / "src"
    layout = sdk.stage_sources(str(kernels), "MeshGEMM", str(out))
    appliance.host_bundle(str(out / appliance.BUNDLE))
    assert layout == str(out / "layout.csl")
    assert {"layout.csl", "pe_program.csl", "run.py"} <= {p.name for p in out.iterdir()}
    assert (out / "common" / "ring_shift.csl").exists()
    # The launcher's imports work from the bundle alone (what an appliance worker gets).
    code = ("import sys; sys.path.insert(0, sys.argv[1]); "
            "from waferrepro.sdk import launch, inputs; print(inputs.__file__)")
    res = subprocess.run([sys.executable, "-I", "-c", code, str(out / appliance.BUNDLE)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert appliance.BUNDLE in res.stdout


def test_memcpy_16bit_words_round_trip():
    from waferrepro.sdk.launch import f16_to_words, words_to_f16

    tiles = np.random.default_rng(1).standard_normal((3, 4, 5)).astype(np.float16)
    words = f16_to_words(tiles)
    assert words.dtype == np.uint32 and words.size == 60 and (words >> 16).max() == 0
    np.testing.assert_array_equal(words_to_f16(words | 0xABCD0000, (3, 4, 5)), tiles)


def test_result_document_checks_and_records_what_it_compared():
    from waferrepro.sdk.launch import result_document

    ref = np.arange(6.0).reshape(2, 3)
    good = result_document(ref + 1e-4, ref, 123, 2, 2, {"P": 2}, None)
    assert good["check"]["passed"] and good["rows_agree"] is None and good["cycles"] == 123
    assert "fp16" in good["check"]["reference"]
    assert not result_document(ref + 1.0, ref, 1, 2, 2, {}, None)["check"]["passed"]


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


def _launcher_json(path, cycles, passed=True):
    import json

    path.write_text(json.dumps({
        "cycles": cycles, "rows_agree": None, "width": 4, "height": 4, "params": {},
        "check": {"passed": passed, "max_abs_err": 0.01, "max_rel_err": 0.003,
                  "rtol": 0.02, "atol": 0.001, "reference": "numpy float64"}}))
    return str(path)


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

    pre = record_from_sdk_prefill(_launcher_json(tmp_path / "p.json", 50_000), "tiny-llama",
                                  "4x4", 7, "sdk-sim", WSE2, "cs_python run.py ...")
    records.validate(pre)
    m = {x["metric"]: x["value"] for x in pre["metrics"]}
    assert m["cycles_per_layer"] == 50_000 and m["cycles"] == 100_000  # 2 layers
    assert m["ttft_ms"] == pytest.approx(100_000 / WSE2.clock_hz * 1e3)
    # memory from meshsim's plan, which allocates what the kernel does
    sim, _ = prefill_metrics(WSE2, arch("tiny-llama"), 4, 7)
    assert m["bytes_per_core"] == sim["bytes_per_core"][0]
    assert pre["source"] == "simulated" and "CSL Prefill" in pre["note"]
    with pytest.raises(NumericMismatch):
        record_from_sdk_prefill(_launcher_json(tmp_path / "bad.json", 9, passed=False),
                                "tiny-llama", "4x4", 7, "wse2", WSE2, "")

    steps = [_launcher_json(tmp_path / f"s{i}.json", 20_000) for i in range(2)]
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
    sim_e2e = run_end_to_end("tiny-llama", "4x4", "4x3", 7, 4, WSE2, "cycle-model")
    assert {x["metric"] for x in sim_e2e["metrics"]} == set(e)
    with pytest.raises(ValueError, match="not a Decode record"):
        record_from_parts_e2e(paths[0], paths[0], "tiny-llama", "4x4", "4x3", 7, 4, "sdk-sim",
                              WSE2)
    with pytest.raises(ValueError, match="expected a wse2 run"):
        record_from_parts_e2e(*paths, "tiny-llama", "4x4", "4x3", 7, 4, "wse2", WSE2)


def test_e2e_from_parts_with_a_skipped_part_is_a_skipped_record(tmp_path):
    """A part recorded as skipped (source 'skipped', as every skipped record is marked) gives
    a skipped end-to-end record naming it, not a KeyError (issue 12)."""
    from waferrepro import records
    from waferrepro.jobs.sdk import (
        record_from_parts_e2e,
        record_from_sdk_decode,
        record_from_sdk_prefill,
    )

    pre = record_from_sdk_prefill(_launcher_json(tmp_path / "p.json", 50_000), "tiny-llama",
                                  "4x4", 7, "sdk-sim", WSE2, "cs_python run.py ...")
    dec = record_from_sdk_decode([_launcher_json(tmp_path / "s.json", 20_000)], [4],
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

"""Host side of the SDK backends, as far as this machine allows (no SDK here): parameters,
command lines, timestamp decoding, and the packing the launcher shares with meshsim."""

import numpy as np
import pytest

from waferrepro import sdk
from waferrepro.hardware import WSE2
from waferrepro.host import pack_cannon, unpack_cannon
from waferrepro.meshsim import make_inputs


def test_kernel_params_follow_the_simulator_tiles():
    assert sdk.kernel_params("MeshGEMV", (1, 16384, 16384), 720, 720) == {
        "width": 720, "height": 720, "kt": 23, "nt": 23, "tree_levels": 2}
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
    from waferrepro.runner import record_from_sdk

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

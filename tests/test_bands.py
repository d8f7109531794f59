"""Uncertainty bands: the cost model at its assumptions' bounds brackets every headline value."""

from dataclasses import replace

from waferrepro import tables
from waferrepro.bands import HEADLINE, corners
from waferrepro.hardware import ASSUMPTION_BOUNDS, WSE2
from waferrepro.jobs.meshsim import run_decode, run_meshsim


def _banded(record):
    out = {m["metric"]: m for m in record["metrics"] if "low" in m}
    assert out and set(out) <= HEADLINE
    for m in out.values():
        assert m["low"] <= m["value"] <= m["high"], m
    return out


def test_kernel_and_decode_records_carry_bands(tmp_path):
    kernel = _banded(run_meshsim("MeshGEMV", "1x4096x4096", "64x64", WSE2, "cycle-model"))
    assert kernel["latency_ms"]["low"] < kernel["latency_ms"]["high"]
    decode = run_decode("llama3-8b", "420x420", 512, 4, "shift", WSE2, "cycle-model")
    tpr = _banded(decode)["decode_tpr_tokens_per_s"]
    assert tpr["low"] < tpr["value"] < tpr["high"]
    from waferrepro import records
    path = records.write(decode, tmp_path / "d.json")
    table = tables.build("t", [path])
    assert list(table.columns[-2:]) == ["low", "high"]
    row = table[table["metric"] == "tpot_ms"].iloc[0]
    assert row["low"] < row["value"] < row["high"]
    assert table[table["metric"] == "cycles"][["low", "high"]].isna().all().all()


def test_corners_sweep_assumptions_not_user_overrides():
    fast, slow = corners(WSE2).values()
    for field, (low, high, _) in ASSUMPTION_BOUNDS["wse2"].items():
        assert {getattr(fast, field), getattr(slow, field)} == {low, high}
    assert fast.clock_hz == 1.1e9 and slow.clock_hz == 0.85e9
    mine = replace(WSE2, ramp_latency_cycles=3.0)
    assert all(h.ramp_latency_cycles == 3.0 for h in corners(mine).values())

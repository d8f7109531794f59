"""Uncertainty bands: the cost model at its assumptions' bounds brackets every headline value."""


from waferrepro import tables
from waferrepro.bands import HEADLINE, corners
from waferrepro.hardware import ASSUMPTION_BOUNDS, WSE2
from waferrepro.hardware_profiles import get_hardware
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
    assert list(table.columns[-3:]) == ["low", "high", "run"]  # run: set by the workflow
    row = table[table["metric"] == "tpot_ms"].iloc[0]
    assert row["low"] < row["value"] < row["high"]
    assert table[table["metric"] == "cycles"][["low", "high"]].isna().all().all()


def test_corners_sweep_assumptions_not_user_overrides():
    fast, slow = corners(WSE2).values()
    for field, (low, high, _) in ASSUMPTION_BOUNDS["wse2"].items():
        assert {getattr(fast, field), getattr(slow, field)} == {low, high}
    assert fast.clock_hz == 1.1e9 and slow.clock_hz == 0.85e9
    mine = get_hardware("wse2", {"ramp_latency_cycles": 3.0})  # as hardware_overrides does
    assert all(h.ramp_latency_cycles == 3.0 for h in corners(mine).values())


def test_bands_never_vary_a_field_the_user_set_even_at_its_nominal_value():
    from waferrepro.bands import corners
    from waferrepro.hardware import WSE2
    from waferrepro.hardware_profiles import get_hardware

    pinned = get_hardware("wse2", {"dsd_startup_cycles": WSE2.dsd_startup_cycles})
    for corner in corners(pinned).values():
        assert corner.dsd_startup_cycles == WSE2.dsd_startup_cycles
    assert {c.dsd_startup_cycles for c in corners(WSE2).values()} != {WSE2.dsd_startup_cycles}

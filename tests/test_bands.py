"""What waferrepro.bands promises, each checked against a quantity computed here on its own:

- on calibrated hardware a headline value's low..high is value x exp(-+w), w read from the
  committed profile file (not from the Hardware object the code reads it from);
- the assumptions' range (range_low..range_high) is the cost model rerun with every
  assumption at the bound that makes runs faster, then slower: the corners are built here from
  ASSUMPTION_BOUNDS and the direction each bound was measured to move the run, and evaluated
  with dataclasses.replace and the simulator, not with bands.corners;
- a field set through hardware_overrides keeps the user's value at both corners;
- HIGHER_IS_FASTER names exactly the assumptions whose higher bound makes a run faster.
"""

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

import waferrepro
from waferrepro import meshsim, presets, records, tables
from waferrepro.bands import HEADLINE, corners
from waferrepro.hardware import ASSUMPTION_BOUNDS, HIGHER_IS_FASTER
from waferrepro.hardware_profiles import get_hardware
from waferrepro.jobs.meshsim import run_decode, run_meshsim, run_prefill

PROFILE = Path(waferrepro.__file__).parent / "profiles" / "calibrated.json"
FIELDS = sorted(ASSUMPTION_BOUNDS["wse2"])
PRESET = presets.DEFAULT_PRESET

# The kernel run the range is checked on (decode and prefill below: cheap cases).
GEMV = ("MeshGEMV", (1, 4096, 4096), (64, 64))


def gemv_metrics(hw, preset=PRESET):
    """MeshGEMV's cycle-model metrics on `hw` as given (the preset's options applied)."""
    system, shape, grid = GEMV
    return meshsim.simulate(system, shape, *grid, presets.hardware(hw, preset), False,
                            kernel=presets.kernel(system, preset)).run.metrics()


def value(record, metric):
    return next(m["value"] for m in record["metrics"] if m["metric"] == metric)


def decode(hw, preset=PRESET):
    return run_decode("llama3-8b", "420x420", 512, 4, "shift", hw, "cycle-model",
                      preset=preset)


def prefill(hw):
    return run_prefill("tiny-llama", "32x32", 64, hw, "cycle-model")


# Latency-like values (lower = faster) that, between them, every assumption moves: MeshGEMV
# (fabric, SRAM, DSD, @map, clock), Decode under full-model (@fmacs, tasks, syncs,
# transcendentals), under paper-kernels (scalar loops) and Prefill (the score reduce chain).
PROBES = {
    "MeshGEMV latency": lambda hw: gemv_metrics(hw)["latency_ms"][0],
    "Decode full-model TPOT": lambda hw: value(decode(hw, "full-model"), "tpot_ms"),
    "Decode paper-kernels TPOT": lambda hw: value(decode(hw), "tpot_ms"),
    "Prefill TTFT": lambda hw: value(prefill(hw), "ttft_ms"),
}


PORTS = ("sram_read_bits_per_cycle", "sram_write_bits_per_cycle")


@pytest.fixture(scope="module")
def faster_bound():
    """{field: "low" or "high"}: which bound of each assumption made a probe faster, one
    field at a time from the calibrated profile of each chip. Fails if no probe moves a
    field or two probes disagree (the corners would then be no corners). A field may move
    only one chip's probes (on WSE-2 the SRAM ports cap @fmacs below its SIMD bounds), and
    the read and write ports move a three-operand op only together (PORTS: each caps it)."""
    out = {}
    for field in FIELDS:
        seen = set()
        for chip in ("wse2", "wse3"):
            hw = get_hardware(chip)
            group = PORTS if field in PORTS else (field,)
            low = {f: ASSUMPTION_BOUNDS[chip][f][0] for f in group}
            high = {f: ASSUMPTION_BOUNDS[chip][f][1] for f in group}
            for probe in PROBES.values():
                at_low = probe(replace(hw, **low))
                at_high = probe(replace(hw, **high))
                if at_low != at_high:
                    seen.add("high" if at_high < at_low else "low")
        assert len(seen) == 1, f"{field}: faster bound per probes {seen or 'none moved it'}"
        out[field] = seen.pop()
    return out


def corner_values(hw, faster_bound, which):
    """The assumptions of `hw` at the `which` ("fast"/"slow") bound, the user's fields kept."""
    out = {}
    for field, (low, high, _) in ASSUMPTION_BOUNDS[hw.name].items():
        if field in hw.user_set:
            continue
        fast = high if faster_bound[field] == "high" else low
        out[field] = fast if which == "fast" else (low if fast == high else high)
    return out


def test_higher_is_faster_names_the_fields_whose_high_bound_made_runs_faster(faster_bound):
    assert {f for f, b in faster_bound.items() if b == "high"} == HIGHER_IS_FASTER


@pytest.mark.parametrize("name,profile", [("wse2", "calibrated"), ("wse2", "nominal"),
                                          ("wse3", "nominal")])
def test_corners_set_each_assumption_to_its_fast_then_its_slow_bound(faster_bound, name,
                                                                    profile):
    hw = get_hardware(name, profile=profile)
    got = corners(hw)
    assert set(got) == {"fast", "slow"}
    for which in ("fast", "slow"):
        # Hardware's equality covers every fact: the assumptions moved, nothing else did.
        assert got[which] == replace(hw, **corner_values(hw, faster_bound, which)), which
        assert got[which].calibration == hw.calibration
    fast, slow = gemv_metrics(got["fast"]), gemv_metrics(got["slow"])
    assert fast["latency_ms"][0] < gemv_metrics(hw)["latency_ms"][0] < slow["latency_ms"][0]


def _expected_ranges(record, at_fast, at_slow):
    """{metric: (range_low, range_high)}: the smallest and largest of the record's value and
    the two corners' values, for each headline metric the record bands."""
    out = {}
    for m in record["metrics"]:
        if m["metric"] in HEADLINE:
            vals = [m["value"], at_fast[m["metric"]], at_slow[m["metric"]]]
            out[m["metric"]] = (min(vals), max(vals))
    return out


def _check_range(record, at_fast, at_slow):
    expected = _expected_ranges(record, at_fast, at_slow)
    got = {m["metric"]: (m["range_low"], m["range_high"]) for m in record["metrics"]
           if "range_low" in m}
    assert set(got) == set(expected) and expected
    for metric, (low, high) in expected.items():
        assert got[metric] == pytest.approx((low, high), rel=1e-12), metric


def _kernel_corners(hw, faster_bound):
    hwp = presets.hardware(hw, PRESET)
    return [{k: v for k, (v, _unit) in gemv_metrics(
        replace(hwp, **corner_values(hwp, faster_bound, which))).items()}
        for which in ("fast", "slow")]


def _model_corners(run, hw, faster_bound):
    return [{m["metric"]: m["value"] for m in
             run(replace(hw, **corner_values(hw, faster_bound, which)))["metrics"]}
            for which in ("fast", "slow")]


@pytest.mark.parametrize("profile", ["calibrated", "nominal"])
def test_kernel_range_is_the_cost_model_at_the_two_corners(faster_bound, profile):
    hw = get_hardware("wse2", profile=profile)
    system, shape, grid = GEMV
    record = run_meshsim(system, "x".join(map(str, shape)), "x".join(map(str, grid)), hw,
                         "cycle-model")
    at_fast, at_slow = _kernel_corners(hw, faster_bound)
    _check_range(record, at_fast, at_slow)
    by = {m["metric"]: m for m in record["metrics"]}
    # Direction: the fast corner gives the shortest latency and the most TFLOP/s.
    assert by["latency_ms"]["range_low"] == pytest.approx(at_fast["latency_ms"], rel=1e-12)
    assert by["tflops"]["range_high"] == pytest.approx(at_fast["tflops"], rel=1e-12)
    assert by["latency_ms"]["range_low"] < by["latency_ms"]["value"] \
        < by["latency_ms"]["range_high"]


@pytest.mark.parametrize("kind", ["decode", "prefill"])
def test_model_range_is_the_cost_model_at_the_two_corners(faster_bound, kind):
    run = {"decode": decode, "prefill": prefill}[kind]
    hw = get_hardware("wse2")
    record = run(hw)
    at_fast, at_slow = _model_corners(run, hw, faster_bound)
    _check_range(record, at_fast, at_slow)
    tpr = f"{kind}_tpr_tokens_per_s"
    by = {m["metric"]: m for m in record["metrics"]}
    assert by[tpr]["range_high"] == pytest.approx(at_fast[tpr], rel=1e-12)
    assert by[tpr]["range_low"] == pytest.approx(at_slow[tpr], rel=1e-12)


def test_calibrated_band_is_value_times_exp_of_the_profiles_half_width():
    profile = json.loads(PROFILE.read_text())
    w = profile["bands"]["wse2"]["log_half_width"]
    # w is what the README says: the RMS of the leave-one-out log errors of WSE-2's points.
    errors = [profile["loo_errors"][p] for p in profile["bands"]["wse2"]["points"]]
    assert w == pytest.approx(math.sqrt(sum(e * e for e in errors) / len(errors)), abs=1e-4)
    hw = get_hardware("wse2")
    assert hw.calibration
    system, shape, grid = GEMV
    kernel = run_meshsim(system, "x".join(map(str, shape)), "x".join(map(str, grid)), hw,
                         "cycle-model")
    for record in (kernel, decode(hw), prefill(hw)):
        banded = [m for m in record["metrics"] if "low" in m]
        assert {m["metric"] for m in banded} == {m["metric"] for m in record["metrics"]
                                                 if m["metric"] in HEADLINE} != set()
        for m in banded:
            assert m["low"] == pytest.approx(m["value"] * math.exp(-w), rel=1e-12), m
            assert m["high"] == pytest.approx(m["value"] * math.exp(w), rel=1e-12), m
            # The band is not the range (the assumptions' corners, a sensitivity).
            assert (m["low"], m["high"]) != (m["range_low"], m["range_high"]), m


def test_nominal_band_is_the_assumptions_range():
    hw = get_hardware("wse2", profile="nominal")
    assert not hw.calibration
    for record in (decode(hw), prefill(hw)):
        for m in (m for m in record["metrics"] if m["metric"] in HEADLINE):
            assert (m["low"], m["high"]) == (m["range_low"], m["range_high"]), m
            assert m["low"] < m["high"], m


@pytest.mark.parametrize("field,pinned", [("ramp_latency_cycles", 3.0), ("clock_hz", 1.0e9)])
def test_a_field_set_through_hardware_overrides_is_not_swept(faster_bound, field, pinned):
    hw = get_hardware("wse2", {field: pinned})  # as hardware_overrides does
    assert hw.user_set == {field}
    for corner in corners(hw).values():
        assert getattr(corner, field) == pinned
    system, shape, grid = GEMV
    record = run_meshsim(system, "x".join(map(str, shape)), "x".join(map(str, grid)), hw,
                         "cycle-model")
    at_fast, at_slow = _kernel_corners(hw, faster_bound)
    _check_range(record, at_fast, at_slow)
    # The field moves the range when it is swept, so the check above can tell the two apart.
    swept = _kernel_corners(replace(hw, user_set=frozenset()), faster_bound)
    assert swept[0]["latency_ms"] != at_fast["latency_ms"]


def test_a_field_pinned_at_its_own_value_is_not_swept_either():
    nominal = get_hardware("wse2").dsd_startup_cycles
    pinned = get_hardware("wse2", {"dsd_startup_cycles": nominal})
    assert {c.dsd_startup_cycles for c in corners(pinned).values()} == {nominal}
    assert nominal not in {c.dsd_startup_cycles for c in corners(get_hardware("wse2")).values()}


def test_tables_carry_the_band_of_headline_rows_only(tmp_path):
    path = records.write(decode(get_hardware("wse2")), tmp_path / "d.json")
    table = tables.build("t", [path])
    assert list(table.columns[-3:]) == ["low", "high", "run"]  # run: set by the workflow
    row = table[table["metric"] == "tpot_ms"].iloc[0]
    assert row["low"] < row["value"] < row["high"]
    assert table[table["metric"] == "cycles"][["low", "high"]].isna().all().all()

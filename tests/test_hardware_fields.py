"""Every Hardware field either changes some cost (or what fits or runs), or is informational
(overriding it to another value is refused), or is a label (issue 20: link_bits_per_cycle was
accepted, recorded and never used). Labels derived from a value follow its override."""

import pytest

from waferrepro.hardware import FIELDS, WSE2
from waferrepro.hardware_profiles import get_hardware
from waferrepro.jobs.meshsim import run_decode, run_kv_capacity, run_meshsim, run_prefill
from waferrepro.validate import (
    AT_LEAST_ONE,
    FRACTION,
    INFORMATIONAL,
    LABELS,
    NON_NEGATIVE,
    POSITIVE,
    POSITIVE_INT,
    ValidationError,
)

# The nominal: fp32, 1, vector (the presets set them; an override wins).
CHOICES = {"accumulate": "fp16", "fp16_per_wavelet": 2, "loop_form": "authors"}
NUMERIC = POSITIVE + POSITIVE_INT + NON_NEGATIVE + AT_LEAST_ONE + FRACTION
COST_FIELDS = sorted(NUMERIC + tuple(CHOICES))


def changed(field):
    if field in CHOICES:
        return CHOICES[field]
    v = getattr(WSE2, field)
    if field in ("fabric_width", "fabric_height"):
        return 7  # below the 8x8 grids the fingerprint runs
    if field == "routable_colors":
        return 2
    if field in NON_NEGATIVE:
        return v * 2 + 1
    if field.startswith("simd_"):
        return v / 4  # below the SRAM ports' cap (which halving a 16-bit width is not)
    if field in AT_LEAST_ONE:
        return v + 0.5
    if field in FRACTION:
        return v / 2
    return int(v) // 2 if field in POSITIVE_INT else v / 2


def fingerprint(hw):
    """Metrics (and sources) of small kernel, decode, prefill and KV-capacity jobs under
    both presets; 'refused: ...' where a job refuses the hardware."""
    out = []
    try:
        for preset in ("paper-kernels", "full-model"):
            for system, shape in (("MeshGEMV", "1x256x128"), ("MeshGEMM", "64x64x64")):
                out.append(run_meshsim(system, shape, "8x8", hw, "cycle-model", preset=preset))
            out.append(run_decode("tiny-llama", "8x8", 16, 4, "shift", hw, "cycle-model",
                                  preset=preset))
            out.append(run_prefill("tiny-llama", "8x8", 16, hw, "cycle-model", preset=preset))
            out.append(run_kv_capacity("tiny-llama", "8x8", "shift", hw, preset))
    except ValidationError as exc:
        return f"refused: {exc}"
    return [(r["source"], [(m["metric"], m["value"]) for m in r["metrics"]]) for r in out]


@pytest.fixture(scope="module")
def nominal():
    return fingerprint(WSE2)


def test_every_field_is_classified():
    groups = [set(COST_FIELDS), set(INFORMATIONAL), set(LABELS), {"name"}]
    assert set().union(*groups) == FIELDS
    assert sum(map(len, groups)) == len(FIELDS)  # each in one group only


@pytest.mark.parametrize("field", COST_FIELDS)
def test_cost_field_changes_the_results(field, nominal):
    hw = get_hardware("wse2", {field: changed(field)}, "nominal")
    assert getattr(hw, field) == changed(field)
    assert fingerprint(hw) != nominal, f"{field} changes no metric of any job"


@pytest.mark.parametrize("field", sorted(INFORMATIONAL))
def test_informational_field_cannot_be_changed(field):
    nominal = getattr(WSE2, field)
    assert get_hardware("wse2", {field: nominal}) == get_hardware("wse2")  # restating: harmless
    for value in (0, nominal // 2, nominal * 10):
        with pytest.raises(ValidationError, match=f"hardware_overrides/{field}: .*informational"):
            get_hardware("wse2", {field: value})


def test_link_bits_per_cycle_never_changed_the_cycles(nominal):
    """Why it is informational: it was accepted at 0, 32 and 320 with identical cycles."""
    from dataclasses import replace

    for bits in (1, 320):
        assert fingerprint(replace(WSE2, link_bits_per_cycle=bits)) == nominal


def test_clock_and_power_labels_follow_overrides():
    hw = get_hardware("wse2", {"clock_hz": 850e6})
    assert hw.clock_source == "hardware_overrides: 850 MHz"
    rec = run_meshsim("MeshGEMV", "1x256x128", "4x4", hw, "cycle-model")
    assert rec["provenance"]["clock_source"] == "hardware_overrides: 850 MHz"
    assert "1.1 GHz" not in str(rec["provenance"]) and "1.1 GHz" not in rec["hardware"][
        "clock_source"]
    hw = get_hardware("wse2", {"system_power_w": 15e3})
    assert hw.system_power_source == "hardware_overrides: 15 kW"
    rec = run_kv_capacity("tiny-llama", "8x8", "shift", hw)
    assert rec["hardware"]["system_power_source"] == "hardware_overrides: 15 kW"
    dec = run_decode("tiny-llama", "8x8", 16, 4, "shift", hw, "cycle-model")
    assert dec["what"]["params"]["power_source"] == "hardware_overrides: 15 kW"
    assert "(hardware_overrides: 15 kW)" in dec["note"] and "datasheet" not in dec["note"]
    # a label the user gives wins; without overrides, the sourced labels stay
    hw = get_hardware("wse2", {"clock_hz": 850e6, "clock_source": "Cerebras SDK examples"})
    assert hw.clock_source == "Cerebras SDK examples"
    assert "1.1 GHz" in get_hardware("wse2", {}).clock_source


def test_overrides_are_normalised():
    hw = get_hardware("wse2", {"sram_bytes_per_core": 65536.0})
    assert hw.sram_bytes_per_core == 65536 and isinstance(hw.sram_bytes_per_core, int)
    assert hw.user_set == {"sram_bytes_per_core"}

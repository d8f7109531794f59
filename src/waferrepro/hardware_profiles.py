"""Hardware profiles: a hardware description as runs use it, its committed calibrated
profile's values (profiles/<name>-calibrated.json, written by waferrepro.calibration) and the
config's checked overrides applied on top of the facts in waferrepro.hardware.

It sits above hardware.py, validate.py and the profile files, so the hardware facts import
nothing of the package.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from .hardware import HARDWARE, Hardware
from .validate import hardware_name, hardware_overrides

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"
# Profiles of a hardware description: its construct costs as calibrated on the training set
# (waferrepro.calibration; the default where a calibrated profile exists) or nominal.
PROFILES = ("calibrated", "nominal")
DEFAULT_PROFILE = "calibrated"


def profile_path(hardware: str) -> Path:
    return PROFILE_DIR / f"{hardware}-calibrated.json"


def load_profile(hardware: str) -> dict | None:
    """The committed calibrated profile of `hardware`, or None where there is none."""
    path = profile_path(hardware)
    if not path.exists():
        return None
    return json.loads(path.read_text())


def label(data: dict) -> str:
    """How records and tables say a number is calibrated."""
    return f"calibrated on {data['training']} ({data['points']} points)"


def calibrated(hw: Hardware) -> Hardware:
    """`hw` with its committed calibrated profile's values, or `hw` where it has none."""
    data = load_profile(hw.name)
    if data is None:
        return hw
    return replace(hw, **data["values"], calibration=label(data),
                   band_log_half_width=float(data["band"]["log_half_width"]))


def get_hardware(name: str, overrides: dict | None = None,
                 profile: str = DEFAULT_PROFILE) -> Hardware:
    """The named hardware description in `profile` (PROFILES: calibrated, the default where a
    calibrated profile exists, or nominal), with config overrides applied on top, checked by
    waferrepro.validate (unknown keys, wrong types, non-finite or non-positive values and
    changes of informational fields are refused, naming the key). A label derived from a value
    (clock_source, system_power_source) follows an override of that value."""
    hw = HARDWARE[hardware_name(name)]
    if profile not in PROFILES:
        raise ValueError(f"unknown hardware profile {profile!r}; known: {list(PROFILES)}")
    if profile == "calibrated":
        hw = calibrated(hw)
    overrides = hardware_overrides(overrides, name)
    overrides.pop("name", None)
    if not overrides:
        return hw
    return replace(hw, **_derived_labels(overrides), **overrides,
                   user_set=frozenset(overrides))


def _derived_labels(overrides: dict) -> dict:
    """The clock and power labels of overridden values the user gave no label for."""
    out = {}
    if "clock_hz" in overrides and "clock_source" not in overrides:
        out["clock_source"] = f"hardware_overrides: {overrides['clock_hz'] / 1e6:g} MHz"
    if "system_power_w" in overrides and "system_power_source" not in overrides:
        out["system_power_source"] = (f"hardware_overrides: "
                                      f"{overrides['system_power_w'] / 1e3:g} kW")
    return out

"""Hardware profiles: a hardware description as runs use it, its committed calibrated
profile's values (profiles/calibrated.json, written by waferrepro.calibration) and the
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


# One profile for every chip: the calibration fits one set of construct costs to both chips'
# training files (waferrepro.calibration), with a band per chip.
PROFILE_FILE = PROFILE_DIR / "calibrated.json"


def profile_path() -> Path:
    """The calibrated profile's file (one for every chip)."""
    return PROFILE_FILE


def load_profile(hardware: str | None = None) -> dict | None:
    """The committed calibrated profile, or None where there is none (or where it does not
    cover `hardware`)."""
    if not PROFILE_FILE.exists():
        return None
    data = json.loads(PROFILE_FILE.read_text())
    if hardware is not None and hardware not in data["hardware"]:
        return None
    return data


def label(data: dict) -> str:
    """How records and tables say a number is calibrated."""
    files = ", ".join(t["path"] for t in data["training"])
    counts = " + ".join(str(t["points"]) for t in data["training"])
    return f"calibrated on {files} ({counts} points)"


def calibrated(hw: Hardware) -> Hardware:
    """`hw` with the committed calibrated profile's values and its chip's band, or `hw` where
    the profile does not cover it."""
    data = load_profile(hw.name)
    if data is None:
        return hw
    return replace(hw, **data["values"], calibration=label(data),
                   band_log_half_width=float(data["bands"][hw.name]["log_half_width"]))


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

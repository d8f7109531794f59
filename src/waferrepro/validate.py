"""One validation for every entry point: the command line, the config and the Python API.

Each function checks one fact (a core grid, a length, a model, a system, hardware overrides,
an output path) and raises ValidationError with ONE line that names the option or key (`what`)
and the allowed values. The command line passes its option names (`--cores`), the config its
key paths (`experiments/table3/grids/0`), the Python API the argument names; the facts are
the same. The jobs (waferrepro.jobs.meshsim) call these too, so a bad value never reaches the
cost model: nothing runs and nothing is written.

Hardware fields (waferrepro.hardware.Hardware) fall in three groups here:
- cost fields: each changes some cost or what fits (tests/test_hardware_fields.py proves it per
  field); overridable within the rule below (type, finite, positive or non-negative);
- informational fields (INFORMATIONAL): facts recorded for the reader that no cost reads;
  overriding them to another value is refused, because it would change nothing;
- labels (clock_source, system_power_source, name): text; the clock and power labels follow
  an override of their value (hardware_profiles.get_hardware).
"""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path

from .configcheck import _yaml_loader
from .hardware import ACCUMULATE, FIELDS, HARDWARE, LOOP_FORMS, Hardware
from .models import MODELS
from .presets import PRESETS


class ValidationError(ValueError):
    """A value given by the user that no job can run: one line, naming the option or key."""


# Hardware fields by rule. Integers at least 1; numbers > 0; numbers >= 0.
POSITIVE_INT = ("fabric_width", "fabric_height", "sram_bytes_per_core", "routable_colors")
POSITIVE = ("simd_fmach", "simd_fmachs", "simd_faddh", "simd_fadds", "simd_fmovs", "simd_fmacs",
            "sram_read_bits_per_cycle", "sram_write_bits_per_cycle", "clock_hz",
            "system_power_w")
NON_NEGATIVE = ("dsd_startup_cycles", "task_activation_cycles", "sync_cycles",
                "route_switch_cycles", "hop_latency_cycles", "ramp_latency_cycles",
                "transcendental_ops", "fabric_dsd_startup_cycles", "map_element_cycles",
                "scalar_iteration_cycles", "scalar_op_cycles", "map_setup_cycles",
                "relay_cycles")
# Bounded: a multiplier of at least 1 and a fraction.
AT_LEAST_ONE = ("bank_conflict_factor",)
FRACTION = ("reduce_chain_exposed",)
# Informational: recorded, read by no cost. The cost model counts 32-bit wavelets (one per
# link per cycle) and packs fp16_per_wavelet values into one; the colour budget a plan must
# respect is routable_colors, not the 32 route ids.
INFORMATIONAL = {
    "link_bits_per_cycle": "informational: the cost model moves one 32-bit wavelet per link "
                           "per cycle; set fp16_per_wavelet (1 or 2) to model packing",
    "route_colors_per_core": "informational: plans are checked against routable_colors",
}
LABELS = ("clock_source", "system_power_source")
FP16_PER_WAVELET = (1, 2)


def _fail(what: str, message: str):
    raise ValidationError(f"{what}: {message}")


# Grids, shapes, lengths.

def grid(value, what: str = "cores", hw: Hardware | None = None, square: bool = False,
         why: str = "") -> tuple[int, int]:
    """(px, py) of a core grid 'PxQ' (or an integer P for PxP, as the config allows): positive
    integers, square where `square`, within `hw`'s usable fabric where `hw` is given."""
    if isinstance(value, bool):
        _fail(what, f"{value!r} is not a core grid; give PxQ with positive integers, e.g. 8x8")
    if isinstance(value, int):
        parts = [value, value]
    else:
        text = str(value).strip().lower().split("x")
        parts = [int(p) if p.isdigit() else -1 for p in text] if len(text) == 2 else []
    if len(parts) != 2 or min(parts) < 1:
        _fail(what, f"{value!r} is not a core grid; give PxQ with positive integers, e.g. 8x8")
    px, py = parts
    if square and px != py:
        _fail(what, f"{px}x{py} is not square; {why or 'this job'} needs a PxP grid")
    if hw is not None and (px > hw.fabric_width or py > hw.fabric_height):
        _fail(what, f"{px}x{py} exceeds the usable {hw.name} fabric; allowed: at most "
                    f"{hw.fabric_width}x{hw.fabric_height}")
    return px, py


def shape(value, what: str = "shape") -> tuple[int, int, int]:
    """(m, k, n) of a shape 'MxKxN' of positive integers."""
    text = str(value).strip().lower().split("x")
    if len(text) != 3 or not all(p.isdigit() and int(p) > 0 for p in text):
        _fail(what, f"{value!r} is not a shape; give MxKxN with positive integers, "
                    "e.g. 1x2048x2048")
    return tuple(int(p) for p in text)


def length(value, what: str, minimum: int = 1) -> int:
    """A token count: an integer (not a bool), at least `minimum`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        _fail(what, f"{value!r} is not allowed; give an integer >= {minimum}")
    return int(value)


def group_num(value, p: int | None = None, what: str = "group_num",
              system: str = "MeshGEMV") -> int | None:
    """The authors' MeshGEMV group_num (None: our tree's groups), by the kernel's own rule
    (meshsim.comm.group_num_problem: an integer >= 2 dividing the reduction line of `p` cores
    with pe_num_group = p // group_num >= 2; MeshGEMV only)."""
    from .meshsim.comm import group_num_problem

    why = group_num_problem(value, p, system)
    if why:
        _fail(what, why)
    return None if value is None else int(value)


def _known(value, known, what: str, noun: str) -> str:
    if value not in known:
        _fail(what, f"unknown {noun} {value!r}; allowed: {', '.join(sorted(known))}")
    return value


def model(value, what: str = "model") -> str:
    return _known(value, MODELS, what, "model")


def system(value, what: str = "system") -> str:
    from .meshsim import SYSTEMS

    return _known(value, SYSTEMS, what, "system")


def preset(value, what: str = "preset") -> str:
    return _known(value, PRESETS, what, "schedule preset")


def hardware_name(value, what: str = "hardware") -> str:
    return _known(value, HARDWARE, what, "hardware")


# Hardware overrides.

def parse_overrides(text: str, what: str = "--hardware-overrides") -> dict:
    """The overrides given as text: a JSON or YAML object (YAML reads 850.0e6 as a number)."""
    import yaml

    try:
        value = yaml.load(text, Loader=_yaml_loader())  # JSON is YAML (flow style)
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        _fail(what, f"not a JSON or YAML object ({first}); give e.g. '{{\"clock_hz\": 850e6}}'")
    return value


def _number(value, key: str, what: str, integer: bool = False) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _fail(f"{what}/{key}", f"{value!r} is not a number")
    if not math.isfinite(value):
        _fail(f"{what}/{key}", f"{value!r} is not allowed; give a finite number")
    if integer:
        if value != int(value):
            _fail(f"{what}/{key}", f"{value!r} is not an integer")
        return int(value)
    return value


def hardware_overrides(overrides, hardware: str = "wse2",
                       what: str = "hardware_overrides") -> dict:
    """The overrides, checked and normalised (integral floats of integer fields become ints):
    an object of known keys, each of the right type, finite, positive where it must be."""
    hardware_name(hardware)
    base = HARDWARE[hardware]
    if overrides is None:
        return {}
    if not isinstance(overrides, dict):
        _fail(what, f"{type(overrides).__name__} {overrides!r} is not an object; give a JSON "
                    "or YAML object of hardware fields, e.g. {\"clock_hz\": 850e6}")
    out = {}
    for key, value in overrides.items():
        where = f"{what}/{key}"
        if key not in FIELDS:
            _fail(what, f"unknown key {key!r}; allowed: {', '.join(sorted(FIELDS - {'name'}))}")
        if key == "name":
            if value != base.name:
                _fail(where, f"{value!r} is not allowed; choose the hardware with `hardware` "
                             f"({', '.join(sorted(HARDWARE))}), not an override")
            continue
        if key in POSITIVE_INT:
            value = _number(value, key, what, integer=True)
            if value < 1:
                _fail(where, f"{value!r} is not allowed; give an integer >= 1")
        elif key in POSITIVE:
            value = _number(value, key, what)
            if value <= 0:
                _fail(where, f"{value!r} is not allowed; give a number > 0")
        elif key in NON_NEGATIVE:
            value = _number(value, key, what)
            if value < 0:
                _fail(where, f"{value!r} is not allowed; give a number >= 0")
        elif key == "fp16_per_wavelet":
            value = _number(value, key, what, integer=True)
            if value not in FP16_PER_WAVELET:
                _fail(where, f"{value!r} is not allowed; allowed: 1, 2 (fp16 values per 32-bit "
                             "wavelet)")
        elif key in AT_LEAST_ONE:
            value = _number(value, key, what)
            if value < 1:
                _fail(where, f"{value!r} is not allowed; give a number >= 1")
        elif key in FRACTION:
            value = _number(value, key, what)
            if not 0 <= value <= 1:
                _fail(where, f"{value!r} is not allowed; give a number from 0 to 1")
        elif key == "accumulate":
            if value not in ACCUMULATE:
                _fail(where, f"{value!r} is not allowed; allowed: {', '.join(ACCUMULATE)}")
        elif key == "loop_form":
            if value not in LOOP_FORMS:
                _fail(where, f"{value!r} is not allowed; allowed: {', '.join(LOOP_FORMS)}")
        elif key in INFORMATIONAL:
            if value != getattr(base, key):
                _fail(where, f"{value!r} is not allowed; {INFORMATIONAL[key]} (nominal "
                             f"{getattr(base, key)})")
        elif key in LABELS:
            if not isinstance(value, str) or not value.strip():
                _fail(where, f"{value!r} is not allowed; give a non-empty text")
        else:  # a field added to Hardware without a rule here
            _fail(where, "no validation rule for this field (waferrepro.validate)")
        out[key] = value
    return out


# Output paths.

def out_path(path, what: str = "--out") -> Path:
    """A file path a job can write: not a directory, its folder creatable and writable."""
    p = Path(path)
    if str(path).endswith(os.sep) or p.is_dir():
        _fail(what, f"{path} is a directory; give a file path, e.g. {Path(path) / 'r.json'}")
    folder = p.parent
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        _fail(what, f"cannot write {path}: {existing} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK) or (p.exists() and not os.access(p, os.W_OK)):
        _fail(what, f"cannot write {path}: {existing if not p.exists() else p} is not "
                    "writable; give a path in a writable folder")
    return p

"""Run records: one JSON file per job, written atomically (mode 0644), checked when read.

The schema is `schemas/record.schema.json` (documented field by field there and in README).
Reading also checks what the schema cannot state (check_invariants): cycles are not negative,
the cycles by cause add up to the total, and the record's `what` agrees with its path. A record
that fails is named with the way to redo it (REDO).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import jsonschema

from . import provenance
from .meshsim.cost import CAUSES
from .model_metrics import METHOD_NOTE
from .placement import E2E_NOTE

if TYPE_CHECKING:
    from .hardware import Hardware


class RecordError(ValueError):
    """A record file that is missing, unreadable or does not follow the schema."""


# How to redo a bad record (said with every error about a record read back).
REDO = ("delete it and rerun snakemake, which redoes that job (or rerun the waferrepro "
        "command that wrote it)")
# Permissions of a written record (mkstemp makes 0600): readable by all, as any output.
MODE = 0o644
# Relative tolerance of the cause breakdown's sum against the total (float rounding).
SUM_RTOL = 1e-6


@lru_cache(maxsize=None)
def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads(resources.files("waferrepro.schemas").joinpath(
        "record.schema.json").read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def validate(record: dict, where: str = "record") -> dict:
    errors = sorted(_validator().iter_errors(record), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        path = "/".join(str(p) for p in first.absolute_path) or "(top level)"
        raise RecordError(f"{where}: invalid run record at {path}: {first.message}")
    return record


def atomic_write(path: str | os.PathLike, write, newline: str | None = None) -> Path:
    """Write a text file through `write(fh)` so that `path` is either its previous content or
    complete, never partial: a unique temp file in the same folder (mode MODE), renamed over
    it; on any failure the temp file is removed and the previous file kept."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, MODE)
        with os.fdopen(fd, "w", newline=newline) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write(record: dict, path: str | os.PathLike) -> Path:
    """Validate and write `record` so that `path` is either absent or complete, never partial."""
    validate(record, str(path))

    def dump(fh):
        json.dump(record, fh, indent=2, sort_keys=False)
        fh.write("\n")

    return atomic_write(path, dump)


def read(path: str | os.PathLike) -> dict:
    """A record read back, checked (schema and invariants); RecordError names the file and
    how to redo it."""
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RecordError(f"{path}: cannot read run record ({exc}); {REDO}") from exc
    try:
        validate(record, str(path))
        check_invariants(record, path)
    except RecordError as exc:
        raise RecordError(f"{exc}; {REDO}") from None
    return record


def check_invariants(record: dict, path: str | os.PathLike | None = None) -> None:
    """What a valid record holds beyond its schema: no negative or non-finite cycles, the
    cycles_<cause> metrics summing to `cycles` where present, and (when `path` is given) the
    record's `what` matching the job its path names."""
    import math

    where = str(path) if path is not None else "record"
    values = {m["metric"]: m["value"] for m in record.get("metrics", [])}
    for m in record.get("metrics", []):
        is_cycles = "cycles" in m["metric"] or m.get("unit") == "cycles"
        if is_cycles and (not math.isfinite(m["value"]) or m["value"] < 0):
            raise RecordError(f"{where}: metric {m['metric']} is {m['value']}; cycles "
                                  "must be finite and not negative")
    causes = [f"cycles_{c}" for c in CAUSES if f"cycles_{c}" in values]
    if causes and "cycles" in values:
        total = sum(values[c] for c in causes)
        if abs(total - values["cycles"]) > SUM_RTOL * max(abs(values["cycles"]), 1.0):
            raise RecordError(f"{where}: the cycles by cause ({', '.join(causes)}) sum to "
                              f"{total:g}, not the record's cycles {values['cycles']:g}")
    if path is not None:
        for field, (in_path, in_record) in _path_mismatches(record, Path(path)).items():
            raise RecordError(f"{where}: what.{field} is {in_record!r} but the path says "
                              f"{in_path!r}")


def _job_fields(parts: list[str]) -> dict:
    """{what field: value} a job path's parts name (experiments' *Job.path, without the
    results/records/ prefix and .json): ['meshsim', 'MeshGEMV', '1x256x128', '4x4'],
    ['meshsim', 'decode', 'llama3-8b', '420x420', 'in4096_out128_kvshift_paper-kernels'], ..."""
    import re

    preset = r"(?:_(?P<preset>[a-z][a-z-]*))?$"
    if len(parts) < 3:
        return {}
    kind = parts[1]
    if kind in ("decode", "prefill", "kv_capacity", "e2e") and len(parts) == 5:
        tail = {"decode": r"in(?P<input_len>\d+)_out(?P<output_len>\d+)_kv(?P<kv_mode>[a-z]+)",
                "prefill": r"in(?P<input_len>\d+)",
                "kv_capacity": r"kv(?P<kv_mode>[a-z]+)",
                "e2e": r"in(?P<input_len>\d+)_out(?P<output_len>\d+)"}[kind]
        match = re.fullmatch(tail + preset, parts[4])
        fields = {k: v for k, v in (match.groupdict() if match else {}).items() if v}
        fields["model"] = parts[2]
        grids = re.fullmatch(r"p(\w+)_d(\w+)", parts[3]) if kind == "e2e" else None
        fields["cores"] = f"{grids[1]}+{grids[2]}" if grids else parts[3]
        return fields
    if parts[0].startswith("baseline-"):
        return {"shape": parts[2]} if kind == "matmul" and len(parts) == 3 else {}
    if len(parts) == 4:  # a kernel: backend/system/shape/cores[_g<group_num>]
        grouped = re.fullmatch(r"(?P<cores>.+)_g(?P<group_num>\d+)", parts[3])
        fields = grouped.groupdict() if grouped else {"cores": parts[3]}
        return {"system": parts[1], "shape": parts[2], **fields}
    return {}


def _path_mismatches(record: dict, path: Path) -> dict:
    """{field: (path's value, record's value)} where the record's `what` contradicts the job
    its path names. The path names a job from the folder named as the record's job's first
    part (its backend, e.g. meshsim or baseline-cpu) on; a path without it (a record written
    anywhere with --out) names none."""
    job = str(record.get("job", ""))
    head = job.split("/")[0]
    parts = list(path.with_suffix("").parts)
    if not head or head not in parts:
        return {}
    start = len(parts) - 1 - parts[::-1].index(head)
    what = record.get("what", {})
    params = what.get("params") or {}
    out = {}
    for field, value in _job_fields(parts[start:]).items():
        have = params.get(field) if field in ("kv_mode", "group_num") else what.get(field)
        if field == "preset" and have is None:
            continue  # SDK records name no preset
        if str(have) != value:
            out[field] = (value, have)
    return out


# The raw (not derived) metrics of a whole-model decode or prefill record, on every backend.
MODEL_RAW_METRICS = frozenset({"cycles_per_layer", "cycles", "bytes_per_core",
                               "bytes_per_core_whole_model"})


def metrics_list(metrics: dict[str, tuple[float, str]], raw: set[str]) -> list[dict]:
    """Turn {metric: (value, unit)} into the record's list, marking which are raw."""
    return [{"metric": k, "value": float(v), "unit": u, "kind": "raw" if k in raw else "derived"}
            for k, (v, u) in metrics.items()]


# Building records: what every job's record shares.

def mark_skipped(record: dict, reason: str, why: str = "skipped") -> None:
    """A job that could not run here: no metrics, no check, the reason in check and note."""
    record.update(source="skipped", mode="skipped", metrics=[],
                  check={"performed": False, "passed": None, "reason": reason},
                  note=f"{why}: {reason}")


def base_record(job: str, what: dict, hw: Hardware) -> dict:
    return {"schema_version": 1, "job": job, "what": what, "backend": "meshsim",
            "hardware": hw.as_dict()}


def finish(record: dict, hw: Hardware, cores: str, started: float,
           device: str | None = None) -> dict:
    prov = provenance.collect(device=device or f"meshsim virtual {hw.name} {cores} grid",
                              clock_hz=hw.clock_hz, clock_source=hw.clock_source)
    prov["wall_seconds"] = time.perf_counter() - started
    record["provenance"] = prov
    return record


def model_method(hw: Hardware) -> dict:
    """What every whole-model record states in its params: the per-layer method and the
    system power its energy comes from."""
    return {"method": METHOD_NOTE, "power_w": hw.system_power_w,
            "power_source": hw.system_power_source}


def method_and_energy_note(hw: Hardware) -> str:
    return (f"{METHOD_NOTE}; energy = time x {hw.system_power_w / 1e3:g} kW "
            f"({hw.system_power_source})")


def model_what(system: str, module: str, model: str, cores: str, input_len, output_len,
          **params) -> dict:
    return {"system": system, "module": module, "shape": None, "cores": cores, "gpus": None,
            "model": model, "input_len": input_len, "output_len": output_len,
            "params": params}


def with_e2e_note(record: dict) -> dict:
    """What an end-to-end record's time covers and leaves out (waferrepro.placement)."""
    if record["source"] != "skipped":
        record["note"] = f"{record['note']}; {E2E_NOTE}"
    return record

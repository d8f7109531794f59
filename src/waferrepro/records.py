"""Run records: one JSON file per job, written atomically, validated when read.

The schema is `schemas/record.schema.json` (documented field by field there and in README).
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

if TYPE_CHECKING:
    from .hardware import Hardware


class RecordError(ValueError):
    """A record file that is missing, unreadable or does not follow the schema."""


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


def write(record: dict, path: str | os.PathLike) -> Path:
    """Validate and write `record` so that `path` is either absent or complete, never partial."""
    path = Path(path)
    validate(record, str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(record, fh, indent=2, sort_keys=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read(path: str | os.PathLike) -> dict:
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise RecordError(f"{path}: cannot read run record: {exc}") from exc
    return validate(record, str(path))


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
    from .model_metrics import METHOD_NOTE

    return {"method": METHOD_NOTE, "power_w": hw.system_power_w,
            "power_source": hw.system_power_source}


def method_and_energy_note(hw: Hardware) -> str:
    from .model_metrics import METHOD_NOTE

    return (f"{METHOD_NOTE}; energy = time x {hw.system_power_w / 1e3:g} kW "
            f"({hw.system_power_source})")


def model_what(system: str, module: str, model: str, cores: str, input_len, output_len,
          **params) -> dict:
    return {"system": system, "module": module, "shape": None, "cores": cores, "gpus": None,
            "model": model, "input_len": input_len, "output_len": output_len,
            "params": params}


def with_e2e_note(record: dict) -> dict:
    """What an end-to-end record's time covers and leaves out (waferrepro.placement)."""
    from .placement import E2E_NOTE

    if record["source"] != "skipped":
        record["note"] = f"{record['note']}; {E2E_NOTE}"
    return record

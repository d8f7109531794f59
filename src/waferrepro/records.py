"""Run records: one JSON file per job, written atomically, validated when read.

The schema is `schemas/record.schema.json` (documented field by field there and in README).
"""

from __future__ import annotations

import json
import os
import tempfile
from functools import lru_cache
from importlib import resources
from pathlib import Path

import jsonschema


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


def metrics_list(metrics: dict[str, tuple[float, str]], raw: set[str]) -> list[dict]:
    """Turn {metric: (value, unit)} into the record's list, marking which are raw."""
    return [{"metric": k, "value": float(v), "unit": u, "kind": "raw" if k in raw else "derived"}
            for k, (v, u) in metrics.items()]

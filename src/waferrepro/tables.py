"""Aggregate run records into tidy tables: one row per value (the table contract, DESIGN.md)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from . import records

COLUMNS = ["id", "system", "backend", "model", "shape", "cores", "gpus", "input_len",
           "output_len", "metric", "value", "unit", "source", "note"]


def rows_from_record(table_id: str, record: dict) -> list[dict]:
    what = record["what"]
    base = {"id": table_id, "system": what["system"], "backend": record["backend"],
            "model": what.get("model"), "shape": what["shape"], "cores": what.get("cores"),
            "gpus": what.get("gpus"), "input_len": what.get("input_len"),
            "output_len": what.get("output_len"), "source": record["source"]}
    if record["source"] == "skipped":
        return [{**base, "metric": "cycles", "value": None, "unit": "cycles",
                 "note": record.get("note") or record["check"].get("reason", "skipped")}]
    note = f"{record['mode']}; numeric check " + (
        ("passed" if record["check"]["passed"] else "FAILED") if record["check"]["performed"]
        else "not applicable (cycle model)")
    return [{**base, "metric": m["metric"], "value": m["value"], "unit": m["unit"], "note": note}
            for m in record["metrics"]]


def reference_rows(table_id: str, reference_csv: str | os.PathLike | None) -> pd.DataFrame:
    """Published values for this id from results/reference/ (source = paper)."""
    if not reference_csv or not Path(reference_csv).exists():
        return pd.DataFrame(columns=COLUMNS)
    ref = pd.read_csv(reference_csv, dtype={"cores": str, "shape": str})
    missing = set(COLUMNS) - set(ref.columns)
    if missing:
        raise ValueError(f"{reference_csv}: missing columns {sorted(missing)}")
    return ref[ref["id"] == table_id][COLUMNS]


def build(table_id: str, record_paths, reference_csv=None) -> pd.DataFrame:
    rows = []
    for path in record_paths:
        rows.extend(rows_from_record(table_id, records.read(path)))
    frames = [pd.DataFrame(rows, columns=COLUMNS), reference_rows(table_id, reference_csv)]
    table = pd.concat([f for f in frames if not f.empty], ignore_index=True)
    return table.reindex(columns=COLUMNS)


def write_csv(table: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write via a temp file and rename, so an interrupted run never leaves half a table."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    table.to_csv(tmp, index=False)
    os.replace(tmp, path)


def read_csv(path: str | os.PathLike) -> pd.DataFrame:
    table = pd.read_csv(path, dtype={"cores": str, "shape": str})
    missing = set(COLUMNS) - set(table.columns)
    if missing:
        raise ValueError(f"{path}: not a harness table, missing columns {sorted(missing)}")
    return table

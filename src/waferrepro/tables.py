"""Aggregate run records into tidy tables: one row per value (the table contract,
ARCHITECTURE.md)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from . import records
from .published import (
    CONTEXT,
    STANDIN_REASONS,
    WAFER_BACKENDS,
    matches,
    ratio_band,
    stands_in_for,
)

COLUMNS = ["id", "system", "backend", "model", "shape", "cores", "gpus", "input_len",
           "output_len", "metric", "value", "unit", "source", "note"]
# Optional columns, written on every table, not required of inputs (published values have
# none): a simulated headline value's band over the cost model's assumption bounds.
BAND_COLUMNS = ["low", "high"]
# Optional too: the schedule preset of a meshsim run (waferrepro.presets), and the run the
# table was built in (waferrepro.runs; empty where it was built outside a run).
OUTPUT_COLUMNS = COLUMNS + ["preset"] + BAND_COLUMNS + ["run"]
# Written only where a row has one: MeshGEMV's group_num (the authors' groups of its tree),
# which tells apart records of the same system, shape and grid.
GROUP_COLUMN = "group_num"


def rows_from_record(table_id: str, record: dict) -> list[dict]:
    what = record["what"]
    base = {"id": table_id, "system": what["system"], "backend": record["backend"],
            "model": what.get("model"), "shape": what["shape"], "cores": what.get("cores"),
            "gpus": what.get("gpus"), "input_len": what.get("input_len"),
            "output_len": what.get("output_len"), "source": record["source"],
            "preset": what.get("preset"), GROUP_COLUMN: what.get("params", {}).get(GROUP_COLUMN)}
    if record["source"] == "skipped":
        return [{**base, "metric": "cycles", "value": None, "unit": "cycles",
                 "note": record.get("note") or record["check"].get("reason", "skipped")}]
    check = record["check"]
    status = (("passed" if check["passed"] else "FAILED") if check["performed"]
              else "not performed: " + check.get("reason", "no data computed"))
    note = f"{record['mode']}; numeric check {status}"
    if record.get("note"):
        note = f"{note}; {record['note']}"
    return [{**base, "metric": m["metric"], "value": m["value"], "unit": m["unit"], "note": note,
             "low": m.get("low"), "high": m.get("high")} for m in record["metrics"]]


def reference_rows(table_id: str, reference_csv: str | os.PathLike | None) -> pd.DataFrame:
    """Published values for this id from results/reference/ (source = paper), with their
    `context` mark where the file has one (a context value gets no `_vs_paper` row)."""
    if not reference_csv or not Path(reference_csv).exists():
        return pd.DataFrame(columns=COLUMNS)
    ref = pd.read_csv(reference_csv, dtype={"cores": str, "shape": str})
    missing = set(COLUMNS) - set(ref.columns)
    if missing:
        raise ValueError(f"{reference_csv}: missing columns {sorted(missing)}")
    return ref[ref["id"] == table_id][COLUMNS + ([CONTEXT] if CONTEXT in ref.columns else [])]


ENERGY_METRICS = ("energy_j", "prefill_energy_j", "decode_energy_j")


def energy_ratio_rows(table_id: str, rows: list[dict]) -> list[dict]:
    """GPU energy / wafer energy for every GPU run with measured energy and every wafer run
    of the same workload (model or shape, lengths) and unit (Tables 6-8's ratios). The row's
    system names the GPU system that gave the energy (`vLLM/WaferLLM`); where that system
    stands in for the paper's engine (published.GPU_STANDINS: vLLM for SGLang in Tables 7
    and 8), the note says so, and the `_vs_paper` rows still pair it with the paper's row."""
    def standin(system: str) -> str:
        return "".join(f"; {system} stands in for the paper's {paper}"
                       + (f" ({STANDIN_REASONS[paper, system]})"
                          if (paper, system) in STANDIN_REASONS else "")
                       for paper in stands_in_for(system))

    def key(r):
        return (r["model"], r["shape"], r["input_len"], r["output_len"], r["metric"],
                r["unit"])

    gpu = [r for r in rows if r["metric"] in ENERGY_METRICS and r["source"] == "measured"
           and str(r["backend"]).startswith("cuda:")]
    wafer = [r for r in rows if r["metric"] in ENERGY_METRICS and r["value"] is not None
             and r["backend"] in WAFER_BACKENDS and r["source"] in ("simulated", "measured")]
    out = []
    for g in gpu:
        for w in (w for w in wafer if key(w) == key(g) and w["value"]):
            out.append({
                "id": table_id, "system": f"{g['system']}/{w['system']}",
                "backend": f"{g['backend']} / {w['backend']}", "model": w["model"],
                "shape": w["shape"], "cores": w["cores"], "gpus": g["gpus"],
                "input_len": w["input_len"], "output_len": w["output_len"],
                "metric": "energy_ratio", "value": g["value"] / w["value"], "unit": "ratio",
                "preset": w.get("preset"),
                # A ratio with a simulated side is simulated.
                "source": "simulated" if w["source"] == "simulated" else "measured",
                "note": f"GPU {g['metric']} ({g['system']}, {g['source']}, {g['backend']}) / "
                        f"wafer {w['metric']} ({w['system']}, {w['source']}, {w['backend']})"
                        + standin(g["system"])})
    return out


def paper_ratio_rows(table_id: str, rows: list[dict], paper: pd.DataFrame) -> list[dict]:
    """Reproduced / published for every reproduced row that matches a published value
    (waferrepro.published: the rule the scorecard uses too)."""
    out = []
    for ref in paper.to_dict("records"):
        for r in rows:
            if not (matches(ref, r) and ref["value"]):
                continue
            band = ratio_band(r, ref["value"])
            out.append({**{c: r.get(c) for c in COLUMNS + ["preset"]},
                        "metric": f"{r['metric']}_vs_paper", "value": r["value"] / ref["value"],
                        "unit": "ratio", **({"low": band[0], "high": band[1]} if band else {}),
                        "note": f"reproduced ({r['source']}, {r['backend']}, cores "
                                f"{r['cores']}) / paper ({ref['backend']}): "
                                f"{r['value']:.4g} / {ref['value']:.4g}"
                                + ("" if r["system"] == ref["system"] else
                                   f"; {r['system']} stands in for {ref['system']}")})
    return out


def build(table_id: str, record_paths, reference_csv=None, metrics=None) -> pd.DataFrame:
    rows = []
    for path in record_paths:
        rows.extend(rows_from_record(table_id, records.read(path)))
    rows.extend(energy_ratio_rows(table_id, rows))
    if metrics:
        keep = set(metrics) | {"energy_ratio"} | {f"{m}_vs_paper" for m in metrics}
        rows = [r for r in rows if r["metric"] in keep or r["source"] == "skipped"]
        for r in rows:  # a skipped run has no value; file its row under the table's metric
            if r["source"] == "skipped":
                r["metric"], r["unit"] = metrics[0], None
    paper = reference_rows(table_id, reference_csv)
    rows.extend(paper_ratio_rows(table_id, rows, paper))
    columns = OUTPUT_COLUMNS + ([GROUP_COLUMN] if any(r.get(GROUP_COLUMN) is not None
                                                      for r in rows) else [])
    frames = [pd.DataFrame(rows, columns=columns), paper]
    table = pd.concat([f for f in frames if not f.empty], ignore_index=True)
    table = table.reindex(columns=columns)
    for col in ("gpus", "input_len", "output_len", GROUP_COLUMN):
        if col in table:  # integers, empty where not applicable
            table[col] = pd.to_numeric(table[col]).astype("Int64")
    return table


def write_csv(table: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write via a unique temp file in the same folder and rename (records.atomic_write), so
    an interrupted or failed write never leaves half a table, never removes the previous one,
    and leaves no temp file behind (mode 0644, as records)."""
    records.atomic_write(path, lambda fh: table.to_csv(fh, index=False), newline="")


def read_csv(path: str | os.PathLike) -> pd.DataFrame:
    table = pd.read_csv(path, dtype={"cores": str, "shape": str})
    missing = set(COLUMNS) - set(table.columns)
    if missing:
        raise ValueError(f"{path}: not a harness table, missing columns {sorted(missing)}")
    return table

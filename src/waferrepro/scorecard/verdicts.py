"""The scorecard: every published number and claim of the paper beside this run's reproduction.

Numbers (results/reference/published.csv): for each published value, the reproduced rows of the
same system, workload and metric in the run's results/<run>/tables/<id>.csv, their ratio
reproduced/published and a verdict: `within band` / `outside band`, or `pending` with what the
run lacks. The band is the reproduced row's own uncertainty band (`low`, `high` columns, where a
table has them: the published value must lie inside it), else DEFAULT_TOLERANCE around the
published value.
Claims (results/reference/claims.yaml): `holds` / `fails` / `pending`
(src/waferrepro/scorecard/claims.py).
A `skipped` row never gives a verdict. Every row names the run it read (`run`).

    waferrepro scorecard [--run NAME | --tables results/<run>/tables] [--strict]
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..published import (
    GPU_STANDINS,
    KEYS,
    WAFER_BACKENDS,
    device,
    keys_match,
    matches,
    norm,
    ratio_band,
)
from ..runs import remake_command

if TYPE_CHECKING:
    import pandas as pd

# pandas and the claims module are imported where used: the CLI imports this module for every
# `waferrepro` call (its parser), and run jobs should not pay for pandas.

# +-25%: a simulated number rests on stated hardware parameters whose own spread is of this order
# (the clock alone: 850 MHz in Cerebras's examples vs 1.1 GHz in WaferLLM's launchers, 23%), and
# a measured GPU number moves by several percent across driver, clock and library versions.
DEFAULT_TOLERANCE = 0.25
PUBLISHED_CSV = "results/reference/published.csv"
CLAIMS_YAML = "results/reference/claims.yaml"
SCORECARD_ID = "scorecard"  # results/<run>/tables/scorecard.csv: not a harness table
HELD_OUT = ("Tables 2, 3 and 4 (end-to-end, prefill and decode TPR) are held out for a blind "
            "test of the cost model, and so are the TPR rows of Tables 7 and 8 (they repeat "
            "Tables 3 and 4)")
COLUMNS = ["run", "kind", "table", "item", "location", "system", "model", "shape", "cores", "gpus",
           "input_len", "output_len", "metric", "unit", "published", "reproduced", "backend",
           "source", "ratio", "low", "high", "band", "verdict", "detail"]


def load_published(path: str | Path = PUBLISHED_CSV) -> pd.DataFrame:
    import pandas as pd

    return pd.read_csv(path, dtype={"cores": str, "shape": str})


def load_tables(table_dir: str | Path, ids) -> dict[str, pd.DataFrame]:
    """This run's tables by id (absent: not in this run), `paper-kernels` rows preferred
    where a table holds several presets of the same runs."""
    from ..tables import read_csv

    out = {}
    for table_id in ids:
        path = Path(table_dir) / f"{table_id}.csv"
        if path.exists():
            out[table_id] = _prefer_preset(read_csv(path))
    return out


def _prefer_preset(table: pd.DataFrame) -> pd.DataFrame:
    if "preset" not in table.columns:
        return table
    presets = set(table["preset"].dropna().astype(str)) - {""}
    if len(presets) > 1 and "paper-kernels" in presets:
        keep = table["preset"].isna() | table["preset"].astype(str).isin(["", "paper-kernels"])
        return table[keep]
    return table


def _band(pub, rep) -> tuple[float | None, float | None, str, bool]:
    band = ratio_band(rep, pub.value)
    if band:  # the published value lies in the row's low..high
        return float(rep.low), float(rep.high), "reproduced row's low..high", \
            band[0] <= 1 <= band[1]
    ratio = rep.value / pub.value
    tol = DEFAULT_TOLERANCE
    return (None, None, f"default +-{tol:.0%}", 1 - tol <= ratio <= 1 + tol)


def absent_reason(table_id: str, run: str | None = None, configured=None) -> str:
    """Why a table the scorecard reads is not there: not in the run's config (`configured`, the
    ids of its `experiments:`, where known), or not built yet."""
    this = f"run {run}" if run else "this run"
    if configured is None:
        return f"{this} has no {table_id}.csv (not built yet, or not in its config)"
    if table_id not in configured:
        return f"{table_id} is not in {this}'s config"
    how = f" (`{remake_command(run, target=table_id)}`)" if run else ""
    return f"{table_id} is in {this}'s config but not built yet{how}"


def table_ids(published: pd.DataFrame, claims: list[dict]) -> list[str]:
    """The tables the scorecard reads."""
    return sorted(set(published["id"]) | {c["table"] for cl in claims for c in cl["checks"]})


def _pending_reason(pub, table: pd.DataFrame | None, absent: str | None = None) -> str:
    """What the run lacks for this published value: a table, a GPU, or the paper's workload."""
    if table is None:
        return absent or absent_reason(pub.id)
    gpu_side = pub.system.split("/")[0]
    systems = set(GPU_STANDINS.get(gpu_side, (gpu_side,))) | {pub.system}
    same = [r for r in table.itertuples() if r.system in systems and r.source != "paper"]
    skipped = list(dict.fromkeys(  # a skipped run may not know its GPU count
        str(r.note).removeprefix("skipped: ") for r in same if r.source == "skipped"
        and keys_match(pub, r, ("model", "shape", "input_len"))
        and (not norm(r.gpus) or norm(r.gpus) == norm(pub.gpus))))
    gpu = device(pub.backend)
    if gpu:
        needs = f"needs a GPU run on an {gpu.upper()}" + (
            " with NVML energy" if pub.metric == "energy_ratio" else "")
        if skipped:
            return f"{needs}; this run: skipped: {skipped[0]}"
        ran = sorted({str(r.backend) for r in same if r.source in ("simulated", "measured")})
        if ran:
            return f"{needs}; this run has {gpu_side} on {', '.join(ran)} only"
        return f"{needs}; this run: {baselines_text(table)}"
    if skipped:
        return f"this run: skipped: {skipped[0]}"
    stated = ", ".join(f"{k} {norm(getattr(pub, k))}" for k in KEYS if norm(getattr(pub, k)))
    return f"no {pub.system} {pub.metric} row at the paper's {stated} in {pub.id}.csv"


def baselines_text(table: pd.DataFrame) -> str:
    """The GPU/CPU side a table does hold, e.g. 'baselines: CPU-BLAS on cpu'."""
    ran = {f"{r.system} on {r.backend}" for r in table.itertuples()
           if r.source == "measured" and "/" not in str(r.backend)
           and str(r.backend) not in WAFER_BACKENDS}
    return f"baselines: {', '.join(sorted(ran))}" if ran else "no baseline rows"


def number_rows(published: pd.DataFrame, tables: dict[str, pd.DataFrame],
                absent: dict[str, str] | None = None) -> list[dict]:
    absent = absent or {}
    out = []
    for pub in published.itertuples():
        table = tables.get(pub.id)
        base = {"kind": "number", "table": pub.id, "location": f"{pub.where}, "
                f"{pub.row_label} / {pub.column_label}, {pub.section}, p. {pub.page}",
                "item": f"{pub.system} {pub.metric}", "metric": pub.metric, "unit": pub.unit,
                "published": pub.value, "system": pub.system,
                **{k: norm(getattr(pub, k)) for k in KEYS}}
        reps = [] if table is None else [r for r in table.itertuples() if matches(pub, r)]
        if not reps:
            out.append({**base, "verdict": "pending", "detail": _pending_reason(pub, table,
                                                                         absent.get(pub.id))})
            continue
        for rep in reps:
            low, high, band, within = _band(pub, rep)
            note = ("" if rep.system == pub.system else
                    f"{rep.system.split('/')[0]} stands in for {pub.system.split('/')[0]}: ")
            out.append({**base, **{k: norm(getattr(rep, k)) for k in KEYS},
                        "system": rep.system, "reproduced": rep.value,
                        "backend": rep.backend, "source": rep.source,
                        "ratio": rep.value / pub.value, "low": low, "high": high,
                        "band": band, "verdict": "within band" if within else "outside band",
                        "detail": note + f"{rep.source} ({rep.backend}"
                                  + (f", {rep.cores}" if norm(rep.cores) else "") + ")"})
    return out


def claim_rows(claims: list[dict], tables: dict[str, pd.DataFrame],
               absent: dict[str, str] | None = None) -> list[dict]:
    from . import claims as claims_mod

    out = []
    for claim in claims:
        result = claims_mod.evaluate(claim, tables, absent)
        out.append({"kind": "claim", "table": ", ".join(dict.fromkeys(
                        c["table"] for c in claim["checks"])),
                    "item": f"{claim['id']}: {' '.join(claim['statement'].split())}",
                    "location": claims_mod.location(claim["source"]),
                    "source": result["basis"], "verdict": result["verdict"],
                    "detail": result["detail"]})
    return out


def build(table_dir: str | Path, published_csv: str | Path = PUBLISHED_CSV,
          claims_yaml: str | Path = CLAIMS_YAML, run: str | None = None,
          configured=None) -> pd.DataFrame:
    """The scorecard of the tables in `table_dir` (those of run `run`; `configured`: the ids
    of its config's experiments, where known, to say why a table is missing)."""
    import pandas as pd

    from . import claims as claims_mod

    published = load_published(published_csv)
    claims = claims_mod.load(claims_yaml)
    ids = table_ids(published, claims)
    tables = load_tables(table_dir, ids)
    absent = {i: absent_reason(i, run, configured) for i in ids if i not in tables}
    rows = claim_rows(claims, tables, absent) + number_rows(published, tables, absent)
    card = pd.DataFrame(rows, columns=COLUMNS)
    card["run"] = run
    return card


def run_of(card: pd.DataFrame) -> str | None:
    runs = sorted(set(card["run"].dropna().astype(str)) - {""}) if "run" in card else []
    return ", ".join(runs) or None


def counts(card: pd.DataFrame) -> dict[str, int]:
    claims = card[card["kind"] == "claim"]["verdict"].value_counts()
    numbers = card[card["kind"] == "number"]["verdict"].value_counts()
    return {"holds": int(claims.get("holds", 0)), "fails": int(claims.get("fails", 0)),
            "pending claims": int(claims.get("pending", 0)),
            "within band": int(numbers.get("within band", 0)),
            "outside band": int(numbers.get("outside band", 0)),
            "pending numbers": int(numbers.get("pending", 0))}


def summary_lines(card: pd.DataFrame) -> list[str]:
    c = counts(card)
    return [f"claims:  {c['holds']} holds, {c['fails']} fails, {c['pending claims']} pending",
            f"numbers: {c['within band']} within band, {c['outside band']} outside band, "
            f"{c['pending numbers']} pending (band: the row's low..high where it has one, "
            f"else +-{DEFAULT_TOLERANCE:.0%})",
            f"held out: {HELD_OUT}"]


def failing(card: pd.DataFrame) -> pd.DataFrame:
    return card[card["verdict"].isin(["fails", "outside band"])]


def _line(row) -> str:
    if row.kind == "claim":
        return f"  [claim] {row.item} ({row.location}) -> {row.verdict}: {row.detail}"
    what = " ".join(str(getattr(row, k)) for k in KEYS if getattr(row, k))
    head = f"  [{row.table}] {row.system} {row.metric} {what} ({row.location})"
    if row.verdict == "pending":
        return f"{head} -> pending: {row.detail}"
    return (f"{head}: reproduced {row.reproduced:.4g} vs published {row.published:.4g} "
            f"{row.unit}, ratio {row.ratio:.3g} -> {row.verdict} ({row.band}); {row.detail}")


def format_terminal(card: pd.DataFrame, where: str = "") -> str:
    """Counts first, then failing and pending rows; the first line names the run read
    (`where`: e.g. its tables folder and how the run was chosen)."""
    run = run_of(card)
    head = f"WaferLLM scorecard of run {run}" if run else "WaferLLM scorecard"
    lines = [f"{head}{f' ({where})' if where else ''}: simulated = meshsim cost model, "
             "not a measurement", *summary_lines(card)]
    for title, rows in (("fails / outside band", failing(card)),
                        ("pending", card[card["verdict"] == "pending"])):
        if len(rows):
            lines += ["", f"{title} ({len(rows)}):", *(_line(r) for r in rows.itertuples())]
    return "\n".join(lines)

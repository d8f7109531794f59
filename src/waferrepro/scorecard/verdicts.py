"""The scorecard: every published number and claim of the paper beside this run's reproduction.

Numbers (results/reference/published.csv): for each published value, the reproduced rows of the
same system, workload and metric in the run's results/<run>/tables/<id>.csv, their ratio
reproduced/published and a verdict:
- `agrees` / `disagrees`: the ratio within / outside 1 +- DEFAULT_TOLERANCE (agreement);
- `fitted`: the published value is a training point of the calibration
  (results/reference/training.csv, read by waferrepro.training): the model was fitted to it, so
  it is not a prediction and never counts as agreement (its ratio is still shown);
- `pending`, with what the run lacks;
- `context`: a value the file marks as context (its `context` column says why: a system this
  harness does not run, such as Table 2's T10 and Ladder, or a repeat of a value another table
  compares), shown, never compared.
Beside the verdict, independent of it, `in_band`: `yes` / `no` where the reproduced row has a
`low`..`high` band (the published value inside it or not; `band` says which band: the
calibration's leave-one-out band on a calibrated run, the assumptions' range on a nominal one),
empty where it has none.
Claims (results/reference/claims.yaml): `holds` / `fails` / `pending`
(src/waferrepro/scorecard/claims.py), or `fitted` for a claim a training point stands for
(training.csv's `claim` column), with its measured value.
A `skipped` row never gives a verdict. Every row names the run it read (`run`).

    waferrepro scorecard [--run NAME | --tables results/<run>/tables] [--strict]
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..published import (
    CONTEXT,
    GPU_STANDINS,
    KEYS,
    baselines_text,
    compared,
    device,
    keys_match,
    matches,
    norm,
    ratio_band,
)
from ..runs import remake_command

if TYPE_CHECKING:
    import pandas as pd

# pandas and the claims module (which imports pandas) are imported where used: the CLI imports
# this module for every `waferrepro` call (its parser), and run jobs should not pay for pandas.

# Agreement: reproduced within +-25% of published (unless a claim states its own tolerance).
# +-25%: a simulated number rests on stated hardware parameters whose own spread is of this order
# (the clock alone: 850 MHz in Cerebras's examples vs 1.1 GHz in WaferLLM's launchers, 23%), and
# a measured GPU number moves by several percent across driver, clock and library versions.
DEFAULT_TOLERANCE = 0.25
PUBLISHED_CSV = "results/reference/published.csv"
CLAIMS_YAML = "results/reference/claims.yaml"
TRAINING_NAME = "training.csv"  # the calibration's training set, beside published.csv
SCORECARD_ID = "scorecard"  # results/<run>/tables/scorecard.csv: not a harness table
COLUMNS = ["run", "kind", "table", "item", "location", "system", "model", "shape", "cores", "gpus",
           "input_len", "output_len", "metric", "unit", "published", "reproduced", "backend",
           "source", "ratio", "low", "high", "band", "verdict", "in_band", "detail"]
NUMBER_VERDICTS = ("agrees", "disagrees", "fitted", "pending", "context")
CLAIM_VERDICTS = ("holds", "fails", "fitted", "pending")
FITTED = "fitted, not a prediction"
CONTEXT_TEXT = ("systems this harness does not run, and values the paper repeats from a table "
                "that compares them")


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


def agrees(ratio: float, tolerance: float = DEFAULT_TOLERANCE) -> bool:
    """Reproduced / published within 1 +- tolerance."""
    return 1 - tolerance <= ratio <= 1 + tolerance


def band_name(rep) -> str:
    """Which band a reproduced row's low..high is, from the profile its note names."""
    note = norm(getattr(rep, "note", ""))
    if "calibrated on" in note:
        return "calibration band (leave-one-out)"
    if "nominal hardware profile" in note:
        return "assumptions' range (nominal profile)"
    return "reproduced row's low..high"


def _band(pub, rep) -> tuple[float | None, float | None, str, str]:
    """(low, high, which band, in_band): in_band "yes" / "no" where the row has a band (the
    published value inside it or not), "" where it has none."""
    band = ratio_band(rep, pub.value)
    if not band:
        return None, None, "", ""
    return float(rep.low), float(rep.high), band_name(rep), \
        "yes" if band[0] <= 1 <= band[1] else "no"


def load_training(path: str | Path):
    """The calibration's training points (waferrepro.training, the one reader of the file)."""
    from .. import training

    return training.load(Path(path))


def training_path(published_csv: str | Path, training_csv: str | Path | None = None) -> Path:
    """The training set: `training_csv`, else training.csv beside the published values."""
    return Path(training_csv) if training_csv else Path(published_csv).parent / TRAINING_NAME


def _same_value(a, b) -> bool:
    return abs(float(a) - float(b)) <= 1e-9 * max(abs(float(a)), abs(float(b)))


def training_point(pub, points) -> object | None:
    """The training point a published value is, or None: same system, shape, metric, unit
    and value (and model, where both state one)."""
    for p in points:
        if (p.system == pub.system and p.shape == norm(pub.shape) and p.metric == pub.metric
                and p.unit == pub.unit and _same_value(p.value, pub.value)
                and (not p.model or not norm(pub.model) or p.model == norm(pub.model))):
            return p
    return None


def fitted_text(point, path) -> str:
    return (f"training point of the calibration ({path}, {point.id}): {FITTED}")


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
        return f"{needs}; this run: {baselines_text(table.itertuples())}"
    if skipped:
        return f"this run: skipped: {skipped[0]}"
    stated = ", ".join(f"{k} {norm(getattr(pub, k))}" for k in KEYS if norm(getattr(pub, k)))
    return f"no {pub.system} {pub.metric} row at the paper's {stated} in {pub.id}.csv"


def location(pub) -> str:
    """Where a published value is printed: table, row / column, section, page (the parts the
    file states)."""
    parts = [pub.where, f"{pub.row_label} / {pub.column_label}", norm(pub.section),
             f"p. {norm(pub.page)}" if norm(pub.page) else ""]
    return ", ".join(p for p in parts if p)


def number_rows(published: pd.DataFrame, tables: dict[str, pd.DataFrame],
                absent: dict[str, str] | None = None, points=(),
                training_csv: str | Path = "") -> list[dict]:
    """A row per published value and reproduced counterpart; `points`: the calibration's
    training points (a published value equal to one is `fitted`), read from `training_csv`."""
    absent = absent or {}
    out = []
    for pub in published.itertuples():
        point = training_point(pub, points)
        table = tables.get(pub.id)
        base = {"kind": "number", "table": pub.id, "location": location(pub),
                "item": f"{pub.system} {pub.metric}", "metric": pub.metric, "unit": pub.unit,
                "published": pub.value, "system": pub.system,
                **{k: norm(getattr(pub, k)) for k in KEYS}}
        if not compared(pub):
            out.append({**base, "verdict": "context",
                        "detail": f"published, not compared: {getattr(pub, CONTEXT)}"})
            continue
        reps = [] if table is None else [r for r in table.itertuples() if matches(pub, r)]
        fitted = fitted_text(point, training_csv) if point else ""
        if not reps:
            why = _pending_reason(pub, table, absent.get(pub.id))
            out.append({**base, "verdict": "pending",
                        "detail": why + (f"; once reproduced: {fitted}" if fitted else "")})
            continue
        for rep in reps:
            low, high, band, in_band = _band(pub, rep)
            ratio = rep.value / pub.value
            verdict = "fitted" if point else "agrees" if agrees(ratio) else "disagrees"
            note = ("" if rep.system == pub.system else
                    f"{rep.system.split('/')[0]} stands in for {pub.system.split('/')[0]}: ")
            what = note + f"{rep.source} ({rep.backend}" + (
                f", {rep.cores}" if norm(rep.cores) else "") + ")"
            out.append({**base, **{k: norm(getattr(rep, k)) for k in KEYS},
                        "system": rep.system, "reproduced": rep.value,
                        "backend": rep.backend, "source": rep.source,
                        "ratio": ratio, "low": low, "high": high, "band": band,
                        "verdict": verdict, "in_band": in_band,
                        "detail": f"{fitted}; {what}" if fitted else what})
    return out


def fitted_claims(claims: list[dict], points) -> dict[str, object]:
    """{claim id: the training point that stands for it} (training.csv's `claim` column);
    a claim id the claims file does not have is an error, not a silent prediction."""
    known = {c["id"] for c in claims}
    out = {}
    for p in points:
        if not p.claim:
            continue
        if p.claim not in known:
            raise ValueError(f"training point {p.id} names claim {p.claim!r}, which is not in "
                             f"the claims file ({', '.join(sorted(known))})")
        out[p.claim] = p
    return out


def claim_rows(claims: list[dict], tables: dict[str, pd.DataFrame],
               absent: dict[str, str] | None = None, points=(),
               training_csv: str | Path = "") -> list[dict]:
    from . import claims as claims_mod

    fitted = fitted_claims(claims, points)
    out = []
    for claim in claims:
        result = claims_mod.evaluate(claim, tables, absent)
        point = fitted.get(claim["id"])
        if point is not None:
            text = fitted_text(point, training_csv)
            if result["verdict"] == "pending":
                result["detail"] += f"; once measured: {text}"
            else:  # measured, shown, never counted: the model was fitted to this number
                result = {**result, "verdict": "fitted",
                          "detail": f"{text} (published {point.value:g}); measured "
                                    f"(would {'hold' if result['verdict'] == 'holds' else 'fail'}"
                                    f"): {result['detail']}"}
        out.append({"kind": "claim", "table": ", ".join(dict.fromkeys(
                        c["table"] for c in claim["checks"])),
                    "item": f"{claim['id']}: {' '.join(claim['statement'].split())}",
                    "location": claims_mod.location(claim["source"]),
                    "source": result["basis"], "verdict": result["verdict"],
                    "detail": result["detail"]})
    return out


def build(table_dir: str | Path, published_csv: str | Path = PUBLISHED_CSV,
          claims_yaml: str | Path = CLAIMS_YAML, run: str | None = None,
          configured=None, training_csv: str | Path | None = None) -> pd.DataFrame:
    """The scorecard of the tables in `table_dir` (those of run `run`; `configured`: the ids
    of its config's experiments, where known, to say why a table is missing; `training_csv`:
    the calibration's training set, default training.csv beside `published_csv`)."""
    import pandas as pd

    from . import claims as claims_mod

    published = load_published(published_csv)
    claims = claims_mod.load(claims_yaml)
    claims_mod.check_paper_values(claims, published)
    train = training_path(published_csv, training_csv)
    points = load_training(train)
    shown = _shown_path(train)
    ids = table_ids(published, claims)
    tables = load_tables(table_dir, ids)
    absent = {i: absent_reason(i, run, configured) for i in ids if i not in tables}
    rows = (claim_rows(claims, tables, absent, points, shown)
            + number_rows(published, tables, absent, points, shown))
    card = pd.DataFrame(rows, columns=COLUMNS)
    card["run"] = run
    return card


def _shown_path(path: Path) -> str:
    """The training set's path as rows name it: results/reference/training.csv where it is
    the repository's, else as given."""
    from .. import training

    parts = Path(path).parts
    return str(training.TRAINING_CSV) if parts[-3:] == training.TRAINING_CSV.parts \
        else str(path)


def run_of(card: pd.DataFrame) -> str | None:
    runs = sorted(set(card["run"].dropna().astype(str)) - {""}) if "run" in card else []
    return ", ".join(runs) or None


def counts(card: pd.DataFrame) -> dict[str, int]:
    """Claims by verdict; numbers by verdict, and of the predictions (agrees / disagrees) with
    a band, how many hold the published value inside it (fitted points are not counted)."""
    claims = card[card["kind"] == "claim"]["verdict"].value_counts()
    numbers = card[card["kind"] == "number"]
    by = numbers["verdict"].value_counts()
    predicted = numbers[numbers["verdict"].isin(["agrees", "disagrees"])]
    banded = predicted["in_band"].isin(["yes", "no"])
    return {"holds": int(claims.get("holds", 0)), "fails": int(claims.get("fails", 0)),
            "fitted claims": int(claims.get("fitted", 0)),
            "pending claims": int(claims.get("pending", 0)),
            "agrees": int(by.get("agrees", 0)), "disagrees": int(by.get("disagrees", 0)),
            "fitted numbers": int(by.get("fitted", 0)),
            "pending numbers": int(by.get("pending", 0)),
            "context numbers": int(by.get("context", 0)),
            "in band": int((predicted["in_band"] == "yes").sum()),
            "with band": int(banded.sum())}


def in_band_text(c: dict[str, int]) -> str:
    if not c["with band"]:
        return "in band: no agreeing or disagreeing row has a low..high band"
    return (f"in band: the published value lies in the row's low..high band for {c['in band']} "
            f"of the {c['with band']} with one")


def context_text(c: dict[str, int]) -> str:
    return f"context: {c['context numbers']} published values shown, not compared ({CONTEXT_TEXT})"


def summary_lines(card: pd.DataFrame) -> list[str]:
    c = counts(card)
    return [f"claims:  {c['holds']} holds, {c['fails']} fails, {c['fitted claims']} fitted, "
            f"{c['pending claims']} pending",
            f"numbers: {c['agrees']} agree, {c['disagrees']} disagree, "
            f"{c['fitted numbers']} fitted, {c['pending numbers']} pending "
            f"(agreement: within +-{DEFAULT_TOLERANCE:.0%}; {in_band_text(c)}; fitted: "
            "training points of the calibration, never counted as agreement)",
            context_text(c)]


def failing(card: pd.DataFrame) -> pd.DataFrame:
    """Claims that fail and numbers that disagree (fitted and pending rows never fail)."""
    return card[card["verdict"].isin(["fails", "disagrees"])]


def _line(row) -> str:
    if row.kind == "claim":
        return f"  [claim] {row.item} ({row.location}) -> {row.verdict}: {row.detail}"
    what = " ".join(str(getattr(row, k)) for k in KEYS if getattr(row, k))
    head = f"  [{row.table}] {row.system} {row.metric} {what} ({row.location})"
    if row.verdict == "pending":
        return f"{head} -> pending: {row.detail}"
    band = f"in band: {row.in_band} ({row.band})" if norm(row.in_band) else "no band"
    return (f"{head}: reproduced {row.reproduced:.4g} vs published {row.published:.4g} "
            f"{row.unit}, ratio {row.ratio:.3g} -> {row.verdict} (agreement: within "
            f"+-{DEFAULT_TOLERANCE:.0%}; {band}); {row.detail}")


def format_terminal(card: pd.DataFrame, where: str = "") -> str:
    """Counts first, then failing and pending rows; the first line names the run read
    (`where`: e.g. its tables folder and how the run was chosen)."""
    run = run_of(card)
    head = f"WaferLLM scorecard of run {run}" if run else "WaferLLM scorecard"
    lines = [f"{head}{f' ({where})' if where else ''}: simulated = meshsim cost model, "
             "not a measurement", *summary_lines(card)]
    for title, rows in (("fails / disagrees", failing(card)),
                        ("fitted, not counted",
                         card[card["verdict"] == "fitted"]),
                        ("pending", card[card["verdict"] == "pending"])):
        if len(rows):
            lines += ["", f"{title} ({len(rows)}):", *(_line(r) for r in rows.itertuples())]
    return "\n".join(lines)

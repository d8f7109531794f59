"""The paper's claims (results/reference/claims.yaml) checked on a run's tidy tables.

Each claim is one or more checks; a check selects rows of one table and tests their values (or
ratios of two selections) against the claim's range. Verdict: `holds`, `fails` (with the
measured values) or `pending` (with what the run lacks). Skipped rows never count as values.

A claim that selects GPU rows (a `backend_contains` selector) or SDK-backend rows waits for that
hardware: it says so in its `waits_for` (gpu, sdk), checked against its selectors when loaded,
so every other claim must give a verdict on a meshsim run (tests/test_paper_scorecard.py).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import yaml

from ..experiments import grid_side
from ..published import WAFER_BACKENDS, baselines_text
from ..published import norm as _norm
from ..sdk.backends import SDK_BACKENDS

VALUED = ("simulated", "measured")
WAITS = ("gpu", "sdk")  # what a claim may wait for: a CPU-only meshsim run has neither


def load(path: str | Path) -> list[dict]:
    claims = yaml.safe_load(Path(path).read_text())["claims"]
    for claim in claims:
        missing = {"id", "statement", "source", "needs", "checks"} - set(claim)
        if missing:
            raise ValueError(f"{path}: claim {claim.get('id')!r} lacks {sorted(missing)}")
        _check_waits(claim, path)
    return claims


def _selectors(check: dict) -> list[dict]:
    return [check[k] for k in ("select", "numerator", "denominator") if k in check]


def _paper_metric(check: dict) -> str:
    """The published metric a `vs_paper` check compares with (its own where not stated)."""
    return check.get("paper_metric", check["metric"])


def selected_hardware(claim: dict) -> set[str]:
    """What the claim's selectors need beyond meshsim: `gpu` (a GPU model in the backend),
    `sdk` (an SDK backend)."""
    out = set()
    for sel in (s for check in claim["checks"] for s in _selectors(check)):
        if "backend_contains" in sel:
            out.add("gpu")
        backends = sel.get("backend", [])
        if set(backends if isinstance(backends, list) else [backends]) & set(SDK_BACKENDS):
            out.add("sdk")
    return out


def waits_for(claim: dict) -> set[str]:
    """What the claim waits for, as its `waits_for` states (empty: it must give a verdict on a
    meshsim run)."""
    return set(claim.get("waits_for") or [])


def _check_waits(claim: dict, path) -> None:
    """`waits_for` is explicit and must be what the selectors need: an exemption from giving
    a verdict that no selector explains, or a GPU selection not declared, is an error."""
    stated, needed = waits_for(claim), selected_hardware(claim)
    if stated - set(WAITS):
        raise ValueError(f"{path}: claim {claim['id']!r}: waits_for {sorted(stated)}, not of "
                         f"{WAITS}")
    if stated != needed:
        raise ValueError(f"{path}: claim {claim['id']!r} states waits_for {sorted(stated)} but "
                         f"its selectors need {sorted(needed)}")


def check_paper_values(claims: list[dict], published: pd.DataFrame) -> None:
    """Every `vs_paper` check's published metric is in the published values of its table: a
    name that matches nothing would leave the claim pending for ever."""
    for claim in claims:
        for check in (c for c in claim["checks"] if c["kind"] == "vs_paper"):
            metric = _paper_metric(check)
            rows = published[(published["id"] == check["table"])
                             & (published["metric"] == metric)]
            if rows.empty:
                raise ValueError(f"claim {claim['id']!r}: no published {metric} in "
                                 f"{check['table']} (results/reference/published.csv)")


def location(source: dict) -> str:
    """Where the claim is stated: where, section, page (the parts the file states)."""
    page = _norm(source.get("page"))
    parts = [source["where"], _norm(source.get("section")), f"p. {page}" if page else ""]
    return ", ".join(p for p in parts if p)


def select(table: pd.DataFrame, selector: dict) -> pd.DataFrame:
    """Rows whose columns equal the selector's values (a list: any of them);
    `backend_contains` matches part of the backend, case-insensitively."""
    mask = pd.Series(True, index=table.index)
    for key, want in selector.items():
        if key == "backend_contains":
            mask &= table["backend"].astype(str).str.lower().str.contains(str(want).lower(),
                                                                         regex=False)
            continue
        wants = {_norm(w) for w in (want if isinstance(want, list) else [want])}
        mask &= table[key].map(_norm).isin(wants)
    return table[mask]


def valued(rows: pd.DataFrame, metric: str) -> pd.DataFrame:
    return rows[(rows["metric"] == metric) & rows["source"].isin(VALUED) & rows["value"].notna()]


def _bounds(check: dict) -> tuple[float, float]:
    expect, tol = check["expect"], check.get("tolerance", 0.0)
    if "approx" in expect:
        return expect["approx"] * (1 - tol), expect["approx"] * (1 + tol)
    return (expect.get("min", -math.inf) * (1 - tol), expect.get("max", math.inf) * (1 + tol))


def _why_missing(table: pd.DataFrame | None, table_id: str, selectors: list[dict],
                 absent: str | None = None) -> str:
    """What this run has instead: skipped rows' reasons, or rows on another device (`absent`:
    why the table is missing, where it is)."""
    if table is None:
        return absent or f"this run has no {table_id}.csv (not built yet, or not in its config)"
    notes = []
    for sel in selectors:
        systems = sel.get("system")
        systems = systems if isinstance(systems, list) else [systems] if systems else []
        gpu_side = {s.split("/")[0] for s in systems}
        rows = table[table["system"].isin(gpu_side | set(systems))] if systems else table
        for note in rows[rows["source"] == "skipped"]["note"].dropna().unique()[:2]:
            notes.append(f"skipped: {str(note).removeprefix('skipped: ')}")
        if "backend_contains" in sel:
            others = [b for b in rows[rows["source"].isin(VALUED)]["backend"].unique()
                      if str(b).split(" / ")[0] not in WAFER_BACKENDS]
            if len(others):
                notes.append(f"ran on {', '.join(map(str, others))} only")
    if not notes and any("backend_contains" in sel for sel in selectors):
        notes.append(baselines_text(table.itertuples()))
    return "; ".join(dict.fromkeys(notes)) or f"no matching rows in {table_id}.csv"


def _check_each(check: dict, table: pd.DataFrame) -> list:
    rows = valued(select(table, check["select"]), check["metric"])
    return [(f"{r.system} {_label(r)}", r.value, r.source) for r in rows.itertuples()]


def _label(row) -> str:
    parts = [_norm(getattr(row, c)) for c in ("model", "shape", "cores", "input_len",
                                                "output_len")]
    gpus = _norm(row.gpus)
    return " ".join(p for p in parts if p) + (f" {gpus} GPU(s)" if gpus else "")


def _check_ratio(check: dict, table: pd.DataFrame) -> list:
    num = valued(select(table, check["numerator"]), check["metric"])
    den = valued(select(table, check["denominator"]), check["metric"])
    pick = {"min": min, "max": max}.get(check.get("pick"))
    ratios = []
    keys = check["pair_on"]
    for key, nrows in num.groupby([num[k].map(_norm) for k in keys]):
        key = key if isinstance(key, tuple) else (key,)
        drows = den[(den[keys].apply(lambda c: c.map(_norm)) == list(key)).all(axis=1)]
        if drows.empty:
            continue
        nvals = [(r.value, r) for r in nrows.itertuples()]
        dvals = [(r.value, r) for r in drows.itertuples()]
        if pick is not None:  # "the best" configuration on whichever side has several
            nvals = [pick(nvals, key=lambda p: p[0])] if len(nvals) > 1 else nvals
            dvals = [pick(dvals, key=lambda p: p[0])] if len(dvals) > 1 else dvals
        for (nv, nr), (dv, dr) in ((n, d) for n in nvals for d in dvals):
            ratio = nv / dv
            label = " ".join(k for k in key if k)
            if check.get("per_grid_side"):
                ratio /= grid_side(nr.cores)
                label += " (ratio / grid side)"
            source = "measured" if {nr.source, dr.source} == {"measured"} else "simulated"
            ratios.append((f"{nr.system}/{dr.system} {label}", ratio, source))
    if check.get("reduce") == "geomean" and ratios:
        geo = math.exp(sum(math.log(v) for _, v, _ in ratios) / len(ratios))
        detail = ", ".join(f"{lab.split(' ', 1)[1]} {v:.3g}" for lab, v, _ in ratios)
        src = "measured" if all(s == "measured" for *_, s in ratios) else "simulated"
        ratios = [(f"geometric mean over {len(ratios)} ({detail})", geo, src)]
    return ratios


def _check_vs_paper(check: dict, table: pd.DataFrame) -> list:
    """Each selected row's value over the published value (the table's `source: paper` row of
    `paper_metric`) with the same `pair_on` fields: how far a reading is from the paper's
    own number, so it fails when the number is off, whatever the ratios between rows."""
    ours = valued(select(table, check["select"]), check["metric"])
    paper = select(table, check["select"])
    paper = paper[(paper["source"] == "paper")
                  & (paper["metric"] == _paper_metric(check))
                  & paper["value"].notna()]
    keys = check["pair_on"]
    out = []
    for r in ours.itertuples():
        want = [_norm(getattr(r, k)) for k in keys]
        refs = paper[(paper[keys].apply(lambda c: c.map(_norm)) == want).all(axis=1)]
        for ref in refs.itertuples():
            preset = _norm(getattr(r, "preset", None))
            label = f"{r.system} {_label(r)}" + (f" ({preset})" if preset else "")
            out.append((f"{label} / paper {ref.value:.6g}", r.value / ref.value, r.source))
    return out


CHECKS = {"each": _check_each, "ratio": _check_ratio, "vs_paper": _check_vs_paper}


def evaluate(claim: dict, tables: dict[str, pd.DataFrame],
             absent: dict[str, str] | None = None) -> dict:
    """One claim's verdict, the values it rests on, and their basis (simulated/measured);
    `absent`: why each missing table is missing."""
    absent = absent or {}
    pending, failed, shown, sources = [], [], [], set()
    for check in claim["checks"]:
        table = tables.get(check["table"])
        selectors = _selectors(check)
        values = [] if table is None else CHECKS[check["kind"]](check, table)
        if not values:
            pending.append(_why_missing(table, check["table"], selectors,
                                        absent.get(check["table"])))
            continue
        lo, hi = _bounds(check)
        for label, value, source in values:
            sources.add(source)
            ok = lo <= value <= hi
            shown.append(f"{label}: {value:.4g}" + ("" if ok else " (out of range)"))
            if not ok:
                failed.append(label)
        shown.append(f"expected {_range_text(lo, hi)}")
    verdict = "pending" if pending else "fails" if failed else "holds"
    detail = "; ".join(shown)
    if pending:
        detail = f"needs {claim['needs']}; this run: {'; '.join(dict.fromkeys(pending))}"
    basis = "/".join(sorted(sources)) if sources else ""
    return {"verdict": verdict, "detail": detail, "basis": basis}


def _range_text(lo: float, hi: float) -> str:
    if math.isinf(hi):
        return f">= {lo:.4g}"
    if math.isinf(lo):
        return f"<= {hi:.4g}"
    return f"{lo:.4g}..{hi:.4g}"

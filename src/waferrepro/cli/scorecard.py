"""`waferrepro scorecard`: published numbers and claims beside a run's, with verdicts."""

from __future__ import annotations

import sys
from pathlib import Path

from ..scorecard.verdicts import (
    CLAIMS_YAML,
    PUBLISHED_CSV,
    build,
    failing,
    format_terminal,
)


def register(sub) -> None:
    p = sub.add_parser("scorecard", help="published numbers and claims vs a run, with "
                       "verdicts (counts first, then failing and pending rows)")
    p.add_argument("--run", help="the run to read (results/<run>/tables); default: the most "
                   "recent run, the one whose tables were written last")
    p.add_argument("--tables", help="read this folder of <id>.csv tables instead "
                   "(default: results/<run>/tables)")
    p.add_argument("--published", default=PUBLISHED_CSV, metavar="CSV",
                   help="published values")
    p.add_argument("--claims", default=CLAIMS_YAML, metavar="YAML", help="the paper's claims")
    p.add_argument("--training", metavar="CSV", help="the calibration's training set: its points "
                   "are `fitted`, never agreement (default: training.csv beside --published)")
    p.add_argument("--out", help="also write the scorecard CSV here")
    p.add_argument("--figure", nargs="*", default=[], help="also draw the figure (png, pdf)")
    p.add_argument("--front-page", help="also write the report's front page (reST) here")
    p.add_argument("--front-intro", help="reST put at the top of the front page")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 when a claim fails or a number disagrees")
    p.set_defaults(func=_cmd_scorecard)


def _configured(run: str | None) -> set[str] | None:
    """The experiment ids of the run's config (results/<run>/config.yaml), where written."""
    path = Path("results", run or "", "config.yaml")
    if not run or not path.exists():
        return None
    import yaml

    return set((yaml.safe_load(path.read_text()) or {}).get("experiments", {}))


def _which(args) -> tuple[str | None, str, str]:
    """(run, tables folder, how it was chosen); ValueError (one line) when there is none."""
    from .. import runs

    if args.tables:
        tables = Path(args.tables)
        run = args.run or (tables.parent.name if tables.name == "tables"
                           and tables.parent.parent.name == runs.RESULTS else None)
        return run, str(tables), str(tables)
    if args.run:
        runs.check_name(args.run)
        return args.run, str(runs.tables_dir(args.run)), str(runs.tables_dir(args.run))
    run = runs.latest()
    if run is None:
        raise ValueError(f"no run has tables under {runs.RESULTS}/ yet: make them with "
                         f"`{runs.remake_command(runs.PAPER)}` (the paper run; "
                         "`snakemake --configfile config/smoke.yaml scorecard`: the smoke run)")
    others = [r for r in runs.runs() if r != run]
    how = f"{runs.tables_dir(run)}, the most recent run" + (
        f"; others: {', '.join(others)} (--run NAME)" if others else "")
    return run, str(runs.tables_dir(run)), how


def _cmd_scorecard(args) -> int:
    from .. import runs
    from ..scorecard import claims as claims_mod
    from ..scorecard.verdicts import load_published, table_ids

    run, tables, how = _which(args)
    ids = table_ids(load_published(args.published), claims_mod.load(args.claims))
    if not any((Path(tables) / f"{i}.csv").exists() for i in ids):
        what = f"run {run}" if run else tables
        make = f": make them with `{runs.remake_command(run)}`" if run else ""
        raise ValueError(f"{what} has no tables yet ({tables}){make}")
    card = build(tables, args.published, args.claims, run=run, configured=_configured(run),
                 training_csv=args.training)
    if args.out:
        from ..tables import write_csv
        write_csv(card, args.out)
    if args.figure:
        from ..scorecard.figure import render
        render(card, args.figure)
    if args.front_page:
        from ..scorecard.report import write_front_page
        png = next((f for f in args.figure if f.endswith(".png")), None)
        write_front_page(card, args.front_page, figure=png, intro_path=args.front_intro)
    print(format_terminal(card, how))
    if args.strict and len(failing(card)):
        print(f"--strict: {len(failing(card))} failing row(s)", file=sys.stderr)
        return 1
    return 0

"""`waferrepro scorecard`: published numbers and claims beside this run's, with verdicts."""

from __future__ import annotations

import sys

from ..scorecard.verdicts import (
    CLAIMS_YAML,
    PUBLISHED_CSV,
    TABLES_DIR,
    build,
    failing,
    format_terminal,
)


def register(sub) -> None:
    p = sub.add_parser("scorecard", help="published numbers and claims vs this run, with "
                       "verdicts (counts first, then failing and pending rows)")
    p.add_argument("--tables", default=TABLES_DIR, help="folder of the run's <id>.csv tables")
    p.add_argument("--published", default=PUBLISHED_CSV, metavar="CSV",
                   help="published values")
    p.add_argument("--claims", default=CLAIMS_YAML, metavar="YAML", help="the paper's claims")
    p.add_argument("--out", help="also write the scorecard CSV here")
    p.add_argument("--figure", nargs="*", default=[], help="also draw the figure (png, pdf)")
    p.add_argument("--front-page", help="also write the report's front page (reST) here")
    p.add_argument("--front-intro", help="reST put at the top of the front page")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 when a claim fails or a number is outside its band")
    p.set_defaults(func=_cmd_scorecard)


def _cmd_scorecard(args) -> int:
    card = build(args.tables, args.published, args.claims)
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
    print(format_terminal(card))
    if args.strict and len(failing(card)):
        print(f"--strict: {len(failing(card))} failing row(s)", file=sys.stderr)
        return 1
    return 0

"""Subcommands that turn records into outputs (tables, figures), run hardware sweeps, or say
what would run."""

from __future__ import annotations

import sys


def _cmd_table(args) -> int:
    from .. import tables
    from ..validate import out_path

    out_path(args.out, "--out")
    table = tables.build(args.id, args.records, args.reference, metrics=args.metrics)
    table["run"] = args.run
    tables.write_csv(table, args.out)
    print(f"{args.id}: {len(table)} rows -> {args.out}", file=sys.stderr)
    return 0


def _cmd_figure(args) -> int:
    from .. import figures, tables

    figures.render(args.id, tables.read_csv(args.table), args.out)
    return 0


def _cmd_sweep(args) -> int:
    import json

    from .. import sensitivity, tables
    from ..validate import out_path

    out_path(args.out, "--out")
    build = {"sensitivity": sensitivity.sensitivity_table, "whatif": sensitivity.whatif_table}
    table = build[args.id](json.loads(args.config), workers=args.workers)
    table["run"] = args.run
    tables.write_csv(table, args.out)
    print(f"{args.id}: {len(table)} rows -> {args.out}", file=sys.stderr)
    return 0


def _cmd_wse3(args) -> int:
    import json

    from .. import tables, wse3
    from ..validate import ValidationError, length, out_path

    out_path(args.out, "--out")
    length(args.workers, "--workers")
    try:
        config = json.loads(args.config)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"--config: not a JSON object ({exc.msg})") from None
    if not isinstance(config, dict):
        raise ValidationError("--config: not a JSON object; give the run's config as JSON")
    table = wse3.table(config, args.measured or wse3.MEASURED_CSV, workers=args.workers)
    table["run"] = args.run
    tables.write_csv(table, args.out)  # atomic: a failed run leaves the previous table
    print(f"wse3: {len(table)} rows -> {args.out}", file=sys.stderr)
    return 0


def _cmd_backend(args) -> int:
    from ..sdk.backends import resolve

    print(resolve(args.name, args.mode))
    return 0


def register(sub) -> None:
    table = sub.add_parser("table", help="aggregate run records into a tidy CSV")
    table.add_argument("--metrics", nargs="*", help="keep only these metrics")
    table.add_argument("--id", required=True, help="paper id of the table, e.g. fig10")
    table.add_argument("--out", required=True, metavar="CSV", help="table to write")
    table.add_argument("--reference", help="CSV of published values (results/reference/)")
    table.add_argument("--run", help="the run the table belongs to (its `run` column)")
    table.add_argument("records", nargs="*", metavar="RECORD", help="run records (JSON)")
    table.set_defaults(func=_cmd_table)

    figure = sub.add_parser("figure", help="draw a figure from its table")
    figure.add_argument("--id", required=True, help="paper id of the figure, e.g. fig10")
    figure.add_argument("--table", required=True, metavar="CSV", help="its table")
    figure.add_argument("--out", nargs="+", required=True, metavar="FILE",
                        help="figure files to draw (.png, .pdf)")
    figure.set_defaults(func=_cmd_figure)

    sweep = sub.add_parser("sweep", help="hardware sweep table: sensitivity or whatif "
                           "(simulated, many hardware variants in one process)")
    sweep.add_argument("--id", required=True, choices=["sensitivity", "whatif"],
                       help="which sweep")
    sweep.add_argument("--config", required=True,
                       help="JSON: hardware, hardware_overrides, schedule_preset, experiments "
                            "and the sensitivity/whatif section")
    sweep.add_argument("--workers", type=int, default=1, help="processes (one per worker)")
    sweep.add_argument("--run", help="the run the table belongs to (its `run` column)")
    sweep.add_argument("--out", required=True, metavar="CSV", help="table to write")
    sweep.set_defaults(func=_cmd_sweep)

    wse3 = sub.add_parser("wse3", help="the wse3 table: the model's cycles (simulated) for the "
                          "authors' WSE-3 benchmark matrix, the CS-3 measurements beside")
    wse3.add_argument("--config", required=True, metavar="JSON",
                      help="the run's config as JSON: its wse3 section (the matrix), "
                           "hardware_overrides, hardware_profile, functional_limits, seed")
    wse3.add_argument("--measured", metavar="CSV",
                      help="the WSE-3 measurements to set beside the model's points; not "
                           "given: results/reference/training-wse3.csv (wse3.MEASURED_CSV)")
    wse3.add_argument("--workers", type=int, default=1, help="processes (one grid each)")
    wse3.add_argument("--run", help="the run the table belongs to (its `run` column)")
    wse3.add_argument("--out", required=True, metavar="CSV", help="table to write")
    wse3.set_defaults(func=_cmd_wse3)

    backend = sub.add_parser("backend", help="print the backend that would run, or why none")
    backend.add_argument("name", nargs="?", default="auto",
                         help="backend asked for: meshsim, sdk-sim, wse2, wse3 or auto")
    backend.add_argument("--mode", choices=["direct", "appliance"], default="direct",
                         help="SDK mode: a local SDK, or a Wafer-Scale Cluster")
    backend.set_defaults(func=_cmd_backend)

"""What the subcommands share: hardware arguments and writing a record with a one-line summary."""

from __future__ import annotations

import json
import sys

from ..hardware import DEFAULT_PROFILE, PROFILES, get_hardware


def hardware_args(p) -> None:
    p.add_argument("--hardware", default="wse2")
    p.add_argument("--hardware-overrides", default="{}", help="JSON object")
    p.add_argument("--hardware-profile", choices=PROFILES, default=DEFAULT_PROFILE,
                   help="construct costs as calibrated on results/reference/training.csv, "
                        "or nominal (default: %(default)s)")


def hardware(args):
    return get_hardware(args.hardware, json.loads(args.hardware_overrides),
                        args.hardware_profile)


def write(record: dict, out: str) -> int:
    """Write a run record and say in one line what it holds."""
    from .. import records

    records.write(record, out)
    check = record["check"]
    status = record["source"] if record["source"] == "skipped" else (
        f"{record['mode']}, check " + ("passed" if check["passed"] else "not performed"))
    print(f"{record['job']}: {status} -> {out}", file=sys.stderr)
    return 0


def group(sub, name: str, help_text: str):
    """A nested command group (`waferrepro NAME ...`) whose own subcommands are required."""
    p = sub.add_parser(name, help=help_text)
    return p.add_subparsers(dest=f"{name}_command", required=True, metavar="COMMAND")

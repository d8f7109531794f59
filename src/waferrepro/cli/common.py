"""What the subcommands share: hardware arguments, the checks every job's options get
(waferrepro.validate) and writing a record with a one-line summary."""

from __future__ import annotations

import argparse
import sys

from ..hardware import HARDWARE
from ..hardware_profiles import DEFAULT_PROFILE, PROFILES, get_hardware


class Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Descriptions and epilogs as written; every optional option's help ends with its
    default (required ones and those without a default say none)."""

    def _get_help_string(self, action):
        if action.required or action.default in (None, [], argparse.SUPPRESS):
            return action.help
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (naming the option and, for a
    choice, the allowed values), exit status 2."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def hardware_args(p) -> None:
    p.add_argument("--hardware", choices=sorted(HARDWARE), default="wse2",
                   help="hardware description of the cost model and clock")
    p.add_argument("--hardware-overrides", default="{}", metavar="OBJECT",
                   help="JSON or YAML object replacing hardware fields, e.g. "
                        "'{\"clock_hz\": 850e6}' (known keys, finite values; see "
                        "waferrepro.hardware.Hardware)")
    p.add_argument("--hardware-profile", choices=PROFILES, default=DEFAULT_PROFILE,
                   help="construct costs as calibrated on results/reference/training.csv "
                        "(waferrepro.calibration), or nominal")


def hardware(args):
    from ..validate import parse_overrides

    return get_hardware(args.hardware, parse_overrides(args.hardware_overrides,
                                                       "hardware_overrides"),
                        args.hardware_profile)


def job_inputs(args):
    """The checks a job's command makes before it runs: --out writable (not a directory), the
    hardware overrides valid. Returns the hardware."""
    from ..validate import out_path

    out_path(args.out, "--out")
    return hardware(args)


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
    p = sub.add_parser(name, help=help_text, description=help_text)
    return p.add_subparsers(dest=f"{name}_command", required=True, metavar="COMMAND")

"""Command line of the harness; the Snakemake rules call these subcommands.

    waferrepro run    --system MeshGEMV --shape 1x2048x2048 --cores 32x32 --out REC.json
    waferrepro decode --model llama3-8b --cores 420x420 --input-len 4096 --output-len 128 \\
        --out R.json
    waferrepro prefill --model llama3-8b --cores 600x600 --input-len 4096 --out R.json
    waferrepro e2e --model llama3-8b --prefill-cores 660x660 --decode-cores 360x360 \\
        --input-len 2048 --output-len 128 --out R.json
    waferrepro kv-capacity --model llama3-8b --cores 420x420 --kv concat --out R.json
    waferrepro baseline matmul --device cpu --shape 1x4096x4096 --out R.json
    waferrepro sdk params --system MeshGEMM --shape 64x64x64 --cores 4x4
    waferrepro appliance compile --app STAGED --options='--arch=wse2 ...' --out OUT
    waferrepro table  --id fig10 --run smoke --out results/smoke/tables/fig10.csv REC.json ...
    waferrepro figure --id fig10 --table results/smoke/tables/fig10.csv --out a.png a.pdf
    waferrepro scorecard [--run smoke]
    waferrepro backend auto
    waferrepro calibrate --out calibration.csv --figure calibration.png

Subcommands by topic: `meshsim` (the simulator's jobs), `baselines`, `sdk` (with the
appliance group), `outputs` (tables, figures, hardware sweeps, backend), `scorecard`.

A user error (a bad option value, an unwritable --out) is one line naming the option, exit
status 1 (2 for a malformed command line), and nothing written.
"""

from __future__ import annotations

import argparse
import sys

from ..validate import ValidationError
from . import baselines, calibrate, meshsim, outputs, scorecard, sdk
from .common import Parser
from .faults import maybe_fail


def parser() -> argparse.ArgumentParser:
    p = Parser(prog="waferrepro", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for topic in (meshsim, baselines, sdk, outputs, scorecard, calibrate):
        topic.register(sub)
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    name = " ".join(filter(None, (args.command, *(getattr(args, f"{g}_command", None)
                                                   for g in ("baseline", "sdk", "appliance")))))
    try:
        maybe_fail(getattr(args, "out", None))
        return args.func(args)
    except ValidationError as exc:
        print(f"waferrepro {name}: error: {_as_option(str(exc), args)}", file=sys.stderr)
        return 1
    except OSError as exc:
        # A full disk, a folder that vanished: one line naming the file, nothing left behind
        # (records and tables are written through a temp file, removed on failure).
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"waferrepro {name}: error: cannot write or read {where}"
              f"{exc.strerror or exc}", file=sys.stderr)
        return 1
    except (ValueError, RuntimeError, AssertionError) as exc:
        # Plan, config, backend and numeric-check errors: one clear line, non-zero exit.
        print(f"waferrepro {name}: error: {exc}", file=sys.stderr)
        return 1


def _as_option(message: str, args) -> str:
    """A ValidationError from a job function names its Python argument ('input_len: ...',
    'hardware_overrides/clock_hz: ...'); on the command line, name the option instead."""
    what, sep, rest = message.partition(": ")
    arg, _, key = what.partition("/")
    if not sep or arg not in vars(args):
        return message
    option = "--" + arg.replace("_", "-")
    return f"{option} {key}: {rest}" if key else f"{option}: {rest}"


if __name__ == "__main__":
    sys.exit(main())

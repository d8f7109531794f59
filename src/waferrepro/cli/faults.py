"""Fault injection for checking a cluster setup: a run whose job fails on purpose must fail
the workflow and point at the job's log (tests/test_slurm.py does this on a real SLURM).

Set WAFERREPRO_FAIL_OUTPUT to one job's output path; that job's subcommand then raises before
doing anything. Unset (the normal case), nothing happens.
"""

from __future__ import annotations

import os


def maybe_fail(out: str | None) -> None:
    target = os.environ.get("WAFERREPRO_FAIL_OUTPUT")
    if target and out == target:
        raise RuntimeError(f"failure injected by WAFERREPRO_FAIL_OUTPUT={target}")

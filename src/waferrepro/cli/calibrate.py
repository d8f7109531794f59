"""`waferrepro calibrate`: fit one set of construct costs to the training files of both chips
(waferrepro.calibration) and write the table, the figure and the calibrated profile."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ..hardware_profiles import profile_path

# training.TRAINING_FILES, named here so the command line starts without the cycle model
# (numpy): tests/test_calibration.py holds them equal.
DEFAULTS = ["results/reference/training.csv", "results/reference/training-wse3.csv"]


def register(sub) -> None:
    p = sub.add_parser("calibrate", help="fit the uncertain construct costs, one set for both "
                       "chips, to the training files (and nothing else): table, figure, "
                       "calibrated hardware profile")
    p.add_argument("--training", nargs="+", default=DEFAULTS,
                   help="the training files (default: %(default)s)")
    p.add_argument("--out", required=True, help="the calibration table (CSV)")
    p.add_argument("--figure", nargs="*", default=[], help="predicted vs measured (png, pdf)")
    p.add_argument("--profile-out", help="write the calibrated profile (JSON) here; "
                   f"{profile_path()} is the one runs use")
    p.add_argument("--no-held-out", action="store_true",
                   help="skip the leave-one-out, leave-one-grid-out and zero-shot refits")
    p.set_defaults(func=_cmd)


def _cmd(args) -> int:
    from .. import calibration, calibration_report, training
    from ..hardware_profiles import load_profile

    paths = [Path(t) for t in args.training]
    for path in paths:
        if not path.is_file():
            print(f"calibrate: training file {path} not found", file=sys.stderr)
            return 2
    start = time.perf_counter()
    points = training.load_all(paths)
    fit = calibration.calibrate(points, progress=lambda m: print(m, file=sys.stderr),
                                held_out=not args.no_held_out)
    table = calibration_report.rows(fit)
    calibration_report.write_table(table, Path(args.out))
    calibration_report.figure(table, [Path(f) for f in args.figure])
    data = calibration.profile(fit, [(_relative(p), p) for p in paths])
    if args.profile_out:
        calibration.write_profile(data, Path(args.profile_out))
    committed = load_profile()
    same = committed is not None and committed.get("values") == data["values"]
    bands = ", ".join(f"{c} {b['log_half_width']:.3f}" for c, b in data["bands"].items())
    print(f"calibration: {len(points)} points in {time.perf_counter() - start:.0f} s, bands "
          f"(log) {bands}; table {args.out}"
          + ("" if same else f"; differs from the committed profile {profile_path()} "
             "(copy --profile-out there to adopt it)"), file=sys.stderr)
    return 0


def _relative(path: Path) -> Path:
    """The training file as records name it (results/reference/...) where it is one."""
    from .. import training

    for known in training.TRAINING_FILES:
        if path.resolve() == known.resolve():
            return known
    return path

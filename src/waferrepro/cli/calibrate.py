"""`waferrepro calibrate`: fit the construct costs to the training set (waferrepro.calibration)
and write the table, the figure and the calibrated profile."""

from __future__ import annotations

import sys
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("calibrate", help="fit the uncertain construct costs to "
                       "results/reference/training.csv (and nothing else): table, figure, "
                       "calibrated hardware profile")
    p.add_argument("--training", default="results/reference/training.csv",
                   help="the training set (default: %(default)s)")
    p.add_argument("--hardware", default="wse2", choices=["wse2"],
                   help="the hardware whose profile is fitted (default: %(default)s)")
    p.add_argument("--out", required=True, help="the calibration table (CSV)")
    p.add_argument("--figure", nargs="*", default=[], help="predicted vs published (png, pdf)")
    p.add_argument("--profile-out", help="write the calibrated profile (JSON) here; "
                   "src/waferrepro/profiles/<hardware>-calibrated.json is the one runs use")
    p.set_defaults(func=_cmd)


def _cmd(args) -> int:
    from .. import calibration, calibration_report, training
    from ..hardware import HARDWARE
    from ..hardware_profiles import load_profile, profile_path

    hw = HARDWARE[args.hardware]  # the nominal description: the fit starts from it
    points = training.load(Path(args.training))
    fit = calibration.calibrate(hw, points, progress=lambda m: print(m, file=sys.stderr))
    table = calibration_report.rows(hw, fit, points)
    calibration_report.write_table(table, Path(args.out))
    calibration_report.figure(table, [Path(f) for f in args.figure])
    data = calibration.profile(hw, fit, Path(args.training), len(points))
    if args.profile_out:
        calibration.write_profile(data, Path(args.profile_out))
    committed = load_profile(hw.name)
    same = committed is not None and committed.get("values") == data["values"]
    print(f"calibration: {len(points)} points, leave-one-out RMS log error "
          f"{fit.loo_rms:.3f}; table {args.out}"
          + ("" if same else f"; differs from the committed profile "
             f"{profile_path(hw.name)} (copy --profile-out there to adopt it)"),
          file=sys.stderr)
    return 0

#!/usr/bin/env cs_python
"""Launcher for MeshGEMV on the SDK simulator, a wafer, or an appliance worker (cs_python).

Packs W and x with the harness's own host code (waferrepro.host, the functions meshsim's
tests exercise), runs, reads y (f32 under `acc32`, the fp32-accumulate form, else fp16) and
the timestamps back, checks y against NumPy with meshsim's tolerance for that accumulate and
writes the JSON `waferrepro sdk record` reads (waferrepro.sdk.launch). NOT RUN HERE: no SDK.
"""

import sys
from pathlib import Path

_here = Path(__file__).resolve().parent  # staged next to the host-code zip, or in the repo
sys.path[:0] = [str(_here / "waferrepro_host.zip"), str(_here.parents[1] / "src")]

import numpy as np  # noqa: E402

from waferrepro.host import pad2d, to_tiles  # noqa: E402
from waferrepro.sdk import launch as sdk_launch  # noqa: E402


def main() -> int:
    args = sdk_launch.parser("MeshGEMV").parse_args()
    params = sdk_launch.compile_params(args.name)
    width, height, kt, nt = (params[k] for k in ("width", "height", "kt", "nt"))
    _, k, n = (int(v) for v in args.shape.split("x"))

    rng = np.random.default_rng(args.seed)  # the same draw as meshsim.make_inputs
    x = rng.standard_normal((1, k)).astype(np.float16)
    w = rng.standard_normal((k, n)).astype(np.float16)
    x_rows = pad2d(x, 1, kt * height).reshape(height, kt)      # row py holds x block py

    run = sdk_launch.Session(args.name, args.cmaddr, width, height)
    run.put("W", to_tiles(w, height, width))                # (height, width, kt, nt)
    run.put("x", np.broadcast_to(x_rows[:, None, :], (height, width, kt)))
    y_tiles, timing = sdk_launch.check_then_time(run, lambda: run.get_acc("y", nt, params),
                                                 args.warmup, args.repeats)
    run.stop()

    # Every row must hold the column's sum (the broadcast); check the last row, as meshsim does.
    y = y_tiles[height - 1].reshape(-1)[:n].astype(np.float64)
    rows_agree = bool((y_tiles == y_tiles[height - 1][None]).all())
    return sdk_launch.finish(args.out_json, "MeshGEMV", args.shape, y[None, :],
                             x.astype(np.float64) @ w, timing, width, height, params,
                             rows_agree, sdk_launch.accumulate_check(params, k))


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env cs_python
"""Launcher for MeshGEMM on the SDK simulator, a wafer, or an appliance worker (cs_python).

Tiles A and B, pre-skews them and places them on the interleaved rings with the harness's
own host code (waferrepro.host.pack_cannon: the function meshsim's MeshGEMM runs on), runs,
reads C (f32 under `acc32`, the fp32-accumulate form, else fp16) and the timestamps back,
unpacks (host.unpack_cannon), checks against NumPy with meshsim's tolerance for that
accumulate and writes the JSON `waferrepro sdk record` reads (waferrepro.sdk.launch). NOT RUN
HERE: no SDK.
"""

import sys
from pathlib import Path

_here = Path(__file__).resolve().parent  # staged next to the host-code zip, or in the repo
sys.path[:0] = [str(_here / "waferrepro_host.zip"), str(_here.parents[1] / "src")]

import numpy as np  # noqa: E402

from waferrepro.host import pack_cannon, unpack_cannon  # noqa: E402
from waferrepro.sdk import launch as sdk_launch  # noqa: E402


def main() -> int:
    args = sdk_launch.parser("MeshGEMM").parse_args()
    params = sdk_launch.compile_params(args.name)
    p, mt, nt = params["P"], params["Mt"], params["Nt"]
    m, k, n = (int(v) for v in args.shape.split("x"))

    rng = np.random.default_rng(args.seed)  # the same draw as meshsim.make_inputs
    a = rng.standard_normal((m, k)).astype(np.float16)
    b = rng.standard_normal((k, n)).astype(np.float16)
    a_tiles, b_tiles = pack_cannon(a, b, p, interleaved=True)  # (p, p, Mt, Kt), (p, p, Kt, Nt)

    run = sdk_launch.Session(args.name, args.cmaddr, p, p)
    run.put("A", a_tiles)
    run.put("B", b_tiles)
    c_tiles, timing = sdk_launch.check_then_time(
        run, lambda: run.get_acc("C", mt * nt, params).reshape(p, p, mt, nt), args.warmup,
        args.repeats)
    run.stop()

    c = unpack_cannon(c_tiles, m, n, interleaved=True).astype(np.float64)
    return sdk_launch.finish(args.out_json, "MeshGEMM", args.shape, c,
                             a.astype(np.float64) @ b.astype(np.float64), timing, p, p, params,
                             check=sdk_launch.accumulate_check(params, k))


if __name__ == "__main__":
    sys.exit(main())

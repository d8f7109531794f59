#!/usr/bin/env cs_python
"""Launcher for Decode (one token through one layer) on the SDK simulator or a wafer.

Builds each core's inputs with waferrepro.sdk.inputs.decode_inputs (meshsim's own packing:
weights, KV cache, RoPE tables, head map, this step's cache moves), runs, reads the output
(`out`: fp16 under either accumulate form; the f32 partial sums of `acc32` stay on the
device) and the timestamps back, checks the output against the NumPy reference layer
(sdk.launch.layer_check: the fixed fp16-activation bound, naming the accumulate the kernel
was compiled for) and writes the JSON `waferrepro sdk record` reads. NOT RUN HERE: no SDK.
"""

import sys
from pathlib import Path

_here = Path(__file__).resolve().parent  # staged next to the host-code zip, or in the repo
sys.path[:0] = [str(_here / "waferrepro_host.zip"), str(_here.parents[1] / "src")]

import numpy as np  # noqa: E402

from waferrepro.models import arch  # noqa: E402
from waferrepro.sdk import launch as sdk_launch  # noqa: E402
from waferrepro.sdk.inputs import decode_inputs, decode_params  # noqa: E402


def main() -> int:
    p = sdk_launch.parser("Decode", shape=False)
    p.add_argument("--model", required=True)
    p.add_argument("--context", type=int, required=True, help="tokens already cached")
    p.add_argument("--kv", choices=["shift", "concat"], default="shift")
    sdk_launch.add_preset_argument(p)
    args = p.parse_args()
    params = sdk_launch.compile_params(args.name)
    a = arch(args.model)
    width, height = params["width"], params["height"]
    needed = decode_params(a, width, height, args.context, args.kv, preset=args.preset)
    layer, needs = sdk_launch.layer_params(params), sdk_launch.layer_params(needed)
    if {**layer, "cap": 0} != {**needs, "cap": 0} or params["cap"] < needed["cap"]:
        print(f"compiled for {params}, but this step needs {needed} (cap at least)",
              file=sys.stderr)
        return 2

    symbols, expected = decode_inputs(a, width, height, args.context, args.kv, args.seed,
                                      cap=params["cap"], preset=args.preset)
    run = sdk_launch.Session(args.name, args.cmaddr, width, height)
    for name, tiles in symbols.items():
        run.put(name, tiles)
    out, timing = sdk_launch.check_then_time(run, lambda: run.get_f16("out", params["dy"]),
                                             args.warmup, args.repeats)
    run.stop()

    # Every column must hold the same output (the row all-reduces' broadcasts); check the
    # last column, as meshsim does.
    got = out[:, width - 1].reshape(-1)[: a.hidden].astype(np.float64)
    agree = bool((out == out[:, width - 1:width]).all())
    shape = f"{args.model} context {args.context} kv {args.kv} ({args.preset})"
    return sdk_launch.finish(args.out_json, "Decode", shape, got, expected, timing, width,
                             height, params, agree, sdk_launch.layer_check(params),
                             preset=args.preset)


if __name__ == "__main__":
    sys.exit(main())

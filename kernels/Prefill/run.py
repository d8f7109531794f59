#!/usr/bin/env cs_python
"""Launcher for Prefill (a whole prompt through one layer) on the SDK simulator or a wafer.

Builds each core's inputs with waferrepro.sdk.inputs.prefill_inputs (meshsim.prefill's own
packing: weights placed for their MeshGEMM form, the bias in the row-skewed layout, RoPE
tables, the prompt's hidden states in the natural layout), runs, reads `out` back (the
layer's output, natural layout: fp16 under either accumulate, the kernel's accumulators never
leave the device), checks it against the NumPy reference layer (sdk.launch.layer_check: the
fixed device bound, naming the accumulate of the compile's `acc32`) and writes the JSON
`waferrepro sdk prefill-record` reads. NOT RUN HERE: no SDK.
"""

import sys
from pathlib import Path

_here = Path(__file__).resolve().parent  # staged next to the host-code zip, or in the repo
sys.path[:0] = [str(_here / "waferrepro_host.zip"), str(_here.parents[1] / "src")]

from waferrepro.meshsim.prefill_layout import unpack_activations  # noqa: E402
from waferrepro.models import arch  # noqa: E402
from waferrepro.sdk import launch as sdk_launch  # noqa: E402
from waferrepro.sdk.inputs import prefill_inputs, prefill_params  # noqa: E402


def main() -> int:
    p = sdk_launch.parser("Prefill", shape=False)
    p.add_argument("--model", required=True)
    p.add_argument("--input-len", type=int, required=True, help="prompt tokens")
    sdk_launch.add_preset_argument(p)
    args = p.parse_args()
    params = sdk_launch.compile_params(args.name)
    a = arch(args.model)
    needed = prefill_params(a, params["P"], args.input_len, preset=args.preset)
    if sdk_launch.layer_params(params) != sdk_launch.layer_params(needed):
        print(f"compiled for {params}, but this prompt needs {needed}", file=sys.stderr)
        return 2

    P, lt, dt = params["P"], params["lt"], params["dt"]
    symbols, expected = prefill_inputs(a, P, args.input_len, args.seed, preset=args.preset)
    run = sdk_launch.Session(args.name, args.cmaddr, P, P)
    for name, tiles in symbols.items():
        run.put(name, tiles)
    # Every run starts from the same state (x only read, the weights back home: see
    # pe_program.csl), so the timed launch's output must equal the checked first one.
    out, timing = sdk_launch.check_then_time(
        run, lambda: run.get_f16("out", lt * dt).reshape(P, P, lt, dt), args.warmup,
        args.repeats)
    run.stop()

    got = unpack_activations(out, a, args.input_len)
    return sdk_launch.finish(args.out_json, "Prefill",
                             f"{args.model} prompt {args.input_len} ({args.preset})", got,
                             expected, timing, P, P, params,
                             check=sdk_launch.layer_check(params), preset=args.preset)


if __name__ == "__main__":
    sys.exit(main())

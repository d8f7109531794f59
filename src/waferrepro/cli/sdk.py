"""`waferrepro sdk ...` (records from the CSL launchers, staging, compile parameters) and
`waferrepro appliance ...` (compile and run on a Wafer-Scale Cluster)."""

from __future__ import annotations

import os
import shlex

from ..presets import DEFAULT_PRESET, PRESETS
from .common import group, hardware, hardware_args, write


def _cmd_record(args) -> int:
    from ..jobs.sdk import record_from_sdk

    return write(record_from_sdk(args.result, args.system, args.shape, args.cores,
                                 args.backend, hardware(args), args.command), args.out)


def _cmd_decode_record(args) -> int:
    from ..jobs.sdk import record_from_sdk_decode

    return write(record_from_sdk_decode(args.steps, args.counts, args.model, args.cores,
                                        args.input_len, args.output_len, args.kv,
                                        args.backend, hardware(args)), args.out)


def _cmd_prefill_record(args) -> int:
    from ..jobs.sdk import record_from_sdk_prefill

    return write(record_from_sdk_prefill(args.result, args.model, args.cores, args.input_len,
                                         args.backend, hardware(args), args.command), args.out)


def _cmd_e2e_from_parts(args) -> int:
    from ..jobs.sdk import record_from_parts_e2e

    return write(record_from_parts_e2e(args.prefill_record, args.decode_record, args.model,
                                       args.prefill_cores, args.decode_cores, args.input_len,
                                       args.output_len, args.backend, hardware(args)),
                 args.out)


def _cmd_stage(args) -> int:
    from ..sdk import appliance, toolchain

    layout = toolchain.stage_sources(args.kernels, args.system, args.out)
    appliance.host_bundle(os.path.join(args.out, appliance.BUNDLE))
    print(layout)
    return 0


def _cmd_params(args) -> int:
    from ..experiments import parse_dims

    px, py = parse_dims(args.cores, 2, "core grid")
    if args.system in ("Decode", "Prefill"):
        from ..models import arch
        from ..sdk.inputs import decode_params, prefill_params

        if args.system == "Decode":
            params = decode_params(arch(args.model), px, py, args.context, args.kv,
                                   preset=args.preset, hw=hardware(args))
        else:
            from ..experiments import square_grid

            params = prefill_params(arch(args.model), square_grid(args.cores), args.input_len,
                                    preset=args.preset, hw=hardware(args))
    else:
        from ..sdk.toolchain import kernel_params

        params = kernel_params(args.system, parse_dims(args.shape, 3, "shape"), px, py,
                               preset=args.preset, hw=hardware(args))
    from ..sdk.dsd_limits import check

    check(args.system, params)  # refuse what the kernel cannot encode, before cslc
    print(",".join(f"{k}:{v}" for k, v in params.items()))
    return 0


def _cmd_appliance_compile(args) -> int:
    from ..sdk import appliance

    artifact = appliance.compile_kernel(args.app, shlex.split(args.options), args.out)
    print(f"compiled on the cluster: artifact {artifact}")
    return 0


def _cmd_appliance_run(args) -> int:
    from ..sdk import appliance

    print(appliance.run_kernel(args.artifact, args.app, args.launcher_args, args.simulator,
                               args.out_json))
    return 0


def _record_args(p) -> None:
    """What the SDK record builders take: the backend, the output, the hardware."""
    from ..sdk.backends import SDK_BACKENDS

    p.add_argument("--backend", choices=SDK_BACKENDS, required=True,
                   help="the SDK backend the launcher ran on")
    p.add_argument("--out", required=True, metavar="FILE", help="run record to write (JSON)")
    hardware_args(p)


def register(sub) -> None:
    sdk = group(sub, "sdk", "the CSL kernels on the Cerebras SDK: records, staging, parameters")

    sr = sdk.add_parser("record", help="run record from a CSL launcher's JSON result")
    sr.add_argument("--result", required=True, metavar="JSON",
                    help="the launcher's JSON result (run.py --out-json)")
    sr.add_argument("--system", required=True, help="kernel system, e.g. MeshGEMV")
    sr.add_argument("--shape", required=True, metavar="MxKxN", help="the kernel's shape")
    sr.add_argument("--cores", required=True, metavar="PxQ", help="the kernel's core grid")
    sr.add_argument("--command", default="", help="the launcher command, for provenance")
    _record_args(sr)
    sr.set_defaults(func=_cmd_record)

    sd = sdk.add_parser("decode-record", help="decode run record from the CSL Decode "
                        "kernel's step results (one per group of equal-cost steps)")
    sd.add_argument("--steps", nargs="+", required=True, help="launcher JSON results")
    sd.add_argument("--counts", nargs="+", type=int, required=True,
                    help="decode steps each result stands for")
    sd.add_argument("--model", required=True, help="registry model id")
    sd.add_argument("--cores", required=True, metavar="PxQ", help="core grid")
    sd.add_argument("--input-len", type=int, required=True, metavar="N", help="prompt tokens")
    sd.add_argument("--output-len", type=int, required=True, metavar="N",
                    help="generated tokens")
    sd.add_argument("--kv", choices=["shift", "concat"], required=True, help="KV cache mode")
    _record_args(sd)
    sd.set_defaults(func=_cmd_decode_record)

    sp = sdk.add_parser("prefill-record", help="prefill run record from the CSL Prefill "
                        "kernel's launcher result (one layer)")
    sp.add_argument("--result", required=True, metavar="JSON",
                    help="the launcher's JSON result (run.py --out-json)")
    sp.add_argument("--model", required=True, help="registry model id")
    sp.add_argument("--cores", required=True, metavar="PxP", help="square core grid")
    sp.add_argument("--input-len", type=int, required=True, metavar="N", help="prompt tokens")
    sp.add_argument("--command", default="", help="the launcher command, for provenance")
    _record_args(sp)
    sp.set_defaults(func=_cmd_prefill_record)

    ep = sdk.add_parser("e2e-from-parts", help="end-to-end record (Table 2) from a prefill "
                        "and a decode record of one backend (the SDK backends' path)")
    ep.add_argument("--prefill-record", required=True, metavar="FILE",
                    help="the prefill run record")
    ep.add_argument("--decode-record", required=True, metavar="FILE",
                    help="the decode run record")
    ep.add_argument("--model", required=True, help="registry model id")
    ep.add_argument("--prefill-cores", required=True, metavar="PxP", help="prefill grid")
    ep.add_argument("--decode-cores", required=True, metavar="PxQ", help="decode grid")
    ep.add_argument("--input-len", type=int, required=True, metavar="N", help="prompt tokens")
    ep.add_argument("--output-len", type=int, required=True, metavar="N",
                    help="generated tokens")
    _record_args(ep)
    ep.set_defaults(func=_cmd_e2e_from_parts)

    st = sdk.add_parser("stage", help="one folder with a CSL module, kernels/common and "
                        "the launcher's host code: what cslc or appliance mode compiles")
    st.add_argument("--kernels", required=True, help="the repository's kernels/ folder")
    st.add_argument("--system", required=True, help="CSL module: MeshGEMV, MeshGEMM, "
                    "Prefill or Decode")
    st.add_argument("--out", required=True, metavar="DIR", help="folder to stage into")
    st.set_defaults(func=_cmd_stage)

    pp = sdk.add_parser("params", help="a CSL module's cslc --params for a job")
    pp.add_argument("--system", required=True, help="MeshGEMV, MeshGEMM, Prefill or Decode")
    pp.add_argument("--cores", required=True, help="WxH core grid")
    pp.add_argument("--shape", help="MxKxN (kernels)")
    pp.add_argument("--model", help="registry model (Prefill, Decode)")
    pp.add_argument("--input-len", type=int, default=0, help="prompt tokens (Prefill)")
    pp.add_argument("--context", type=int, default=0, help="tokens already cached (Decode)")
    pp.add_argument("--kv", choices=["shift", "concat"], default="shift",
                    help="KV cache mode (Decode)")
    pp.add_argument("--preset", choices=sorted(PRESETS), default=DEFAULT_PRESET,
                    help="schedule preset: the kernel forms its meshsim twin runs (MeshGEMV: "
                    "paper-kernels -> middle tree roots, full-model -> edge; Decode, Prefill: "
                    "the preset's attention heads, KV cache and mask; MeshGEMM, MeshGEMV, "
                    "Prefill: packed, two fp16 per wavelet under paper-kernels)")
    hardware_args(pp)  # overrides of fp16_per_wavelet / accumulate reach the kernel forms
    pp.set_defaults(func=_cmd_params)

    app = group(sub, "appliance", "compile and run a staged kernel on a Wafer-Scale Cluster "
                "(cerebras-sdk SdkCompiler / SdkLauncher)")
    ac = app.add_parser("compile", help="compile a staged kernel on the cluster")
    ac.add_argument("--app", required=True, help="staged folder (waferrepro sdk stage)")
    ac.add_argument("--options", required=True,
                    help="cslc options as one string: --options='--arch=wse2 ...'")
    ac.add_argument("--out", required=True, metavar="DIR",
                    help="folder for the compile artifact (artifact.json)")
    ac.set_defaults(func=_cmd_appliance_compile)

    ar = app.add_parser("run", help="run a compiled kernel on the cluster and fetch the "
                        "launcher's result")
    ar.add_argument("--artifact", required=True, help="artifact.json from appliance compile")
    ar.add_argument("--app", required=True, help="staged folder (waferrepro sdk stage)")
    ar.add_argument("--launcher-args", required=True,
                    help="the run.py arguments as one string: --launcher-args='--shape ...'")
    ar.add_argument("--simulator", action="store_true", help="the cluster's simulator")
    ar.add_argument("--out-json", required=True, metavar="FILE",
                    help="where to write the launcher's JSON result")
    ar.set_defaults(func=_cmd_appliance_run)

"""Command line of the harness; the Snakemake rules call these subcommands.

    waferrepro run    --system MeshGEMV --shape 1x2048x2048 --cores 8x8 --out REC.json
    waferrepro table  --id fig10 --out results/tables/fig10.csv REC.json ...
    waferrepro figure --id fig10 --table results/tables/fig10.csv --out a.png a.pdf
    waferrepro decode --model llama3-8b --cores 420x420 --input-len 4096 --output-len 128 --out R.json
    waferrepro prefill --model llama3-8b --cores 600x600 --input-len 4096 --out R.json
    waferrepro e2e --model llama3-8b --prefill-cores 660x660 --decode-cores 360x360 \
        --input-len 2048 --output-len 128 --out R.json
    waferrepro kv-capacity --model llama3-8b --cores 420x420 --kv concat --out R.json
    waferrepro backend auto
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys

from .hardware import get_hardware


def _hardware(args):
    return get_hardware(args.hardware, json.loads(args.hardware_overrides))


def _write(record: dict, out: str) -> int:
    """Write a run record and say in one line what it holds."""
    from . import records

    records.write(record, out)
    check = record["check"]
    status = record["source"] if record["source"] == "skipped" else (
        f"{record['mode']}, check " + ("passed" if check["passed"] else "not performed"))
    print(f"{record['job']}: {status} -> {out}", file=sys.stderr)
    return 0


def _cmd_run(args) -> int:
    from .runner import run_meshsim

    if args.backend != "meshsim":
        from .backends import resolve
        resolve(args.backend)  # raises with what is missing and where to get it
    return _write(run_meshsim(args.system, args.shape, args.cores, _hardware(args), args.mode,
                              args.seed), args.out)


def _cmd_decode(args) -> int:
    from .runner import run_decode

    return _write(run_decode(args.model, args.cores, args.input_len, args.output_len, args.kv,
                             _hardware(args), args.mode, args.seed), args.out)


def _cmd_prefill(args) -> int:
    from .runner import run_prefill

    return _write(run_prefill(args.model, args.cores, args.input_len, _hardware(args),
                              args.mode, args.seed), args.out)


def _cmd_e2e(args) -> int:
    from .runner import run_end_to_end

    return _write(run_end_to_end(args.model, args.prefill_cores, args.decode_cores,
                                 args.input_len, args.output_len, _hardware(args), args.mode,
                                 args.seed), args.out)


def _cmd_kv_capacity(args) -> int:
    from .runner import run_kv_capacity

    return _write(run_kv_capacity(args.model, args.cores, args.kv, _hardware(args)), args.out)


def _cmd_baseline_matmul(args) -> int:
    from .runner import run_matmul_baseline

    cpu = args.device == "cpu"
    return _write(run_matmul_baseline(args.device, args.shape,
                                      args.cpu_warmup if cpu else args.warmup,
                                      args.cpu_repeats if cpu else args.repeats,
                                      args.min_energy_window_s, args.seed), args.out)


def _cmd_baseline_llm(args) -> int:
    import tempfile

    from .runner import run_llm_baseline

    with tempfile.TemporaryDirectory(prefix="waferrepro-models-") as workdir:
        return _write(run_llm_baseline(args.engine, args.model, args.input_len,
                                       args.output_len, args.gpus, args.device, workdir,
                                       args.repeats, args.seed, args.min_energy_window_s),
                      args.out)


def _cmd_sdk_record(args) -> int:
    from .runner import record_from_sdk

    return _write(record_from_sdk(args.result, args.system, args.shape, args.cores,
                                  args.backend, _hardware(args), args.command), args.out)


def _cmd_sdk_stage(args) -> int:
    from . import appliance, sdk

    layout = sdk.stage_sources(args.kernels, args.system, args.out)
    appliance.host_bundle(os.path.join(args.out, appliance.BUNDLE))
    print(layout)
    return 0


def _cmd_sdk_params(args) -> int:
    from .experiments import parse_dims

    px, py = parse_dims(args.cores, 2, "core grid")
    if args.system == "Decode":
        from .csl_inputs import decode_params
        from .models import arch

        params = decode_params(arch(args.model), px, py, args.context, args.kv)
    elif args.system == "Prefill":
        from .csl_inputs import prefill_params
        from .models import arch

        from .experiments import square_grid

        params = prefill_params(arch(args.model), square_grid(args.cores), args.input_len)
    else:
        from .sdk import kernel_params

        params = kernel_params(args.system, parse_dims(args.shape, 3, "shape"), px, py)
    print(",".join(f"{k}:{v}" for k, v in params.items()))
    return 0


def _cmd_appliance_compile(args) -> int:
    from . import appliance

    artifact = appliance.compile_kernel(args.app, shlex.split(args.options), args.out)
    print(f"compiled on the cluster: artifact {artifact}")
    return 0


def _cmd_appliance_run(args) -> int:
    from . import appliance

    print(appliance.run_kernel(args.artifact, args.app, args.launcher_args, args.simulator,
                               args.out_json))
    return 0


def _cmd_sdk_decode_record(args) -> int:
    from .runner import record_from_sdk_decode

    return _write(record_from_sdk_decode(args.steps, args.counts, args.model, args.cores,
                                         args.input_len, args.output_len, args.kv,
                                         args.backend, _hardware(args)),
                  args.out)


def _cmd_sdk_prefill_record(args) -> int:
    from .runner import record_from_sdk_prefill

    return _write(record_from_sdk_prefill(args.result, args.model, args.cores, args.input_len,
                                          args.backend, _hardware(args), args.command),
                  args.out)


def _cmd_e2e_from_parts(args) -> int:
    from .runner import record_from_parts_e2e

    return _write(record_from_parts_e2e(args.prefill_record, args.decode_record, args.model,
                                        args.prefill_cores, args.decode_cores, args.input_len,
                                        args.output_len, args.backend, _hardware(args)),
                  args.out)


def _cmd_table(args) -> int:
    from . import tables

    table = tables.build(args.id, args.records, args.reference, metrics=args.metrics)
    tables.write_csv(table, args.out)
    print(f"{args.id}: {len(table)} rows -> {args.out}", file=sys.stderr)
    return 0


def _cmd_figure(args) -> int:
    from . import figures, tables

    figures.render(args.id, tables.read_csv(args.table), args.out)
    return 0


def _cmd_backend(args) -> int:
    from .backends import resolve

    print(resolve(args.name, args.mode))
    return 0


def _injected_failure(args) -> None:
    """Fail on purpose when WAFERREPRO_FAIL_OUTPUT names this job's output (tests use this to
    check that a failing job on a cluster fails the run and points to its log)."""
    target = os.environ.get("WAFERREPRO_FAIL_OUTPUT")
    if target and getattr(args, "out", None) == target:
        raise RuntimeError(f"failure injected by WAFERREPRO_FAIL_OUTPUT={target}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="waferrepro", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    def hardware_args(p):
        p.add_argument("--hardware", default="wse2")
        p.add_argument("--hardware-overrides", default="{}", help="JSON object")

    def sdk_record_args(p):
        """What the SDK record builders take: the backend, the output, the hardware."""
        p.add_argument("--backend", choices=["sdk-sim", "wse2", "wse3"], required=True)
        p.add_argument("--out", required=True)
        hardware_args(p)

    run = sub.add_parser("run", help="run one kernel job and write its run record")
    run.add_argument("--system", required=True)
    run.add_argument("--shape", required=True, help="MxKxN")
    run.add_argument("--cores", required=True, help="WxH core grid")
    run.add_argument("--backend", default="meshsim")
    hardware_args(run)
    run.add_argument("--mode", choices=["functional", "cycle-model"], default="functional")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--out", required=True)
    run.set_defaults(func=_cmd_run)

    def model_run(name, help_text, func, grids, output_len=True):
        """A whole-model simulation subcommand: model, grid(s), lengths, mode, seed, out."""
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--model", required=True)
        for flag, what in grids:
            p.add_argument(flag, required=True, help=what)
        p.add_argument("--input-len", type=int, required=True)
        if output_len:
            p.add_argument("--output-len", type=int, required=True)
        p.add_argument("--mode", choices=["functional", "cycle-model"], default="cycle-model")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--out", required=True)
        hardware_args(p)
        p.set_defaults(func=func)
        return p

    decode = model_run("decode", "simulate decoding of a model on a core grid", _cmd_decode,
                       [("--cores", "WxH core grid")])
    decode.add_argument("--kv", choices=["shift", "concat"], default="shift")
    model_run("prefill", "simulate prefill of a prompt on a core grid", _cmd_prefill,
              [("--cores", "PxP core grid")], output_len=False)
    model_run("e2e", "prefill on one grid, decode on another (Table 2)", _cmd_e2e,
              [("--prefill-cores", "PxP"), ("--decode-cores", "WxH")])

    kvcap = sub.add_parser("kv-capacity", help="longest context the KV cache holds (Table 5)")
    kvcap.add_argument("--model", required=True)
    kvcap.add_argument("--cores", required=True)
    kvcap.add_argument("--kv", choices=["shift", "concat"], default="shift")
    kvcap.add_argument("--out", required=True)
    hardware_args(kvcap)
    kvcap.set_defaults(func=_cmd_kv_capacity)

    bm = sub.add_parser("baseline-matmul", help="GEMM/GEMV on a GPU (cuBLAS) or the CPU")
    bm.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    bm.add_argument("--shape", required=True, help="MxKxN")
    bm.add_argument("--warmup", type=int, default=5)
    bm.add_argument("--repeats", type=int, default=50)
    bm.add_argument("--cpu-warmup", type=int, default=1)
    bm.add_argument("--cpu-repeats", type=int, default=5)
    bm.add_argument("--min-energy-window-s", type=float, default=1.0)
    bm.add_argument("--seed", type=int, default=0)
    bm.add_argument("--out", required=True)
    bm.set_defaults(func=_cmd_baseline_matmul)

    bl = sub.add_parser("baseline-llm", help="vLLM or SGLang end to end, dummy weights")
    bl.add_argument("--engine", choices=["vllm", "sglang"], required=True)
    bl.add_argument("--model", required=True)
    bl.add_argument("--input-len", type=int, required=True)
    bl.add_argument("--output-len", type=int, required=True)
    bl.add_argument("--gpus", type=int, default=1, help="tensor parallel size")
    bl.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    bl.add_argument("--repeats", type=int, default=3)
    bl.add_argument("--min-energy-window-s", type=float, default=1.0)
    bl.add_argument("--seed", type=int, default=0)
    bl.add_argument("--out", required=True)
    bl.set_defaults(func=_cmd_baseline_llm)

    sr = sub.add_parser("sdk-record", help="run record from a CSL launcher's JSON result")
    sr.add_argument("--result", required=True)
    sr.add_argument("--system", required=True)
    sr.add_argument("--shape", required=True)
    sr.add_argument("--cores", required=True)
    sr.add_argument("--command", default="", help="the launcher command, for provenance")
    sdk_record_args(sr)
    sr.set_defaults(func=_cmd_sdk_record)

    sd = sub.add_parser("sdk-decode-record", help="decode run record from the CSL Decode "
                        "kernel's step results (one per group of equal-cost steps)")
    sd.add_argument("--steps", nargs="+", required=True, help="launcher JSON results")
    sd.add_argument("--counts", nargs="+", type=int, required=True,
                    help="decode steps each result stands for")
    sd.add_argument("--model", required=True)
    sd.add_argument("--cores", required=True)
    sd.add_argument("--input-len", type=int, required=True)
    sd.add_argument("--output-len", type=int, required=True)
    sd.add_argument("--kv", choices=["shift", "concat"], required=True)
    sdk_record_args(sd)
    sd.set_defaults(func=_cmd_sdk_decode_record)

    sp_ = sub.add_parser("sdk-prefill-record", help="prefill run record from the CSL Prefill "
                         "kernel's launcher result (one layer)")
    sp_.add_argument("--result", required=True)
    sp_.add_argument("--model", required=True)
    sp_.add_argument("--cores", required=True)
    sp_.add_argument("--input-len", type=int, required=True)
    sp_.add_argument("--command", default="", help="the launcher command, for provenance")
    sdk_record_args(sp_)
    sp_.set_defaults(func=_cmd_sdk_prefill_record)

    ep = sub.add_parser("e2e-from-parts", help="end-to-end record (Table 2) from a prefill "
                        "and a decode record of one backend (the SDK backends' path)")
    ep.add_argument("--prefill-record", required=True)
    ep.add_argument("--decode-record", required=True)
    ep.add_argument("--model", required=True)
    ep.add_argument("--prefill-cores", required=True)
    ep.add_argument("--decode-cores", required=True)
    ep.add_argument("--input-len", type=int, required=True)
    ep.add_argument("--output-len", type=int, required=True)
    sdk_record_args(ep)
    ep.set_defaults(func=_cmd_e2e_from_parts)

    st = sub.add_parser("sdk-stage", help="one folder with a CSL module, kernels/common and "
                        "the launcher's host code: what cslc or appliance mode compiles")
    st.add_argument("--kernels", required=True, help="the repository's kernels/ folder")
    st.add_argument("--system", required=True)
    st.add_argument("--out", required=True)
    st.set_defaults(func=_cmd_sdk_stage)

    sp = sub.add_parser("sdk-params", help="a CSL module's cslc --params for a job")
    sp.add_argument("--system", required=True, help="MeshGEMV, MeshGEMM, Prefill or Decode")
    sp.add_argument("--cores", required=True, help="WxH core grid")
    sp.add_argument("--shape", help="MxKxN (kernels)")
    sp.add_argument("--model", help="registry model (Prefill, Decode)")
    sp.add_argument("--input-len", type=int, default=0, help="prompt tokens (Prefill)")
    sp.add_argument("--context", type=int, default=0, help="tokens already cached (Decode)")
    sp.add_argument("--kv", choices=["shift", "concat"], default="shift")
    sp.set_defaults(func=_cmd_sdk_params)

    ac = sub.add_parser("appliance-compile", help="compile a staged kernel on a Wafer-Scale "
                        "Cluster (cerebras-sdk SdkCompiler)")
    ac.add_argument("--app", required=True, help="staged folder (sdk-stage)")
    ac.add_argument("--options", required=True, help="cslc options as one string: --options='--arch=wse2 ...'")
    ac.add_argument("--out", required=True)
    ac.set_defaults(func=_cmd_appliance_compile)

    ar = sub.add_parser("appliance-run", help="run a compiled kernel on a Wafer-Scale Cluster "
                        "(cerebras-sdk SdkLauncher) and fetch the launcher's result")
    ar.add_argument("--artifact", required=True, help="artifact.json from appliance-compile")
    ar.add_argument("--app", required=True, help="staged folder (sdk-stage)")
    ar.add_argument("--launcher-args", required=True,
                    help="the run.py arguments as one string: --launcher-args='--shape ...'")
    ar.add_argument("--simulator", action="store_true", help="the cluster's simulator")
    ar.add_argument("--out-json", required=True)
    ar.set_defaults(func=_cmd_appliance_run)

    table = sub.add_parser("table", help="aggregate run records into a tidy CSV")
    table.add_argument("--metrics", nargs="*", help="keep only these metrics")
    table.add_argument("--id", required=True)
    table.add_argument("--out", required=True)
    table.add_argument("--reference", help="CSV of published values (results/reference/)")
    table.add_argument("records", nargs="*")
    table.set_defaults(func=_cmd_table)

    figure = sub.add_parser("figure", help="draw a figure from its table")
    figure.add_argument("--id", required=True)
    figure.add_argument("--table", required=True)
    figure.add_argument("--out", nargs="+", required=True)
    figure.set_defaults(func=_cmd_figure)

    backend = sub.add_parser("backend", help="print the backend that would run, or why none")
    backend.add_argument("name", nargs="?", default="auto")
    backend.add_argument("--mode", choices=["direct", "appliance"], default="direct")
    backend.set_defaults(func=_cmd_backend)

    from .scorecard import add_parser as add_scorecard_parser

    add_scorecard_parser(sub)

    args = parser.parse_args(argv)
    try:
        _injected_failure(args)
        return args.func(args)
    except (ValueError, RuntimeError, AssertionError) as exc:
        # Plan, config, backend and numeric-check errors: one clear line, non-zero exit.
        print(f"waferrepro {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

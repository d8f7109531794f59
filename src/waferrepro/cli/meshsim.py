"""Subcommands that run on the embedded simulator: a kernel, a model's decode, prefill, end to
end, and the KV-cache capacity.

Every option is checked before the job runs (waferrepro.validate, through the job functions:
the same checks as the config's): a bad value is one line naming the option, exit status 1,
nothing written."""

from __future__ import annotations

from ..experiments import GEMM_SYSTEMS, GEMV_SYSTEMS
from ..models import MODELS
from ..presets import DEFAULT_PRESET, PRESETS
from .common import hardware_args, job_inputs, write

SYSTEMS = sorted(GEMV_SYSTEMS + GEMM_SYSTEMS)
MODEL_IDS = sorted(MODELS)
MODES = ["functional", "cycle-model"]
# An example that runs (the default functional mode, checked against NumPy; not skipped):
# tests/test_cli_validation.py runs it.
RUN_EXAMPLE = ("waferrepro run --system MeshGEMV --shape 1x2048x2048 --cores 32x32 "
               "--out REC.json")


def _cmd_run(args) -> int:
    from ..jobs.meshsim import run_meshsim

    hw = job_inputs(args)
    return write(run_meshsim(args.system, args.shape, args.cores, hw, args.mode,
                             args.seed, args.preset, args.group_num), args.out)


def _cmd_decode(args) -> int:
    from ..jobs.meshsim import run_decode

    hw = job_inputs(args)
    return write(run_decode(args.model, args.cores, args.input_len, args.output_len, args.kv,
                            hw, args.mode, args.seed, args.preset), args.out)


def _cmd_prefill(args) -> int:
    from ..jobs.meshsim import run_prefill

    hw = job_inputs(args)
    return write(run_prefill(args.model, args.cores, args.input_len, hw,
                             args.mode, args.seed, args.preset), args.out)


def _cmd_e2e(args) -> int:
    from ..jobs.meshsim import run_end_to_end

    hw = job_inputs(args)
    return write(run_end_to_end(args.model, args.prefill_cores, args.decode_cores,
                                args.input_len, args.output_len, hw, args.mode,
                                args.seed, args.preset), args.out)


def _cmd_kv_capacity(args) -> int:
    from ..jobs.meshsim import run_kv_capacity

    hw = job_inputs(args)
    return write(run_kv_capacity(args.model, args.cores, args.kv, hw, args.preset), args.out)


def _preset(p) -> None:
    p.add_argument("--preset", choices=sorted(PRESETS), default=DEFAULT_PRESET,
                   help="schedule preset (waferrepro.presets): paper-kernels = the authors' "
                        "public kernels, full-model = our complete layer")


def _out(p) -> None:
    p.add_argument("--out", required=True, metavar="FILE",
                   help="run record to write (JSON; its folder is created)")


def _seed(p) -> None:
    p.add_argument("--seed", type=int, default=0, help="seed of the random fp16 inputs")


def register(sub) -> None:
    run = sub.add_parser("run", help="run one kernel job and write its run record",
                         description="Run one kernel job on meshsim and write its run record.",
                         epilog=f"example:\n  {RUN_EXAMPLE}")
    run.add_argument("--system", required=True, choices=SYSTEMS, metavar="SYSTEM",
                     help=f"kernel; one of {', '.join(SYSTEMS)}")
    run.add_argument("--shape", required=True, metavar="MxKxN",
                     help="GEMM/GEMV shape, positive integers (GEMV: M = 1)")
    run.add_argument("--cores", required=True, metavar="PxQ",
                     help="core grid, positive integers within the usable fabric")
    # Only meshsim runs here; the SDK backends' records come from `waferrepro sdk record`.
    run.add_argument("--backend", choices=["meshsim"], default="meshsim",
                     help="only meshsim here (the SDK's records: `waferrepro sdk record`)")
    hardware_args(run)
    run.add_argument("--mode", choices=MODES, default="functional",
                     help="functional: data moved and checked against NumPy; cycle-model: "
                          "the same schedule, no data")
    run.add_argument("--group-num", type=int, default=None, metavar="N",
                     help="MeshGEMV only: the authors' group_num, the groups of its two-level "
                          "column reduce (pe_num_group = P / N cores each, roots as their "
                          "WSE-3 run_wse3.sh); an integer >= 2 dividing the grid's height P "
                          "with P / N >= 2. Not given: our tree (ceil(sqrt(P)) cores a group)")
    _seed(run)
    _preset(run)
    _out(run)
    run.set_defaults(func=_cmd_run)

    def model_run(name, help_text, func, grids, output_len=True):
        """A whole-model simulation subcommand: model, grid(s), lengths, mode, seed, out."""
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--model", required=True, choices=MODEL_IDS, metavar="MODEL",
                       help=f"model id; one of {', '.join(MODEL_IDS)}")
        for flag, metavar, what in grids:
            p.add_argument(flag, required=True, metavar=metavar, help=what)
        p.add_argument("--input-len", type=int, required=True, metavar="N",
                       help="prompt tokens, an integer >= 1")
        if output_len:
            p.add_argument("--output-len", type=int, required=True, metavar="N",
                           help="generated tokens, an integer >= 1")
        p.add_argument("--mode", choices=MODES, default="cycle-model",
                       help="functional: data moved and checked against the NumPy layer; "
                            "cycle-model: the same schedule, no data")
        _seed(p)
        _preset(p)
        _out(p)
        hardware_args(p)
        p.set_defaults(func=func)
        return p

    grid = "core grid PxQ, positive integers within the usable fabric"
    square = "square core grid PxP within the usable fabric (prefill runs MeshGEMM)"
    decode = model_run("decode", "simulate decoding of a model on a core grid", _cmd_decode,
                       [("--cores", "PxQ", grid)])
    decode.add_argument("--kv", choices=["shift", "concat"], default="shift",
                        help="KV cache: the paper's shift, or the concat baseline")
    model_run("prefill", "simulate prefill of a prompt on a core grid", _cmd_prefill,
              [("--cores", "PxP", square)], output_len=False)
    model_run("e2e", "prefill on one grid, decode on another (Table 2)", _cmd_e2e,
              [("--prefill-cores", "PxP", square), ("--decode-cores", "PxQ", grid)])

    kvcap = sub.add_parser("kv-capacity", help="longest context the KV cache holds (Table 5)",
                           description="Longest context the KV cache holds (Table 5), from the "
                                       "decode plan's memory model.")
    kvcap.add_argument("--model", required=True, choices=MODEL_IDS, metavar="MODEL",
                       help=f"model id; one of {', '.join(MODEL_IDS)}")
    kvcap.add_argument("--cores", required=True, metavar="PxQ", help=grid)
    kvcap.add_argument("--kv", choices=["shift", "concat"], default="shift",
                       help="KV cache: the paper's shift, or the concat baseline")
    _preset(kvcap)
    _out(kvcap)
    hardware_args(kvcap)
    kvcap.set_defaults(func=_cmd_kv_capacity)

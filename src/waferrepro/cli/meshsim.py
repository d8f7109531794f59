"""Subcommands that run on the embedded simulator: a kernel, a model's decode, prefill, end to
end, and the KV-cache capacity."""

from __future__ import annotations

from ..presets import DEFAULT_PRESET, PRESETS
from .common import hardware, hardware_args, write


def _cmd_run(args) -> int:
    from ..jobs.meshsim import run_meshsim

    return write(run_meshsim(args.system, args.shape, args.cores, hardware(args), args.mode,
                             args.seed, args.preset), args.out)


def _cmd_decode(args) -> int:
    from ..jobs.meshsim import run_decode

    return write(run_decode(args.model, args.cores, args.input_len, args.output_len, args.kv,
                            hardware(args), args.mode, args.seed, args.preset), args.out)


def _cmd_prefill(args) -> int:
    from ..jobs.meshsim import run_prefill

    return write(run_prefill(args.model, args.cores, args.input_len, hardware(args),
                             args.mode, args.seed, args.preset), args.out)


def _cmd_e2e(args) -> int:
    from ..jobs.meshsim import run_end_to_end

    return write(run_end_to_end(args.model, args.prefill_cores, args.decode_cores,
                                args.input_len, args.output_len, hardware(args), args.mode,
                                args.seed, args.preset), args.out)


def _cmd_kv_capacity(args) -> int:
    from ..jobs.meshsim import run_kv_capacity

    return write(run_kv_capacity(args.model, args.cores, args.kv, hardware(args), args.preset),
                 args.out)


def register(sub) -> None:
    run = sub.add_parser("run", help="run one kernel job and write its run record")
    run.add_argument("--system", required=True)
    run.add_argument("--shape", required=True, help="MxKxN")
    run.add_argument("--cores", required=True, help="WxH core grid")
    # Only meshsim runs here; the SDK backends' records come from `waferrepro sdk record`.
    run.add_argument("--backend", choices=["meshsim"], default="meshsim")
    hardware_args(run)
    run.add_argument("--mode", choices=["functional", "cycle-model"], default="functional")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--preset", choices=sorted(PRESETS), default=DEFAULT_PRESET)
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
        p.add_argument("--preset", choices=sorted(PRESETS), default=DEFAULT_PRESET)
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
    kvcap.add_argument("--preset", choices=sorted(PRESETS), default=DEFAULT_PRESET)
    kvcap.add_argument("--out", required=True)
    hardware_args(kvcap)
    kvcap.set_defaults(func=_cmd_kv_capacity)

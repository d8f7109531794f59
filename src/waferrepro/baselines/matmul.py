"""GEMM and GEMV baselines: cuBLAS through PyTorch on a GPU, BLAS through NumPy on the CPU.

Timing: warm-up runs, then `repeats` timed runs (CUDA events on the GPU, perf_counter on the
CPU), median and 10th/90th percentiles reported. For a GEMV on the GPU the L2 cache is
flushed between timed runs (a write of twice its size), so the weights come from HBM as in a
model's decode step. Energy on the GPU: NVML over a window of at least `min_energy_window_s`.
The CPU has no energy counter here: its records say energy was not measured.

Every run checks a sample of its output columns against a float64 NumPy reference.
"""

from __future__ import annotations

import platform
import time

import numpy as np

from ..check import compare
from . import BaselineUnavailable
from .devices import peak_for
from .energy import EnergyUnavailable, measure, nvml_counter

CHECK_COLUMNS = 64
# fp16 inputs with fp32 accumulation (cuBLAS default for half GEMM is fp32 compute on tensor
# cores) and fp16 outputs: 2^-10 relative resolution plus accumulation error.
GPU_RTOL = 1e-2
CPU_RTOL = 1e-4  # float32 BLAS


def resolve_device(requested: str) -> str:
    """'cpu' or 'cuda' for a requested 'auto' | 'cpu' | 'cuda' (BaselineUnavailable if none)."""
    if requested == "cpu":
        return "cpu"
    try:
        import torch
        has_cuda = torch.cuda.is_available()
    except ImportError:
        torch, has_cuda = None, False
    if requested == "cuda" and not has_cuda:
        why = ("PyTorch is not installed (pip install -e '.[gpu]')" if torch is None
               else "no CUDA device is visible to PyTorch")
        raise BaselineUnavailable(f"cuBLAS baseline needs a CUDA GPU: {why}")
    return "cuda" if has_cuda else "cpu"


def _stats(samples_s) -> dict:
    a = np.asarray(samples_s, dtype=np.float64)
    return {"median": float(np.median(a)), "p10": float(np.percentile(a, 10)),
            "p90": float(np.percentile(a, 90)), "n": int(a.size)}


def _check(out_cols, a, b, cols, rtol):
    ref = a.astype(np.float64) @ b[:, cols].astype(np.float64)
    return compare(out_cols, ref, rtol=rtol, atol=1e-6,
                   reference_name=f"numpy float64 on {len(cols)} sampled output columns")


GEN_BLOCK_BYTES = 64 * 2**20  # operands are drawn in float32 blocks of at most this size


def _block_rows(cols: int) -> int:
    return max(1, GEN_BLOCK_BYTES // (4 * cols))


def _normal(rng, rows: int, cols: int, dtype) -> np.ndarray:
    """rng.standard_normal((rows, cols), float32) cast to dtype, drawn in row blocks (the
    same numbers): the resident peak is the array plus one block, not two full copies."""
    out = np.empty((rows, cols), dtype=dtype)
    block = np.empty((min(_block_rows(cols), rows), cols), dtype=np.float32)
    for r in range(0, rows, len(block)):
        part = block[: min(len(block), rows - r)]
        rng.standard_normal(dtype=np.float32, out=part)
        out[r:r + len(part)] = part
    return out


def _inputs(shape, seed, dtype):
    m, k, n = shape
    rng = np.random.default_rng(seed)
    a = _normal(rng, m, k, dtype)
    b = _normal(rng, k, n, dtype)
    cols = np.sort(rng.choice(n, size=min(CHECK_COLUMNS, n), replace=False))
    return a, b, cols


def host_bytes_needed(shape, dtype) -> int:
    """Peak host memory of a CPU run: both operands, two outputs (the previous one is freed
    only after the next product exists) and one generator block."""
    m, k, n = shape
    block = max(4 * min(_block_rows(cols), rows) * cols for rows, cols in ((m, k), (k, n)))
    return np.dtype(dtype).itemsize * (m * k + k * n + 2 * m * n) + block


def available_memory_bytes() -> int | None:
    """Memory the kernel says can be allocated without swapping (Linux MemAvailable), or
    None where it cannot be read (then nothing is checked)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def require_host_memory(shape, dtype, what: str) -> None:
    """BaselineUnavailable (a skipped record) when the run would not fit in free memory."""
    need, free = host_bytes_needed(shape, dtype), available_memory_bytes()
    if free is not None and need > free:
        raise BaselineUnavailable(
            f"{what} {'x'.join(map(str, shape))} needs {need} bytes of host memory, "
            f"{free} available (MemAvailable)")


def run_cpu(shape, warmup: int, repeats: int, seed: int = 0) -> dict:
    """NumPy float32 (NumPy has no fp16 BLAS; the record says so). Checks free memory first."""
    require_host_memory(shape, np.float32, "CPU-BLAS")
    a, b, cols = _inputs(shape, seed, np.float32)
    out = None
    for _ in range(warmup):
        out = a @ b
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = a @ b
        samples.append(time.perf_counter() - t0)
    return {"timing": _stats(samples), "check": _check(out[:, cols], a, b, cols, CPU_RTOL),
            "device": platform.processor() or platform.machine(), "dtype": "float32",
            "energy": None, "energy_reason": "not measured: no energy counter for this CPU",
            "peak": None, "timer": "time.perf_counter"}


def run_cuda(shape, warmup: int, repeats: int, seed: int = 0, flush_l2: bool | None = None,
             min_energy_window_s: float = 1.0) -> dict:
    import torch

    m, k, n = shape
    require_host_memory(shape, np.float16, "cuBLAS")  # operands are drawn on the host
    flush_l2 = (m == 1) if flush_l2 is None else flush_l2
    a_np, b_np, cols = _inputs(shape, seed, np.float16)
    dev = torch.device("cuda")
    a, b = torch.from_numpy(a_np).to(dev), torch.from_numpy(b_np).to(dev)
    props = torch.cuda.get_device_properties(dev)
    l2 = getattr(props, "L2_cache_size", 0) or 64 * 2**20
    scratch = torch.empty(2 * l2 // 4, dtype=torch.float32, device=dev) if flush_l2 else None
    out = None
    for _ in range(warmup):
        out = a @ b
    torch.cuda.synchronize()
    samples = []
    for _ in range(repeats):
        if scratch is not None:
            scratch.zero_()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        out = a @ b
        end.record()
        end.synchronize()
        samples.append(start.elapsed_time(end) / 1e3)
    check = _check(out[:, torch.from_numpy(cols).to(dev)].float().cpu().numpy(), a_np, b_np,
                   cols, GPU_RTOL)
    energy, reason = None, ""
    try:
        def once():
            if scratch is not None:
                scratch.zero_()
            torch.mm(a, b)
        window = measure(once, torch.cuda.synchronize, nvml_counter(torch.cuda.current_device()),
                         min_energy_window_s)
        energy = window
    except EnergyUnavailable as exc:
        reason = f"not measured: {exc}"
    name = torch.cuda.get_device_name(dev)
    return {"timing": _stats(samples), "check": check, "device": name, "dtype": "float16",
            "energy": energy, "energy_reason": reason, "peak": peak_for(name),
            "timer": "CUDA events" + (", L2 flushed between runs" if flush_l2 else ""),
            "torch": torch.__version__, "cuda": torch.version.cuda}


def metrics(shape, result: dict) -> dict[str, tuple[float, str]]:
    """Latency, FLOP/s, bytes/s and (on a known GPU) utilization of one timed result."""
    m, k, n = shape
    t = result["timing"]["median"]
    itemsize = 2 if result["dtype"] == "float16" else 4
    flops = 2.0 * m * k * n
    moved = itemsize * (m * k + k * n + m * n)  # each operand once: the minimum traffic
    out = {
        "latency_ms": (t * 1e3, "ms"),
        "latency_p10_ms": (result["timing"]["p10"] * 1e3, "ms"),
        "latency_p90_ms": (result["timing"]["p90"] * 1e3, "ms"),
        "tflops": (flops / t / 1e12, "TFLOP/s"),
        "bandwidth_gbs": (moved / t / 1e9, "GB/s"),
    }
    peak = result["peak"]
    if peak is not None:
        # A GEMV is bound by memory, a GEMM by the tensor cores.
        util = (moved / t / 1e9) / peak.hbm_gbs if m == 1 else (flops / t / 1e12) / peak.fp16_tflops
        out["utilization"] = (util, "fraction")
    if result["energy"] is not None:
        out["energy_j"] = (result["energy"].joules_per_repeat, "J/run")
        out["power_w"] = (result["energy"].mean_power_w, "W")
    return out

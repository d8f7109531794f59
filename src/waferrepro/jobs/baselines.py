"""Jobs on the GPU baselines (cuBLAS, vLLM, SGLang) or this CPU, each returned as a run
record: measured, or skipped with the reason."""

from __future__ import annotations

import time

from .. import provenance
from ..baselines import BaselineUnavailable, llm, matmul
from ..baselines.energy import EnergyUnavailable, nvml_counter
from ..check import NumericMismatch
from ..experiments import parse_dims
from ..records import mark_skipped, metrics_list


def run_matmul_baseline(requested: str, shape: str, warmup: int, repeats: int,
                        min_energy_window_s: float = 1.0, seed: int = 0) -> dict:
    """GEMM/GEMV on a GPU (cuBLAS via PyTorch) or the CPU (NumPy BLAS), as a run record.

    A missing device or package gives a skipped record with the reason; a wrong result raises
    NumericMismatch (the job fails, no record)."""
    started = time.perf_counter()
    dims = parse_dims(shape, 3, "shape")
    record = {"schema_version": 1, "job": f"baseline-{requested}/matmul/{shape}"}
    what = {"system": "cuBLAS" if requested == "cuda" else "CPU-BLAS", "module": "GEMM"
            if dims[0] > 1 else "GEMV", "shape": shape, "cores": None, "gpus": None,
            "model": None, "input_len": None, "output_len": None,
            "params": {"requested_device": requested, "warmup": warmup, "repeats": repeats,
                       "seed": seed}}
    device = None
    try:
        device = matmul.resolve_device(requested)
        if device == "cuda":
            result = matmul.run_cuda(dims, warmup, repeats, seed,
                                     min_energy_window_s=min_energy_window_s)
        else:
            result = matmul.run_cpu(dims, warmup, repeats, seed)
    except BaselineUnavailable as exc:  # no device or package, or not enough free memory
        if device is not None:
            what["system"] = "cuBLAS" if device == "cuda" else "CPU-BLAS"
        backend = "cpu" if "cpu" in (device, requested) else (
            "cuda:none" if device is None else "cuda:visible")
        record.update(what=what, backend=backend)
        mark_skipped(record, str(exc))
        prov = provenance.collect(device="none", clock_hz=None, clock_source="n/a")
        record["provenance"] = prov
        return record
    if device == "cuda":
        what.update(system="cuBLAS", gpus=1)
        backend = f"cuda:{result['device']}"
    else:
        what["system"] = "CPU-BLAS"
        backend = "cpu"
    check = result["check"]
    if not check.passed:
        raise NumericMismatch(f"{what['system']} {shape} on {backend}: result differs from the "
                              f"NumPy reference (max rel err {check.max_rel_err:.3g})")
    what["params"].update(dtype=result["dtype"], timer=result["timer"],
                          **{k: result[k] for k in ("torch", "cuda") if k in result})
    peak = result["peak"]
    energy = (f"NVML over >= {min_energy_window_s:g}s windows" if result["energy"] else
              result["energy_reason"])
    note = (f"measured on {result['device']} ({result['dtype']}, {result['timer']}, median of "
            f"{repeats}); energy {energy}"
            + (f"; utilization vs {peak.name} peak ({peak.source})" if peak else
               "; no utilization: no peak table entry for this device"))
    record.update(what=what, backend=backend, source="measured", mode="hardware",
                  metrics=metrics_list(matmul.metrics(dims, result), {"latency_ms"}),
                  check={"performed": True, **check.as_dict()}, note=note)
    prov = provenance.collect(device=result["device"], clock_hz=None,
                              clock_source="n/a: wall-clock timing")
    prov["wall_seconds"] = time.perf_counter() - started
    record["provenance"] = prov
    return record


def _gpu_inventory() -> tuple[int, str]:
    """(visible CUDA GPUs, name of the first) without failing where there is no torch."""
    try:
        import torch
    except ImportError:
        return 0, "none"
    if not torch.cuda.is_available():
        return 0, "none"
    return torch.cuda.device_count(), torch.cuda.get_device_name(0)


def run_llm_baseline(engine: str, model: str, input_len: int, output_len: int, gpus: int,
                     device: str, workdir: str, repeats: int = 3, seed: int = 0,
                     min_energy_window_s: float = 1.0) -> dict:
    """vLLM or SGLang on `gpus` GPUs (or vLLM on the CPU for tiny models), as a run record:
    TTFT, TPOT, decode/prefill/end-to-end TPR, and energy per request on GPUs."""
    from pathlib import Path

    started = time.perf_counter()
    system = {"vllm": "vLLM", "sglang": "SGLang"}[engine]
    what = {"system": system, "module": "LLM", "shape": None, "cores": None,
            "gpus": gpus if device == "cuda" else None, "model": model,
            "input_len": input_len, "output_len": output_len,
            "params": {"engine": engine, "device": device, "tensor_parallel": gpus,
                       "repeats": repeats, "seed": seed, "weights": "dummy"}}
    record = {"schema_version": 1,
              "job": f"baseline-{device}/{engine}/{model}/tp{gpus}/in{input_len}_out{output_len}",
              "what": what}
    n_gpus, gpu_name = _gpu_inventory()
    backend = "cpu" if device == "cpu" else f"cuda:{gpu_name}"

    def skipped(reason: str) -> dict:
        record["backend"] = backend
        mark_skipped(record, reason)
        record["provenance"] = provenance.collect(device=gpu_name if device == "cuda" else
                                                  "cpu", clock_hz=None, clock_source="n/a")
        return record

    if device == "cuda" and n_gpus < gpus:
        return skipped(f"{system} with tensor parallel {gpus} needs {gpus} CUDA GPUs; "
                       f"{n_gpus} visible here")
    if device == "cpu" and engine == "sglang":
        return skipped("SGLang has no CPU build; its runner is verified only on GPU machines")
    counter, energy_reason = None, "energy not measured on the CPU"
    if device == "cuda":
        try:
            counter = nvml_counter(0)
        except EnergyUnavailable as exc:
            energy_reason = f"energy not measured: {exc}"
    try:
        if engine == "vllm":
            result = llm.run_vllm(model, input_len, output_len, gpus, device, Path(workdir),
                                  repeats=repeats, seed=seed, energy_counter=counter,
                                  min_energy_window_s=min_energy_window_s)
        else:
            result = llm.run_sglang(model, input_len, output_len, gpus, Path(workdir), seed,
                                    nnodes=max(1, gpus // 8) if gpus > 8 else 1)
    except BaselineUnavailable as exc:
        return skipped(str(exc))
    s = result["summary"]
    metrics = {"ttft_ms": (s["ttft_s"] * 1e3, "ms"), "tpot_ms": (s["tpot_s"] * 1e3, "ms"),
               "latency_ms": (s["total_s"] * 1e3, "ms"),
               "decode_tpr_tokens_per_s": (s["decode_tpr"], "tokens/s"),
               "e2e_tpr_tokens_per_s": (s["e2e_tpr"], "tokens/s"),
               "prefill_tpr_tokens_per_s": (input_len / s["ttft_s"], "tokens/s")}
    if result.get("energy"):
        # NVML counts GPU 0; with tensor parallelism every GPU does the same work, so the
        # request's energy is that of GPU 0 times the GPU count.
        units = {"energy_j": "J/request", "prefill_energy_j": "J/request",
                 "decode_energy_j": "J/token"}
        for name, joules in result["energy"].items():
            metrics[name] = (joules * gpus, units[name])
        energy_reason = (f"energy: NVML counter of GPU 0 x {gpus} GPUs, windows of at least "
                         f"{min_energy_window_s:g} s")
    elif result.get("energy_reason"):
        energy_reason = result["energy_reason"]
    import math
    metrics = {k: v for k, v in metrics.items() if math.isfinite(v[0])}  # 1-token runs: no TPOT
    what["params"].update(engine_version=result["version"], engine_args=result["engine_args"])
    record.update(backend=backend, source="measured", mode="hardware",
                  metrics=metrics_list(metrics, {"ttft_ms", "latency_ms"}),
                  check={"performed": True, "passed": True, "reason": result["token_check"]},
                  note=f"measured: {system} {result['version']}, dummy weights, batch 1, "
                       f"tensor parallel {gpus}, median of {result['repeats']}; {energy_reason}")
    record["provenance"] = provenance.collect(device=gpu_name if device == "cuda" else "cpu",
                                              clock_hz=None, clock_source="n/a: wall clock")
    record["provenance"]["wall_seconds"] = time.perf_counter() - started
    return record

"""Run one job on the embedded simulator (a kernel, a model decode, the KV-cache capacity)
and turn it into a run record."""

from __future__ import annotations

import time

from . import meshsim, presets, provenance, records
from .experiments import parse_dims, square_grid
from .hardware import Hardware
from .meshsim.fabric import PlanError
from .presets import DEFAULT_PRESET
from .records import metrics_list

from .bands import add_bands
from .meshsim.cost import CAUSES

BREAKDOWN_METRICS = {f"cycles_{cause}" for cause in CAUSES}
RAW_METRICS = {"cycles", "compute_cycles", "comm_cycles", "comm_hidden_cycles",
               "bytes_per_core", "colors_per_core"} | BREAKDOWN_METRICS


def run_meshsim(system: str, shape: str, cores: str, hw: Hardware, mode: str,
                seed: int = 0, preset: str = DEFAULT_PRESET) -> dict:
    """Simulate one job and return its record (a plan that does not fit gives a skipped record).

    A numeric mismatch in functional mode raises NumericMismatch: the job fails, no record.
    """
    m, k, n = parse_dims(shape, 3, "shape")
    px, py = parse_dims(cores, 2, "core grid")
    started = time.perf_counter()
    hw, kernel = presets.hardware(hw, preset), presets.kernel(system, preset)
    record = _base_record(
        f"meshsim/{system}/{shape}/{cores}",
        {"system": system, "module": meshsim.MODULE_OF[system], "shape": shape, "cores": cores,
         "gpus": None, "model": None, "input_len": None, "output_len": None,
         "preset": preset, "params": {"seed": seed, "schedule": presets.options(preset)}}, hw)
    try:
        outcome = meshsim.simulate(system, (m, k, n), px, py, hw, mode == "functional", seed,
                                   kernel)
    except PlanError as exc:
        _mark_skipped(record, str(exc), "plan does not fit the hardware")
    else:
        run = outcome.run
        record["what"]["params"].update(run.params)
        check = ({"performed": True, **outcome.check.as_dict()} if outcome.check else
                 {"performed": False, "passed": None,
                  "reason": "cycle-model run: no data computed (same schedule as functional)"})
        record.update(source="simulated", mode=mode, metrics=add_bands(
                          metrics_list(run.metrics(), RAW_METRICS), hw,
                          lambda h: meshsim.simulate(system, (m, k, n), px, py, h, False,
                                                     kernel=kernel).run.metrics()), check=check,
                      note=f"simulated by meshsim ({mode}) with the {hw.name} cost model")
    return _finish(record, hw, cores, started)


def _mark_skipped(record: dict, reason: str, why: str = "skipped") -> None:
    """A job that could not run here: no metrics, no check, the reason in check and note."""
    record.update(source="skipped", mode="skipped", metrics=[],
                  check={"performed": False, "passed": None, "reason": reason},
                  note=f"{why}: {reason}")


def _base_record(job: str, what: dict, hw: Hardware) -> dict:
    return {"schema_version": 1, "job": job, "what": what, "backend": "meshsim",
            "hardware": hw.as_dict()}


def _finish(record: dict, hw: Hardware, cores: str, started: float,
            device: str | None = None) -> dict:
    prov = provenance.collect(device=device or f"meshsim virtual {hw.name} {cores} grid",
                              clock_hz=hw.clock_hz, clock_source=hw.clock_source)
    prov["wall_seconds"] = time.perf_counter() - started
    record["provenance"] = prov
    return record


def check_decode_functional(hw: Hardware, a, px: int, py: int, context: int, mode: str,
                            steps: int = 2, seed: int = 0):
    """Decode `steps` tokens after a `context`-token prefix on the mesh, with real data, and
    compare each output with the NumPy reference layer. Raises NumericMismatch on a mismatch."""
    import numpy as np

    from .check import require_close
    from .meshsim.decode import DecodeLayout, decode_layer, pack_kv_cache, pack_weights
    from .reference_layer import layer, random_weights

    w = random_weights(a, seed)
    x = np.random.default_rng(seed + 1).standard_normal((context + steps, a.hidden))
    x = x.astype(np.float16)
    full, k, v = layer(x, w, a, np.arange(context + steps))
    lay = DecodeLayout(a, px, py)
    cache = pack_kv_cache(lay, k[:context], v[:context], mode, cap=context + steps)
    packed = pack_weights(lay, w)
    worst = None
    for t in range(context, context + steps):
        _, out = decode_layer(hw, a, px, py, cache, t, mode, weights=packed, x=x[t],
                              cap=context + steps)
        result = require_close(out, full[t], f"decode of {a.name} on {px}x{py}, token {t}")
        if worst is None or result.max_rel_err > worst.max_rel_err:
            worst = result
    return worst


def _model_method(hw: Hardware) -> dict:
    """What every whole-model record states in its params: the per-layer method and the
    system power its energy comes from."""
    from .llm import METHOD_NOTE

    return {"method": METHOD_NOTE, "power_w": hw.system_power_w,
            "power_source": hw.system_power_source}


def _method_and_energy_note(hw: Hardware) -> str:
    from .llm import METHOD_NOTE

    return (f"{METHOD_NOTE}; energy = time x {hw.system_power_w / 1e3:g} kW "
            f"({hw.system_power_source})")


def _model_record(job: str, what: dict, hw: Hardware, cores: str, compute_on, raw: set,
                  functional_check=None) -> dict:
    """Record of a whole-model run: metrics from `compute_on(hw)` -> (metrics, memory), their
    bands from the same at the assumption bounds; a plan that does not fit becomes a skipped
    record; fit problems are stated in the note."""
    from .models import arch

    started = time.perf_counter()
    a = arch(what["model"])
    preset = what.setdefault("preset", DEFAULT_PRESET)
    hw = presets.hardware(hw, preset)
    what["params"].update(_model_method(hw), schedule={
        k: v for k, v in presets.options(preset).items() if k == "fp16_per_wavelet"})
    record = _base_record(job, what, hw)
    mode = "functional" if functional_check else "cycle-model"
    try:
        metrics, mem = compute_on(hw)
        check = {"performed": False, "passed": None,
                 "reason": "cycle-model run at model dims: no data computed"}
        if functional_check:
            check = {"performed": True, **functional_check().as_dict()}
    except PlanError as exc:
        _mark_skipped(record, str(exc), "plan does not fit the hardware")
        return _finish(record, hw, cores, started)
    fit = []
    if not mem["fits_grid_whole_model"]:
        fit.append(f"all {a.layers} layers need {mem['bytes_per_core_whole_model']} B/core "
                   f"> {hw.sram_bytes_per_core} on this grid")
    if not mem["fits_one_wafer"]:
        fit.append(f"the model ({mem['model_bytes'] / 1e9:.0f} GB fp16) does not fit on one "
                   f"{hw.name} wafer: needs {mem['wafers_needed']}")
    banded = add_bands(metrics_list(metrics, raw), hw, lambda h: compute_on(h)[0])
    record.update(source="simulated", mode=mode, metrics=banded,
                  check=check, note=f"simulated by meshsim ({mode}); "
                  f"{_method_and_energy_note(hw)}"
                  + ("; " + "; ".join(fit) if fit else ""))
    return _finish(record, hw, cores, started)


def _what(system: str, module: str, model: str, cores: str, input_len, output_len,
          **params) -> dict:
    return {"system": system, "module": module, "shape": None, "cores": cores, "gpus": None,
            "model": model, "input_len": input_len, "output_len": output_len,
            "params": params}


def run_decode(model: str, cores: str, input_len: int, output_len: int, kv: str, hw: Hardware,
               mode: str, seed: int = 0, preset: str = DEFAULT_PRESET) -> dict:
    """Decode of one model on one grid: TPOT, TPR, energy and memory, as a run record."""
    from .experiments import DECODE_SYSTEM
    from .llm import decode_metrics
    from .models import arch

    a = arch(model)
    px, py = parse_dims(cores, 2, "core grid")
    check = None if mode != "functional" else (
        lambda: check_decode_functional(hw, a, px, py, input_len, kv, seed=seed))
    return _model_record(
        f"meshsim/decode/{model}/{cores}/in{input_len}_out{output_len}_kv{kv}",
        {**_what(DECODE_SYSTEM[kv], "Decode", model, cores, input_len, output_len, kv_mode=kv,
                 tree_levels=2, seed=seed), "preset": preset},
        hw, cores, lambda h: decode_metrics(h, a, px, py, input_len, output_len, kv),
        {"cycles_per_layer", "cycles", "bytes_per_core", "bytes_per_core_whole_model"}
        | BREAKDOWN_METRICS, check)


def check_prefill_functional(hw: Hardware, a, p: int, tokens: int, seed: int = 0):
    """Prefill `tokens` random tokens on the mesh with real data and compare every output row
    with the NumPy reference layer. Raises NumericMismatch on a mismatch."""
    import numpy as np

    from .check import require_close
    from .meshsim.prefill import PrefillLayout, pack_weights, prefill_layer
    from .reference_layer import layer, random_weights

    w = random_weights(a, seed)
    x = np.random.default_rng(seed + 1).standard_normal((tokens, a.hidden)).astype(np.float16)
    ref, _, _ = layer(x, w, a, np.arange(tokens))
    _, out = prefill_layer(hw, a, p, tokens, pack_weights(PrefillLayout(a, p, tokens), w), x)
    return require_close(out, ref, f"prefill of {a.name} on {p}x{p}, {tokens} tokens")


def run_prefill(model: str, cores: str, input_len: int, hw: Hardware, mode: str,
                seed: int = 0, preset: str = DEFAULT_PRESET) -> dict:
    """Prefill of one prompt on one grid: TTFT, prefill TPR, energy and memory."""
    from .llm import prefill_metrics
    from .models import arch

    a, p = arch(model), square_grid(cores)
    check = None if mode != "functional" else (
        lambda: check_prefill_functional(hw, a, p, input_len, seed))
    return _model_record(
        f"meshsim/prefill/{model}/{cores}/in{input_len}",
        {**_what("WaferLLM", "Prefill", model, cores, input_len, None, seed=seed),
         "preset": preset}, hw, cores,
        lambda h: prefill_metrics(h, a, p, input_len),
        {"cycles_per_layer", "cycles", "bytes_per_core", "bytes_per_core_whole_model"}
        | BREAKDOWN_METRICS, check)


def run_end_to_end(model: str, prefill_cores: str, decode_cores: str, input_len: int,
                   output_len: int, hw: Hardware, mode: str, seed: int = 0,
                   preset: str = DEFAULT_PRESET) -> dict:
    """Prefill on one region and decode on another; end-to-end TPR (Table 2)."""
    from .llm import end_to_end_metrics
    from .models import arch

    a, p = arch(model), square_grid(prefill_cores)
    dx, dy = parse_dims(decode_cores, 2, "core grid")
    def both_checks():
        pre = check_prefill_functional(hw, a, p, input_len, seed)
        dec = check_decode_functional(hw, a, dx, dy, input_len, "shift", seed=seed)
        return pre if pre.max_rel_err >= dec.max_rel_err else dec

    check = both_checks if mode == "functional" else None
    cores = f"{prefill_cores}+{decode_cores}"
    return _model_record(
        f"meshsim/e2e/{model}/p{prefill_cores}_d{decode_cores}/in{input_len}_out{output_len}",
        {**_what("WaferLLM", "Prefill+Decode", model, cores, input_len, output_len,
                 prefill_cores=prefill_cores, decode_cores=decode_cores, seed=seed),
         "preset": preset},
        hw, cores, lambda h: end_to_end_metrics(h, a, p, dx, dy, input_len, output_len),
        {"cycles_per_layer", "cycles"}, check)


def run_kv_capacity(model: str, cores: str, kv: str, hw: Hardware) -> dict:
    """Longest context the KV cache can hold (Table 5), from the memory model."""
    from .experiments import DECODE_SYSTEM
    from .llm import memory_summary
    from .meshsim.decode import DecodeLayout
    from .models import arch

    started = time.perf_counter()
    a = arch(model)
    px, py = parse_dims(cores, 2, "core grid")
    lay = DecodeLayout(a, px, py)
    mem = memory_summary(hw, a, lay, 0, kv)
    record = _base_record(
        f"meshsim/kv_capacity/{model}/{cores}/kv{kv}",
        {"system": DECODE_SYSTEM[kv], "module": "Decode", "shape": None, "cores": cores,
         "gpus": None, "model": model, "input_len": None, "output_len": None,
         "params": {"kv_mode": kv}}, hw)
    metrics = {"max_decode_len_tokens": (float(mem["max_context_one_layer"]), "tokens"),
               "max_decode_len_tokens_whole_model": (float(mem["max_context_whole_model"]),
                                                     "tokens"),
               "kv_bytes_per_token_per_core": (float(mem["kv_bytes_per_token_per_core"]),
                                               "bytes")}
    record.update(source="simulated", mode="cycle-model", metrics=metrics_list(metrics, set()),
                  check={"performed": False, "passed": None,
                         "reason": "memory model only: no data computed"},
                  note="memory model: tokens (prompt + generated) whose K/V fit in 48 KB/core "
                  "beside one layer's weights and buffers (max_decode_len_tokens), and beside "
                  "all layers' (..._whole_model; 0 when the weights alone do not fit)")
    return _finish(record, hw, cores, started)


def run_matmul_baseline(requested: str, shape: str, warmup: int, repeats: int,
                        min_energy_window_s: float = 1.0, seed: int = 0) -> dict:
    """GEMM/GEMV on a GPU (cuBLAS via PyTorch) or the CPU (NumPy BLAS), as a run record.

    A missing device or package gives a skipped record with the reason; a wrong result raises
    NumericMismatch (the job fails, no record)."""
    from .baselines import BaselineUnavailable
    from .baselines import matmul
    from .check import NumericMismatch

    started = time.perf_counter()
    dims = parse_dims(shape, 3, "shape")
    record = {"schema_version": 1, "job": f"baseline-{requested}/matmul/{shape}"}
    what = {"system": "cuBLAS" if requested == "cuda" else "CPU-BLAS", "module": "GEMM"
            if dims[0] > 1 else "GEMV", "shape": shape, "cores": None, "gpus": None,
            "model": None, "input_len": None, "output_len": None,
            "params": {"requested_device": requested, "warmup": warmup, "repeats": repeats,
                       "seed": seed}}
    try:
        device = matmul.resolve_device(requested)
    except BaselineUnavailable as exc:
        record.update(what=what, backend="cpu" if requested == "cpu" else "cuda:none")
        _mark_skipped(record, str(exc))
        prov = provenance.collect(device="none", clock_hz=None, clock_source="n/a")
        record["provenance"] = prov
        return record
    if device == "cuda":
        result = matmul.run_cuda(dims, warmup, repeats, seed,
                                 min_energy_window_s=min_energy_window_s)
        what.update(system="cuBLAS", gpus=1)
        backend = f"cuda:{result['device']}"
    else:
        result = matmul.run_cpu(dims, warmup, repeats, seed)
        what["system"] = "CPU-BLAS"
        backend = "cpu"
    check = result["check"]
    if not check.passed:
        raise NumericMismatch(f"{what['system']} {shape} on {backend}: result differs from the "
                              f"NumPy reference (max rel err {check.max_rel_err:.3g})")
    what["params"].update(dtype=result["dtype"], timer=result["timer"],
                          **{k: result[k] for k in ("torch", "cuda") if k in result})
    peak = result["peak"]
    note = (f"measured on {result['device']} ({result['dtype']}, {result['timer']}, median of "
            f"{repeats}); energy {'NVML over >= %gs windows' % min_energy_window_s if result['energy'] else result['energy_reason']}"
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

    from .baselines import BaselineUnavailable
    from .baselines import llm

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
        _mark_skipped(record, reason)
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
        from .baselines.energy import EnergyUnavailable, nvml_counter
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
                  check={"performed": True, "passed": True,
                         "reason": f"every request produced exactly {output_len} tokens "
                                   "(checked; a mismatch fails the run)"},
                  note=f"measured: {system} {result['version']}, dummy weights, batch 1, "
                       f"tensor parallel {gpus}, median of {result['repeats']}; {energy_reason}")
    record["provenance"] = provenance.collect(device=gpu_name if device == "cuda" else "cpu",
                                              clock_hz=None, clock_source="n/a: wall clock")
    record["provenance"]["wall_seconds"] = time.perf_counter() - started
    return record


def record_from_sdk(result_json: str, system: str, shape: str, cores: str, backend: str,
                    hw: Hardware, command: str) -> dict:
    """The run record of a CSL kernel run on the SDK simulator or a wafer, from the JSON its
    launcher wrote (cycles from the aligned timestamps, the numeric check)."""
    started = time.perf_counter()
    res = _launcher_result(result_json, f"{system} {shape} on {backend}")
    check = res["check"]
    m, k, n = parse_dims(shape, 3, "shape")
    px, py = parse_dims(cores, 2, "core grid")
    cycles = float(res["cycles"])
    peak = px * py * hw.peak_flops_per_core_per_cycle * cycles
    metrics = {"cycles": (cycles, "cycles"),
               "latency_ms": (cycles / hw.clock_hz * 1e3, "ms"),
               "utilization": (2.0 * m * k * n / peak if peak else 0.0, "fraction"),
               "energy_j": (cycles / hw.clock_hz * hw.system_power_w, "J/run")}
    record = _base_record(
        f"{backend}/{system}/{shape}/{cores}",
        {"system": system, "module": meshsim.MODULE_OF[system], "shape": shape, "cores": cores,
         "gpus": None, "model": None, "input_len": None, "output_len": None,
         "params": {**res.get("params", {}), "command": command}}, hw)
    record.update(_sdk_labels(backend), metrics=metrics_list(metrics, {"cycles"}),
                  check={"performed": True, **check},
                  note=f"{_sdk_name(backend)}: cycles from per-core <time> stamps aligned by "
                       f"(x+y) hops; converted at {hw.clock_hz / 1e9:g} GHz ({hw.clock_source})")
    return _finish(record, hw, cores, started, _sdk_device(backend, hw, cores))



def _sdk_name(backend: str) -> str:
    return "Cerebras SDK simulator" if backend == "sdk-sim" else f"Cerebras {backend.upper()}"


def _sdk_labels(backend: str) -> dict:
    """How a record from an SDK backend is labelled: the simulator's numbers are simulated,
    a wafer's measured."""
    return {"backend": backend, "source": "simulated" if backend == "sdk-sim" else "measured",
            "mode": "functional" if backend == "sdk-sim" else "hardware"}


def _sdk_device(backend: str, hw: Hardware, cores: str) -> str:
    fabric = f" ({hw.name} fabric)" if backend == "sdk-sim" else " wafer"
    return f"{_sdk_name(backend)}{fabric}, {cores} cores"


def _launcher_result(path: str, what: str) -> dict:
    """A CSL launcher's JSON result; a failed check or disagreeing copies fail loudly."""
    import json

    from .check import NumericMismatch

    res = json.loads(open(path).read())
    check = res["check"]
    # rows_agree: False when a broadcast left different results on different copies; None
    # for kernels without one.
    if not check["passed"] or res.get("rows_agree") is False:
        raise NumericMismatch(f"{what}: device result differs from NumPy (max rel err "
                              f"{check['max_rel_err']:.3g}, copies agree: "
                              f"{res.get('rows_agree')})")
    return res


def record_from_sdk_decode(steps: list[str], counts: list[int], model: str, cores: str,
                           input_len: int, output_len: int, kv: str, backend: str,
                           hw: Hardware) -> dict:
    """The decode run record from the CSL Decode kernel's steps: one launcher result per
    group of steps of equal cost (llm.decode_step_plan), weighted by the group's size, then
    the same metrics as meshsim's (llm.decode_metrics_from_cycles)."""
    from .experiments import DECODE_SYSTEM
    from .llm import decode_metrics_from_cycles
    from .meshsim.decode import DecodeLayout
    from .models import arch

    started = time.perf_counter()
    if len(steps) != len(counts) or sum(counts) != output_len:
        raise ValueError(f"{len(steps)} step results with counts {counts} do not cover "
                         f"{output_len} output tokens")
    job = f"{backend}/decode/{model}/{cores}/in{input_len}_out{output_len}_kv{kv}"
    results = [_launcher_result(path, f"{job} step {path}") for path in steps]
    cycles = sum(r["cycles"] * n for r, n in zip(results, counts)) / output_len
    a = arch(model)
    px, py = parse_dims(cores, 2, "core grid")
    metrics, _ = decode_metrics_from_cycles(hw, a, DecodeLayout(a, px, py), cycles, input_len,
                                            output_len, kv)
    worst = max((r["check"] for r in results), key=lambda c: c["max_rel_err"])
    what = _what(DECODE_SYSTEM[kv], "Decode", model, cores, input_len, output_len, kv_mode=kv,
                 **_model_method(hw), step_cycles=[r["cycles"] for r in results],
                 step_counts=list(counts))
    record = _base_record(job, what, hw)
    record.update(_sdk_labels(backend),
                  metrics=metrics_list(metrics, {"cycles_per_layer", "cycles", "bytes_per_core",
                                                 "bytes_per_core_whole_model"}),
                  check={"performed": True, **worst},
                  note=f"{_sdk_name(backend)}: CSL Decode kernel, one step per group of "
                       f"equal-cost steps ({len(steps)}), cycles from per-core <time> stamps; "
                       f"{_method_and_energy_note(hw)}")
    return _finish(record, hw, cores, started, _sdk_device(backend, hw, cores))


def record_from_sdk_prefill(result_json: str, model: str, cores: str, input_len: int,
                            backend: str, hw: Hardware, command: str) -> dict:
    """The prefill run record from the CSL Prefill kernel's one-layer run: its cycles
    through the same metrics as meshsim's (llm.prefill_metrics)."""
    from .llm import prefill_metrics
    from .models import arch

    started = time.perf_counter()
    job = f"{backend}/prefill/{model}/{cores}/in{input_len}"
    res = _launcher_result(result_json, job)
    a = arch(model)
    metrics, _ = prefill_metrics(hw, a, square_grid(cores), input_len,
                                 cycles=float(res["cycles"]))
    what = _what("WaferLLM", "Prefill", model, cores, input_len, None, **_model_method(hw),
                 command=command)
    record = _base_record(job, what, hw)
    record.update(_sdk_labels(backend),
                  metrics=metrics_list(metrics, {"cycles_per_layer", "cycles", "bytes_per_core",
                                                 "bytes_per_core_whole_model"}),
                  check={"performed": True, **res["check"]},
                  note=f"{_sdk_name(backend)}: CSL Prefill kernel (one layer), cycles from "
                       f"per-core <time> stamps; {_method_and_energy_note(hw)}")
    return _finish(record, hw, cores, started, _sdk_device(backend, hw, cores))


def record_from_parts_e2e(prefill_record: str, decode_record: str, model: str,
                          prefill_cores: str, decode_cores: str, input_len: int,
                          output_len: int, backend: str, hw: Hardware) -> dict:
    """The end-to-end record (Table 2) from a prefill and a decode record of the same backend
    (the CSL kernels' on the SDK backends): llm.combine_end_to_end, as meshsim's e2e."""
    from .llm import combine_end_to_end

    started = time.perf_counter()
    parts = [records.read(path) for path in (prefill_record, decode_record)]
    for part, module in zip(parts, ("Prefill", "Decode")):
        if part["what"]["module"] != module or part["what"]["model"] != model:
            raise ValueError(f"{part['job']}: not a {module} record of {model}")
        if part["backend"] != backend or part.get("skipped"):
            raise ValueError(f"{part['job']}: backend {part['backend']}, skipped "
                             f"{bool(part.get('skipped'))}; expected a {backend} run")
    pre, dec = ({m["metric"]: (m["value"], m["unit"]) for m in part["metrics"]}
                for part in parts)
    cores = f"{prefill_cores}+{decode_cores}"
    job = f"{backend}/e2e/{model}/p{prefill_cores}_d{decode_cores}/in{input_len}_out{output_len}"
    what = _what("WaferLLM", "Prefill+Decode", model, cores, input_len, output_len,
                 prefill_cores=prefill_cores, decode_cores=decode_cores, **_model_method(hw),
                 parts=[part["job"] for part in parts])
    worst = max((part["check"] for part in parts), key=lambda c: c.get("max_rel_err") or 0.0)
    record = _base_record(job, what, hw)
    record.update(_sdk_labels(backend), metrics=metrics_list(
        combine_end_to_end(hw, output_len, pre, dec), set()), check=worst,
        note=f"{_sdk_name(backend)}: prefill and decode from the CSL kernels' records "
             f"({', '.join(what['params']['parts'])}); {_method_and_energy_note(hw)}")
    return _finish(record, hw, cores, started, _sdk_device(backend, hw, cores))

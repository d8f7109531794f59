"""Records of the CSL kernels run on the SDK backends (the SDK simulator or a wafer), from
the JSON their launchers write: the same record, metrics and checks as meshsim's."""

from __future__ import annotations

import time
from dataclasses import replace

from .. import meshsim, records
from ..check import NumericMismatch
from ..experiments import DECODE_SYSTEM, parse_dims, square_grid
from ..hardware import Hardware
from ..meshsim.decode_layout import DecodeLayout
from ..model_metrics import combine_end_to_end, decode_metrics_from_cycles, prefill_metrics
from ..models import arch
from ..presets import decode_run, prefill_run
from ..records import (
    MODEL_RAW_METRICS,
    base_record,
    finish,
    mark_skipped,
    method_and_energy_note,
    metrics_list,
    model_method,
    model_what,
    with_e2e_note,
)
from ..sdk import timing as sdk_timing


def record_from_sdk(result_json: str, system: str, shape: str, cores: str, backend: str,
                    hw: Hardware, command: str) -> dict:
    """The run record of a CSL kernel run on the SDK simulator or a wafer, from the JSON its
    launcher wrote (cycles: the mean over the timed runs; max and per-run values kept in
    what.params.timing; the numeric check)."""
    started = time.perf_counter()
    res = _launcher_result(result_json, f"{system} {shape} on {backend}")
    hw = _kernel_hardware(hw, res.get("params", {}))
    check = res["check"]
    m, k, n = parse_dims(shape, 3, "shape")
    px, py = parse_dims(cores, 2, "core grid")
    cycles = float(res["cycles"])
    peak = px * py * hw.peak_flops_per_core_per_cycle * cycles
    metrics = {"cycles": (cycles, "cycles"),
               "latency_ms": (cycles / hw.clock_hz * 1e3, "ms"),
               "utilization": (2.0 * m * k * n / peak if peak else 0.0, "fraction"),
               "energy_j": (cycles / hw.clock_hz * hw.system_power_w, "J/run")}
    record = base_record(
        f"{backend}/{system}/{shape}/{cores}",
        {"system": system, "module": meshsim.MODULE_OF[system], "shape": shape, "cores": cores,
         "gpus": None, "model": None, "input_len": None, "output_len": None,
         "params": {**res.get("params", {}), "command": command,
                    "timing": res.get("timing")}}, hw)
    record.update(_sdk_labels(backend), metrics=metrics_list(metrics, {"cycles"}),
                  check={"performed": True, **check},
                  note=f"{_sdk_name(backend)}: cycles from per-core <time> stamps aligned by "
                       f"(x+y) hops, {sdk_timing.describe(res.get('timing'))}; converted at "
                       f"{hw.clock_hz / 1e9:g} GHz ({hw.clock_source})")
    return finish(record, hw, cores, started, _sdk_device(backend, hw, cores))


def _kernel_hardware(hw: Hardware, params: dict) -> Hardware:
    """`hw` as the kernel ran on it: its compiled wavelet packing (`packed`) and accumulate
    (`acc32`; a kernel without it accumulates in fp16), so the record's memory, utilization and
    named instruction are the kernel's, as meshsim's twin computes them on the same hardware."""
    return replace(hw, fp16_per_wavelet=2 if params.get("packed") else 1,
                   accumulate="fp32" if params.get("acc32") else "fp16")


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
    from pathlib import Path

    res = json.loads(Path(path).read_text())
    check = res["check"]
    # rows_agree: False when a broadcast left different results on different copies; None
    # for kernels without one.
    if (res.get("timing") or {}).get("rerun_identical") is False:
        raise NumericMismatch(f"{what}: the timed launch left a result different from the "
                              "checked first run (state not reset between runs)")
    if not check["passed"] or res.get("rows_agree") is False:
        raise NumericMismatch(f"{what}: device result differs from NumPy (max rel err "
                              f"{check['max_rel_err']:.3g}, copies agree: "
                              f"{res.get('rows_agree')})")
    return res


def _launcher_preset(results: list[dict], job: str) -> str:
    """The schedule preset the Decode / Prefill launchers built their layer for; steps of one
    record must agree."""
    # A result without "preset" predates the launchers' --preset (which is always written
    # since): those launchers built only the full-model layer (the model's heads, the shift
    # cache, the causal mask), so such results are full-model, whatever DEFAULT_PRESET is.
    found = {r.get("preset", "full-model") for r in results}
    if len(found) != 1:
        raise ValueError(f"{job}: step results were run under different presets {sorted(found)}")
    return found.pop()


def record_from_sdk_decode(steps: list[str], counts: list[int], model: str, cores: str,
                           input_len: int, output_len: int, kv: str, backend: str,
                           hw: Hardware) -> dict:
    """The decode run record from the CSL Decode kernel's steps: one launcher result per
    group of steps of equal cost (model_metrics.decode_step_plan), weighted by the group's size,
    then the same metrics as meshsim's (model_metrics.decode_metrics_from_cycles)."""
    started = time.perf_counter()
    if len(steps) != len(counts) or sum(counts) != output_len:
        raise ValueError(f"{len(steps)} step results with counts {counts} do not cover "
                         f"{output_len} output tokens")
    job = f"{backend}/decode/{model}/{cores}/in{input_len}_out{output_len}_kv{kv}"
    results = [_launcher_result(path, f"{job} step {path}") for path in steps]
    cycles = sum(r["cycles"] * n for r, n in zip(results, counts, strict=True)) / output_len
    preset = _launcher_preset(results, job)
    run = decode_run(arch(model), kv, preset)
    px, py = parse_dims(cores, 2, "core grid")
    # memory: the kernel's own buffers (its accumulate width, padded when it packs)
    hw = _kernel_hardware(hw, results[0].get("params", {}))
    lay = DecodeLayout.on(hw, run.arch, px, py)
    metrics, _ = decode_metrics_from_cycles(hw, run.arch, lay, cycles, input_len, output_len,
                                            run.kv)
    worst = max((r["check"] for r in results), key=lambda c: c["max_rel_err"])
    what = model_what(DECODE_SYSTEM[kv], "Decode", model, cores, input_len, output_len, kv_mode=kv,
                 **model_method(hw), step_cycles=[r["cycles"] for r in results],
                 step_counts=list(counts), step_timing=[r.get("timing") for r in results])
    what["preset"] = preset
    record = base_record(job, what, hw)
    record.update(_sdk_labels(backend),
                  metrics=metrics_list(metrics, MODEL_RAW_METRICS),
                  check={"performed": True, **worst},
                  note=f"{_sdk_name(backend)}: CSL Decode kernel, one step per group of "
                       f"equal-cost steps ({len(steps)}), cycles from per-core <time> stamps; "
                       f"{method_and_energy_note(hw)}")
    return finish(record, hw, cores, started, _sdk_device(backend, hw, cores))


def record_from_sdk_prefill(result_json: str, model: str, cores: str, input_len: int,
                            backend: str, hw: Hardware, command: str) -> dict:
    """The prefill run record from the CSL Prefill kernel's one-layer run: its cycles
    through the same metrics as meshsim's (model_metrics.prefill_metrics)."""
    started = time.perf_counter()
    job = f"{backend}/prefill/{model}/{cores}/in{input_len}"
    res = _launcher_result(result_json, job)
    preset = _launcher_preset([res], job)
    hw = _kernel_hardware(hw, res.get("params", {}))
    run = prefill_run(arch(model), preset)
    metrics, _ = prefill_metrics(hw, run.arch, square_grid(cores), input_len,
                                 cycles=float(res["cycles"]), causal=run.causal,
                                 row_tree=run.row_tree)
    what = model_what("WaferLLM", "Prefill", model, cores, input_len, None, **model_method(hw),
                 command=command, timing=res.get("timing"))
    what["preset"] = preset
    record = base_record(job, what, hw)
    record.update(_sdk_labels(backend),
                  metrics=metrics_list(metrics, MODEL_RAW_METRICS),
                  check={"performed": True, **res["check"]},
                  note=f"{_sdk_name(backend)}: CSL Prefill kernel (one layer), cycles from "
                       f"per-core <time> stamps, {sdk_timing.describe(res.get('timing'))}; "
                       f"{method_and_energy_note(hw)}")
    return finish(record, hw, cores, started, _sdk_device(backend, hw, cores))


def record_from_parts_e2e(prefill_record: str, decode_record: str, model: str,
                          prefill_cores: str, decode_cores: str, input_len: int,
                          output_len: int, backend: str, hw: Hardware) -> dict:
    """The end-to-end record (Table 2) from a prefill and a decode record of the same backend
    (the CSL kernels' on the SDK backends): model_metrics.combine_end_to_end, as meshsim's e2e."""
    started = time.perf_counter()
    parts = [records.read(path) for path in (prefill_record, decode_record)]
    for part, module in zip(parts, ("Prefill", "Decode"), strict=True):
        if part["what"]["module"] != module or part["what"]["model"] != model:
            raise ValueError(f"{part['job']}: not a {module} record of {model}")
        if part["backend"] != backend:
            raise ValueError(f"{part['job']}: backend {part['backend']}; expected a {backend} "
                             "run")
    part_presets = {part["what"].get("preset") for part in parts}
    if len(part_presets) != 1:
        raise ValueError(f"prefill and decode records were run under different presets "
                         f"{sorted(map(str, part_presets))}")
    cores = f"{prefill_cores}+{decode_cores}"
    job = f"{backend}/e2e/{model}/p{prefill_cores}_d{decode_cores}/in{input_len}_out{output_len}"
    what = model_what("WaferLLM", "Prefill+Decode", model, cores, input_len, output_len,
                 prefill_cores=prefill_cores, decode_cores=decode_cores, **model_method(hw),
                 parts=[part["job"] for part in parts])
    what["preset"] = part_presets.pop()
    skipped = [part for part in parts if part["source"] == "skipped"]
    if skipped:  # no time for a part, so none for the whole: skipped, with the part's reason
        record = base_record(job, what, hw)
        record["backend"] = backend
        mark_skipped(record, "; ".join(f"part {part['job']} was skipped: "
                                       f"{part['check'].get('reason') or part.get('note')}"
                                       for part in skipped))
        return finish(record, hw, cores, started, _sdk_device(backend, hw, cores))
    pre, dec = ({m["metric"]: (m["value"], m["unit"]) for m in part["metrics"]}
                for part in parts)
    worst = max((part["check"] for part in parts), key=lambda c: c.get("max_rel_err") or 0.0)
    record = base_record(job, what, hw)
    record.update(_sdk_labels(backend), metrics=metrics_list(
        combine_end_to_end(hw, output_len, pre, dec), set()), check=worst,
        note=f"{_sdk_name(backend)}: prefill and decode from the CSL kernels' records "
             f"({', '.join(what['params']['parts'])}); {method_and_energy_note(hw)}")
    return finish(with_e2e_note(record), hw, cores, started,
                  _sdk_device(backend, hw, cores))

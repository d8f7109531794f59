"""Whole-model numbers on the wafer from the per-layer simulation: TPOT, TPR, memory, energy.

Following the paper's method, one layer is simulated and its cycles are multiplied by the
layer count; the embedding lookup and the LM head are not counted (as in the paper). Every
record built here says so. Memory is reported two ways: one layer on the grid (what the
per-layer measurement assumes) and the whole model resident on the grid and on one wafer.
"""

from __future__ import annotations

from .hardware import Hardware
from .meshsim.decode import decode_layer, kv_moves
from .meshsim.decode_layout import DecodeLayout, KVCache
from .meshsim.prefill import prefill_layer
from .meshsim.result import breakdown_metrics
from .models import Arch
from .presets import DecodeRun, PrefillRun

BYTES = 2  # fp16
METHOD_NOTE = ("per-layer cycles x layers (the paper's method); embedding and LM head not "
               "counted")


def _decode_step_key(lay: DecodeLayout, context: int, mode: str) -> tuple[int, bool]:
    """What a decode step's cost depends on: tokens on the busiest row after the append,
    and whether the KV shift runs."""
    moves = kv_moves(lay, lay.rows_tokens(context, mode), mode)
    return int(moves.after.max()), moves.shifts


def decode_step_plan(lay: DecodeLayout, input_len: int, output_len: int,
                     mode: str) -> tuple[int, list[tuple[int, int]]]:
    """(cap, [(context, steps)]): the output tokens' decode steps grouped by what their cost
    depends on, each group with a representative context (the first) and its size; cap is
    the busiest row's tokens over the whole run. Both backends run one step per group."""
    groups: dict = {}  # step key -> [first context, steps]
    for t in range(input_len, input_len + output_len):
        groups.setdefault(_decode_step_key(lay, t, mode), [t, 0])[1] += 1
    cap = max(n for n, _ in groups)
    return cap, [(t, count) for t, count in groups.values()]


def decode_step_fabrics(hw: Hardware, a: Arch, px: int, py: int, input_len: int,
                        output_len: int, mode: str, tree_levels: int = 2,
                        tree_root: str = "edge"):
    """([(fabric, steps)], layout): one layer's decode steps over the output tokens, those
    whose cost is the same simulated once (cycle model) with their count."""
    lay = DecodeLayout.on(hw, a, px, py)
    cap, plan = decode_step_plan(lay, input_len, output_len, mode)
    steps = [(decode_layer(hw, a, px, py, KVCache(lay.rows_tokens(t, mode)), t, mode,
                           tree_levels, cap=cap, tree_root=tree_root)[0], count)
             for t, count in plan]
    return steps, lay


def decode_cycles_per_layer(hw: Hardware, a: Arch, px: int, py: int, input_len: int,
                            output_len: int, mode: str, tree_levels: int = 2,
                            tree_root: str = "edge"):
    """Mean cycles of one layer's decode step over the output tokens, exactly: steps whose
    cost is the same are simulated once (cycle model) and counted. `tree_root`: the
    all-reduces' root form (presets.tree_root)."""
    steps, lay = decode_step_fabrics(hw, a, px, py, input_len, output_len, mode, tree_levels,
                                     tree_root)
    total, first_fabric, causes = 0.0, None, {}
    for fab, count in steps:
        total += fab.timeline.total * count
        for cause, v in fab.timeline.breakdown().items():
            causes[cause] = causes.get(cause, 0.0) + v * count / output_len
        first_fabric = first_fabric or fab
    return total / output_len, first_fabric, lay, causes


def wafer_fit(hw: Hardware, a: Arch) -> dict:
    """Whether the model's fp16 weights fit one wafer's SRAM, and how many wafers they need."""
    wafer_bytes = hw.fabric_width * hw.fabric_height * hw.sram_bytes_per_core
    model_bytes = a.params * BYTES
    return {"model_bytes": model_bytes, "fits_one_wafer": model_bytes <= wafer_bytes,
            "wafers_needed": -(-model_bytes // wafer_bytes)}


def whole_wafer_kv_capacity(hw: Hardware, a: Arch, py: int, mode: str) -> dict:
    """Table 5 as the paper's numbers read: the longest context whose K/V cache fits on the
    whole usable wafer beside every layer's weights, all resident at once.

    Terms, each from the model registry and the hardware description (nothing fitted):
    wafer_sram_bytes = usable cores (fabric_width x fabric_height) x SRAM per core;
    model_weight_bytes = the model's parameters (all layers, embedding and LM head) in fp16;
    kv_bytes_per_token = K and V (kv_heads x head_dim each, the model's GQA or MHA width) in
    fp16 for every layer. The cache gets what the weights leave; shift (and static) spread
    it over every row of the decode grid, concat keeps it on one of its py rows, so 1/py of
    it. Per-core granularity, padding and the plan's other buffers are not counted here
    (they are in the per-layer and whole-model rows, max_context_one_layer/_whole_model).
    """
    wafer = hw.fabric_width * hw.fabric_height * hw.sram_bytes_per_core
    weights = a.params * BYTES
    kv_token = 2 * a.kv_dim * BYTES * a.layers
    free = max(wafer - weights, 0)
    cache = free // py if mode == "concat" else free
    return {"wafer_sram_bytes": wafer, "model_weight_bytes": weights,
            "kv_bytes_per_token_whole_model": kv_token, "free_bytes": free,
            "cache_bytes": cache, "max_context_whole_wafer": cache // kv_token}


def per_token_bytes(lay: DecodeLayout, layers: int = 1) -> dict:
    """Bytes one more cached token costs a core of the decode plan: its K and V (one slice
    per resident layer) and its scores (one per head, at the accumulate width, shared by
    the layers: one layer attends at a time)."""
    kv = lay.kv_elems_per_token() * BYTES * layers
    scores = lay.a.heads * lay.acc_bytes
    return {"kv": kv, "scores": scores, "total": kv + scores}


def memory_summary(hw: Hardware, a: Arch, lay: DecodeLayout, context: int, mode: str) -> dict:
    """Bytes per core and fit, for one layer and for the whole model, at a context length.
    Every number comes from the decode plan's own buffers (DecodeLayout.buffers)."""
    tokens_on_busiest = int(lay.rows_tokens(context, mode).max())
    sram = hw.sram_bytes_per_core
    one_layer = lay.bytes_per_core(tokens_on_busiest)
    whole = lay.bytes_per_core(tokens_on_busiest, a.layers)
    return {
        "bytes_per_core_one_layer": one_layer,
        "bytes_per_core_whole_model": whole,
        "fits_grid_one_layer": one_layer <= sram,
        "fits_grid_whole_model": whole <= sram,
        **wafer_fit(hw, a),
        "kv_bytes_per_token_per_core": lay.kv_elems_per_token() * BYTES,
        # Longest context (prompt + generated) whose decode plan fits with one layer on the
        # grid (the per-layer view of the paper's Table 5) and with all layers resident: the
        # K/V and the per-token scores (probabilities in place) both grow with it.
        "max_context_one_layer": lay.max_context(sram, mode),
        "max_context_whole_model": lay.max_context(sram, mode, a.layers),
    }


def decode_metrics(hw: Hardware, a: Arch, px: int, py: int, input_len: int, output_len: int,
                   mode: str, tree_levels: int = 2,
                   tree_root: str = "edge") -> tuple[dict, dict]:
    """(metrics {name: (value, unit)}, memory summary) of decoding on a px x py grid."""
    cycles, _, lay, causes = decode_cycles_per_layer(hw, a, px, py, input_len, output_len,
                                                     mode, tree_levels, tree_root)
    metrics, mem = decode_metrics_from_cycles(hw, a, lay, cycles, input_len, output_len, mode)
    return {**metrics, **breakdown_metrics(causes, a.layers)}, mem


def decode_metrics_from_cycles(hw: Hardware, a: Arch, lay: DecodeLayout, cycles: float,
                               input_len: int, output_len: int, mode: str) -> tuple[dict, dict]:
    """The decode metrics from the mean cycles of one layer's step, from meshsim or from the
    CSL kernel's timestamps."""
    tpot_s = cycles * a.layers / hw.clock_hz
    mem = memory_summary(hw, a, lay, input_len + output_len, mode)
    metrics = {
        "cycles_per_layer": (cycles, "cycles"),
        "cycles": (cycles * a.layers, "cycles"),
        "tpot_ms": (tpot_s * 1e3, "ms"),
        "decode_tpr_tokens_per_s": (1.0 / tpot_s, "tokens/s"),
        "decode_energy_j": (tpot_s * hw.system_power_w, "J/token"),
        "max_decode_len_tokens": (float(mem["max_context_one_layer"] - input_len), "tokens"),
        "bytes_per_core": (float(mem["bytes_per_core_one_layer"]), "bytes"),
        "bytes_per_core_whole_model": (float(mem["bytes_per_core_whole_model"]), "bytes"),
        "fits_grid_whole_model": (float(mem["fits_grid_whole_model"]), "bool"),
        "fits_one_wafer": (float(mem["fits_one_wafer"]), "bool"),
    }
    return metrics, mem


def prefill_metrics(hw: Hardware, a: Arch, p: int, input_len: int,
                    cycles: float | None = None, causal: bool = True,
                    row_tree: tuple[int, str] = (2, "edge")) -> tuple[dict, dict]:
    """(metrics, memory summary) of prefilling an `input_len`-token prompt on a p x p grid;
    `row_tree`: (levels, root) of its row all-reduces (presets.prefill_row_tree).

    `cycles`: one layer's, measured by the CSL Prefill kernel; meshsim's when None. The
    memory plan is meshsim's either way (the kernel allocates the same buffers).
    """
    levels, root = row_tree
    fab, _ = prefill_layer(hw, a, p, input_len, tree_levels=levels, causal=causal,
                           tree_root=root)
    measured = cycles
    cycles = fab.timeline.total if cycles is None else cycles
    ttft_s = cycles * a.layers / hw.clock_hz
    whole = a.layers * PrefillBytes.weights(fab) + PrefillBytes.buffers(fab)
    mem = {"bytes_per_core_whole_model": whole,
           "fits_grid_whole_model": whole <= hw.sram_bytes_per_core, **wafer_fit(hw, a)}
    metrics = {
        "cycles_per_layer": (cycles, "cycles"),
        "cycles": (cycles * a.layers, "cycles"),
        "ttft_ms": (ttft_s * 1e3, "ms"),
        "prefill_tpr_tokens_per_s": (input_len / ttft_s, "tokens/s"),
        "prefill_energy_j": (ttft_s * hw.system_power_w, "J/request"),
        "bytes_per_core": (float(fab.bytes_per_core), "bytes"),
        "bytes_per_core_whole_model": (float(whole), "bytes"),
        "fits_grid_whole_model": (float(mem["fits_grid_whole_model"]), "bool"),
        "fits_one_wafer": (float(mem["fits_one_wafer"]), "bool"),
    }
    if measured is None:  # meshsim's own run: its cycles by cause
        metrics.update(breakdown_metrics(fab.timeline.breakdown(), a.layers))
    return metrics, mem


class PrefillBytes:
    """Split of a prefill plan's per-core bytes into one layer's weights and the buffers."""

    @staticmethod
    def weights(fab) -> int:
        return sum(v for k, v in fab.buffers.items() if k.startswith("weights"))

    @staticmethod
    def buffers(fab) -> int:
        return fab.bytes_per_core - PrefillBytes.weights(fab)


def end_to_end_metrics(hw: Hardware, prefill_p: int, decode_px: int, decode_py: int,
                       input_len: int, output_len: int, prefill: PrefillRun,
                       decode: DecodeRun) -> tuple[dict, dict]:
    """Prefill on its grid, then decode on its own (the paper's Table 2 setup), each layer as
    its preset runs it (presets.prefill_run, decode_run): TPR = output tokens / (prefill time
    + decode time); what this leaves out: placement.E2E_NOTE."""
    pre, pre_mem = prefill_metrics(hw, prefill.arch, prefill_p, input_len,
                                   causal=prefill.causal, row_tree=prefill.row_tree)
    dec, dec_mem = decode_metrics(hw, decode.arch, decode_px, decode_py, input_len, output_len,
                                  decode.kv, tree_root=decode.tree_root)
    metrics = combine_end_to_end(hw, output_len, pre, dec)
    return metrics, {**dec_mem, "fits_grid_whole_model": bool(metrics["fits_grid_whole_model"][0])}


def combine_end_to_end(hw: Hardware, output_len: int, pre: dict, dec: dict) -> dict:
    """End-to-end metrics from a prefill's and a decode's metrics ({name: (value, unit)}),
    meshsim's or the CSL kernels'."""
    ttft_s = pre["ttft_ms"][0] / 1e3
    decode_s = dec["tpot_ms"][0] / 1e3 * output_len
    total = ttft_s + decode_s
    return {
        "ttft_ms": (ttft_s * 1e3, "ms"),
        "tpot_ms": (dec["tpot_ms"][0], "ms"),
        "latency_ms": (total * 1e3, "ms"),
        "e2e_tpr_tokens_per_s": (output_len / total, "tokens/s"),
        "energy_j": (total * hw.system_power_w, "J/request"),
        "fits_grid_whole_model": (float(bool(pre["fits_grid_whole_model"][0])
                                        and bool(dec["fits_grid_whole_model"][0])), "bool"),
        "fits_one_wafer": (float(pre["fits_one_wafer"][0]), "bool"),
    }

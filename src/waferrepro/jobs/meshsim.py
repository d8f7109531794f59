"""Jobs on the embedded simulator (meshsim): a kernel, a model's decode, prefill, end to end,
and the KV-cache capacity, each returned as a run record."""

from __future__ import annotations

import time

from .. import meshsim, presets, validate
from ..bands import add_bands
from ..check import require_close, tolerance
from ..experiments import DECODE_SYSTEM, KernelJob, parse_dims, square_grid
from ..hardware import Hardware
from ..meshsim.cost import CAUSES
from ..meshsim.decode import decode_layer
from ..meshsim.decode_layout import DecodeLayout, pack_kv_cache
from ..meshsim.decode_layout import pack_weights as pack_decode_weights
from ..meshsim.fabric import PlanError
from ..meshsim.prefill import prefill_layer
from ..meshsim.prefill_layout import PrefillLayout
from ..meshsim.prefill_layout import pack_weights as pack_prefill_weights
from ..model_metrics import (
    decode_metrics,
    end_to_end_metrics,
    memory_summary,
    per_token_bytes,
    prefill_metrics,
    whole_wafer_kv_capacity,
)
from ..models import arch
from ..presets import DEFAULT_PRESET
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
from ..reference_layer import layer, random_weights

BREAKDOWN_METRICS = {f"cycles_{cause}" for cause in CAUSES}
RAW_METRICS = {"cycles", "compute_cycles", "comm_cycles", "comm_hidden_cycles",
               "bytes_per_core", "colors_per_core"} | BREAKDOWN_METRICS
MODES = ("functional", "cycle-model")
KV_MODES = ("shift", "concat")


def _choice(value, allowed, what: str):
    if value not in allowed:
        raise validate.ValidationError(f"{what}: {value!r} is not allowed; allowed: "
                                       f"{', '.join(allowed)}")
    return value


def check_job(hw: Hardware, preset: str, mode: str | None = None, kv: str | None = None,
              model: str | None = None, grids: dict | None = None, square: tuple = (),
              **lengths) -> None:
    """What every job checks before it runs (waferrepro.validate, the same checks as the
    command line and the config): the preset, mode and KV mode, the model, each grid (within
    the usable fabric; those in `square` square) and each length (>= 1). ValidationError
    names the argument."""
    validate.preset(preset)
    if mode is not None:
        _choice(mode, MODES, "mode")
    if kv is not None:
        _choice(kv, KV_MODES, "kv")
    if model is not None:
        validate.model(model)
    for what, g in (grids or {}).items():
        validate.grid(g, what, hw, square=what in square, why="prefill (MeshGEMM)")
    for what, n in lengths.items():
        validate.length(n, what)


def run_meshsim(system: str, shape: str, cores: str, hw: Hardware, mode: str,
                seed: int = 0, preset: str = DEFAULT_PRESET,
                group_num: int | None = None) -> dict:
    """Simulate one job and return its record (a plan that does not fit gives a skipped record).
    `group_num` (MeshGEMV only): the authors' group count of its two-level tree, checked
    against the grid's columns (validate.group_num); None: our tree. The record's params and
    job id say which ran.

    A numeric mismatch in functional mode raises NumericMismatch: the job fails, no record.
    """
    validate.system(system)
    check_job(hw, preset, mode, grids={"cores": cores})
    m, k, n = validate.shape(shape)
    px, py = parse_dims(cores, 2, "core grid")
    group_num = validate.group_num(group_num, py, system=system)
    started = time.perf_counter()
    hw, kernel = presets.hardware(hw, preset), presets.kernel(system, preset, group_num)
    job = KernelJob("meshsim", system, shape, cores, group_num).path
    record = base_record(
        job.removeprefix("records/").removesuffix(".json"),
        {"system": system, "module": meshsim.MODULE_OF[system], "shape": shape, "cores": cores,
         "gpus": None, "model": None, "input_len": None, "output_len": None,
         "preset": preset, "params": {"seed": seed, "schedule": presets.options(preset),
                                      **({} if group_num is None else
                                         {"group_num": group_num})}}, hw)
    try:
        outcome = meshsim.simulate(system, (m, k, n), px, py, hw, mode == "functional", seed,
                                   kernel)
    except PlanError as exc:
        mark_skipped(record, str(exc), "plan does not fit the hardware")
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
                      note=f"simulated by meshsim ({mode}, {presets.note(hw)}) with the "
                      f"{hw.name} cost model" + ("" if group_num is None else
                                                 f"; the authors' group_num {group_num}"))
    return finish(record, hw, cores, started)


def layer_reduction_length(a, tokens: int) -> int:
    """The longest sum in one decoder layer (the fp16 tolerance's n): over the hidden size
    (QKV, gate|up), the query width (O), the FFN (down) or the cached tokens (P x V)."""
    return max(a.hidden, a.q_dim, a.ffn, tokens)


def check_decode_functional(hw: Hardware, a, px: int, py: int, context: int, mode: str,
                            steps: int = 2, seed: int = 0, tree_root: str = "edge"):
    """Decode `steps` tokens after a `context`-token prefix on the mesh, with real data, and
    compare each output with the NumPy reference layer (all-reduce roots: `tree_root`).
    Raises NumericMismatch on a mismatch."""
    import numpy as np

    w = random_weights(a, seed)
    x = np.random.default_rng(seed + 1).standard_normal((context + steps, a.hidden))
    x = x.astype(np.float16)
    full, k, v = layer(x, w, a, np.arange(context + steps))
    lay = DecodeLayout(a, px, py)
    cache = pack_kv_cache(lay, k[:context], v[:context], mode, cap=context + steps)
    packed = pack_decode_weights(lay, w)
    worst = None
    for t in range(context, context + steps):
        _, out = decode_layer(hw, a, px, py, cache, t, mode, weights=packed, x=x[t],
                              cap=context + steps, tree_root=tree_root)
        result = require_close(out, full[t], f"decode of {a.name} on {px}x{py}, token {t} "
                               f"({hw.accumulate} accumulate)",
                               **tolerance(hw.accumulate, layer_reduction_length(a, t + 1)))
        if worst is None or result.max_rel_err > worst.max_rel_err:
            worst = result
    return worst


def _model_record(job: str, what: dict, hw: Hardware, cores: str, compute_on, raw: set,
                  functional_check=None) -> dict:
    """Record of a whole-model run: metrics from `compute_on(hw)` -> (metrics, memory), their
    bands from the same at the assumption bounds; a plan that does not fit becomes a skipped
    record; fit problems are stated in the note."""
    started = time.perf_counter()
    a = arch(what["model"])
    preset = what.setdefault("preset", DEFAULT_PRESET)
    hw = presets.hardware(hw, preset)
    modules = what["module"].split("+")  # Decode, Prefill or both (e2e)
    what["params"].update(model_method(hw), schedule={
        k: v for k, v in presets.options(preset).items()
        if k in presets.HARDWARE_OPTIONS or set(presets.APPLIES.get(k, ())) & set(modules)})
    record = base_record(job, what, hw)
    mode = "functional" if functional_check else "cycle-model"
    try:
        metrics, mem = compute_on(hw)
        check = {"performed": False, "passed": None,
                 "reason": "cycle-model run at model dims: no data computed"}
        if functional_check:
            check = {"performed": True, **functional_check(hw).as_dict()}
    except PlanError as exc:
        mark_skipped(record, str(exc), "plan does not fit the hardware")
        return finish(record, hw, cores, started)
    fit = []
    if not mem["fits_grid_whole_model"]:
        fit.append(f"all {a.layers} layers need {mem['bytes_per_core_whole_model']} B/core "
                   f"> {hw.sram_bytes_per_core} on this grid")
    if not mem["fits_one_wafer"]:
        fit.append(f"the model ({mem['model_bytes'] / 1e9:.0f} GB fp16) does not fit on one "
                   f"{hw.name} wafer: needs {mem['wafers_needed']}")
    banded = add_bands(metrics_list(metrics, raw), hw, lambda h: compute_on(h)[0])
    record.update(source="simulated", mode=mode, metrics=banded,
                  check=check, note=f"simulated by meshsim ({mode}, {presets.note(hw)}); "
                  f"{method_and_energy_note(hw)}"
                  + ("; " + "; ".join(fit) if fit else ""))
    return finish(record, hw, cores, started)


def run_decode(model: str, cores: str, input_len: int, output_len: int, kv: str, hw: Hardware,
               mode: str, seed: int = 0, preset: str = DEFAULT_PRESET) -> dict:
    """Decode of one model on one grid: TPOT, TPR, energy and memory, as a run record."""
    check_job(hw, preset, mode, kv, model, {"cores": cores}, input_len=input_len,
              output_len=output_len)
    run = presets.decode_run(arch(model), kv, preset)
    px, py = parse_dims(cores, 2, "core grid")
    check = None if mode != "functional" else (
        lambda h: check_decode_functional(h, run.arch, px, py, input_len, run.kv, seed=seed,
                                          tree_root=run.tree_root))
    return _model_record(
        f"meshsim/decode/{model}/{cores}/in{input_len}_out{output_len}_kv{kv}_{preset}",
        {**model_what(DECODE_SYSTEM[kv], "Decode", model, cores, input_len, output_len,
                      kv_mode=kv, tree_levels=2, seed=seed), "preset": preset},
        hw, cores, lambda h: decode_metrics(h, run.arch, px, py, input_len, output_len,
                                            run.kv, tree_root=run.tree_root),
        MODEL_RAW_METRICS | BREAKDOWN_METRICS, check)


def check_prefill_functional(hw: Hardware, a, p: int, tokens: int, seed: int = 0,
                             causal: bool = True, row_tree: tuple[int, str] = (2, "edge")):
    """Prefill `tokens` random tokens on the mesh with real data and compare every output row
    with the NumPy reference layer (masked the same way; row all-reduces: `row_tree`, as
    presets.prefill_row_tree). Raises NumericMismatch on a mismatch."""
    import numpy as np

    w = random_weights(a, seed)
    x = np.random.default_rng(seed + 1).standard_normal((tokens, a.hidden)).astype(np.float16)
    ref, _, _ = layer(x, w, a, np.arange(tokens), causal=causal)
    levels, root = row_tree
    packed = pack_prefill_weights(PrefillLayout(a, p, tokens), w)
    _, out = prefill_layer(hw, a, p, tokens, packed, x, tree_levels=levels, causal=causal,
                           tree_root=root)
    return require_close(out, ref, f"prefill of {a.name} on {p}x{p}, {tokens} tokens "
                         f"({hw.accumulate} accumulate, {'causal' if causal else 'no mask'})",
                         **tolerance(hw.accumulate, layer_reduction_length(a, tokens)))


def run_prefill(model: str, cores: str, input_len: int, hw: Hardware, mode: str,
                seed: int = 0, preset: str = DEFAULT_PRESET) -> dict:
    """Prefill of one prompt on one grid: TTFT, prefill TPR, energy and memory."""
    check_job(hw, preset, mode, None, model, {"cores": cores}, ("cores",),
              input_len=input_len)
    run, p = presets.prefill_run(arch(model), preset), square_grid(cores)
    check = None if mode != "functional" else (
        lambda h: check_prefill_functional(h, run.arch, p, input_len, seed, run.causal,
                                           run.row_tree))
    return _model_record(
        f"meshsim/prefill/{model}/{cores}/in{input_len}_{preset}",
        {**model_what("WaferLLM", "Prefill", model, cores, input_len, None, seed=seed),
         "preset": preset}, hw, cores,
        lambda h: prefill_metrics(h, run.arch, p, input_len, causal=run.causal,
                                  row_tree=run.row_tree),
        MODEL_RAW_METRICS | BREAKDOWN_METRICS, check)


def run_end_to_end(model: str, prefill_cores: str, decode_cores: str, input_len: int,
                   output_len: int, hw: Hardware, mode: str, seed: int = 0,
                   preset: str = DEFAULT_PRESET) -> dict:
    """Prefill on one region and decode on another; end-to-end TPR (Table 2)."""
    check_job(hw, preset, mode, None, model,
              {"prefill_cores": prefill_cores, "decode_cores": decode_cores},
              ("prefill_cores",), input_len=input_len, output_len=output_len)
    pre_run, p = presets.prefill_run(arch(model), preset), square_grid(prefill_cores)
    dec_run = presets.decode_run(arch(model), "shift", preset)
    dx, dy = parse_dims(decode_cores, 2, "core grid")
    def both_checks(h):
        pre = check_prefill_functional(h, pre_run.arch, p, input_len, seed, pre_run.causal,
                                       pre_run.row_tree)
        dec = check_decode_functional(h, dec_run.arch, dx, dy, input_len, dec_run.kv,
                                      seed=seed, tree_root=dec_run.tree_root)
        return pre if pre.max_rel_err >= dec.max_rel_err else dec

    check = both_checks if mode == "functional" else None
    cores = f"{prefill_cores}+{decode_cores}"
    record = _model_record(
        f"meshsim/e2e/{model}/p{prefill_cores}_d{decode_cores}/in{input_len}_out{output_len}_"
        f"{preset}",
        {**model_what("WaferLLM", "Prefill+Decode", model, cores, input_len, output_len,
                      prefill_cores=prefill_cores, decode_cores=decode_cores, seed=seed),
         "preset": preset},
        hw, cores, lambda h: end_to_end_metrics(h, p, dx, dy, input_len, output_len,
                                                pre_run, dec_run),
        {"cycles_per_layer", "cycles"}, check)
    return with_e2e_note(record)


def run_kv_capacity(model: str, cores: str, kv: str, hw: Hardware,
                    preset: str = DEFAULT_PRESET) -> dict:
    """Longest context the KV cache can hold (Table 5), from the memory model of the decode
    plan under `preset` (its accumulate width sizes the per-token scores buffer; its
    attention_heads the per-token K/V width and how many heads' scores each core keeps; a
    static cache holds what shift does), and as the paper's numbers read: every layer
    resident on the whole usable wafer (model_metrics.whole_wafer_kv_capacity)."""
    check_job(hw, preset, None, kv, model, {"cores": cores})
    started = time.perf_counter()
    hw = presets.hardware(hw, preset)
    a0 = arch(model)
    a = presets.attention_arch(a0, preset)
    px, py = parse_dims(cores, 2, "core grid")
    lay = DecodeLayout.on(hw, a, px, py)
    mem = memory_summary(hw, a, lay, 0, presets.kv_mode(kv, preset))
    wafer = whole_wafer_kv_capacity(hw, a0, py, kv)
    record = base_record(
        f"meshsim/kv_capacity/{model}/{cores}/kv{kv}_{preset}",
        {"system": DECODE_SYSTEM[kv], "module": "Decode", "shape": None, "cores": cores,
         "gpus": None, "model": model, "input_len": None, "output_len": None,
         "preset": preset, "params": {"kv_mode": kv, "schedule": {
             k: presets.options(preset)[k]
             for k in ("accumulate", "attention_heads", "kv_cache")}}}, hw)
    metrics = {"max_decode_len_tokens": (float(mem["max_context_one_layer"]), "tokens"),
               "max_decode_len_tokens_whole_model": (float(mem["max_context_whole_model"]),
                                                     "tokens"),
               "kv_bytes_per_token_per_core": (float(mem["kv_bytes_per_token_per_core"]),
                                               "bytes"),
               "max_context_whole_wafer_tokens": (float(wafer["max_context_whole_wafer"]),
                                                  "tokens"),
               "kv_bytes_per_token_whole_model": (float(wafer["kv_bytes_per_token_whole_model"]),
                                                  "bytes"),
               "model_weight_bytes": (float(wafer["model_weight_bytes"]), "bytes"),
               "wafer_sram_bytes": (float(wafer["wafer_sram_bytes"]), "bytes")}
    record.update(source="simulated", mode="cycle-model", metrics=metrics_list(metrics, set()),
                  check={"performed": False, "passed": None,
                         "reason": "memory model only: no data computed"},
                  note=kv_capacity_note(hw, a0, a, lay, kv, cores, wafer))
    return finish(record, hw, cores, started)


def kv_capacity_note(hw: Hardware, a0, a, lay, kv: str, cores: str, wafer: dict) -> str:
    """What each Table 5 row measures, with the terms of its formula: the decode plan's
    per-core costs of a token (one layer, all layers) and the whole-wafer reading."""
    one, all_ = per_token_bytes(lay), per_token_bytes(lay, a.layers)
    weights = lay.weight_elems_per_core() * 2 * a.layers
    heads = ("the model's heads" if a.kv_dim == a0.kv_dim else
             f"attention_heads one: one head of hidden width, {a.kv_dim // a0.kv_dim}x the "
             f"model's {a0.kv_dim}")
    rows = f" / {lay.py} rows (concat: one row of the grid holds the cache)" \
        if kv == "concat" else ""
    text = (f"memory model on the {cores} grid (the paper does not print Table 5's grid: see "
            "config/config.yaml, table5). max_decode_len_tokens: tokens (prompt + generated) "
            f"whose decode plan (the CSL Decode kernel's buffers) fits in {hw.sram_label} "
            "beside one layer's weights and buffers; ..._whole_model: beside all "
            f"{a.layers} layers' ({weights} B of weights per core; 0 when they do not fit). "
            f"A cached token costs a core {one['kv']} B of K/V per layer ({lay.ckv} of the "
            f"{a.kv_dim}-wide K and of V; {heads}) and {one['scores']} B of scores "
            f"({a.heads} head(s) at {lay.acc_bytes} B, once, not per layer): {one['total']} B "
            f"with one layer, {all_['total']} B with all layers. So the presets can rank "
            "oppositely: per layer the scores dominate the model's heads (fp32, one per "
            "head), with all layers the K/V (once per layer), and one head of hidden width "
            "has wider K/V and hidden x hidden K/V weights. max_context_whole_wafer_tokens "
            "(the reading of the paper's numbers, every layer resident on the whole usable "
            f"wafer): ({wafer['wafer_sram_bytes']} B of SRAM on {hw.fabric_width}x"
            f"{hw.fabric_height} cores - {wafer['model_weight_bytes']} B of fp16 weights, "
            f"all {a0.layers} layers, embedding and LM head){rows} / "
            f"{wafer['kv_bytes_per_token_whole_model']} B of K/V per token ({a0.layers} layers "
            f"x K and V x {a0.kv_dim} x 2 B, the model's own K/V width)")
    if a.kv_dim != a0.kv_dim:
        alt = whole_wafer_kv_capacity(hw, a, lay.py, kv)["max_context_whole_wafer"]
        text += f"; with this preset's one-head K/V ({a.kv_dim} wide) it would be {alt}"
    return text + "; per-core padding and the plan's other buffers are not in it"

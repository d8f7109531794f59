"""Schedule presets: named choices of how the kernels are scheduled, grouped as the paper's
public kernels do them (`paper-kernels`) or as our complete layer does (`full-model`).

Options (each changes meshsim's schedule; the layer options also the NumPy reference):
- tree_root (modelled; MeshGEMV, Decode and Prefill): the all-reduce trees' roots at each
  group's first core ("edge"), in its middle with both sides reducing towards it ("middle",
  rounded down: our CSL's roles.csl), or as the authors place them ("authors": the middle
  rounded up, root_1st_phase = pe_num_group // 2, and groups of the authors' size, the
  divisor of the line nearest its square root unless a MeshGEMV's group_num says: every
  reduction of their decode.csl is a two_tree_allreduce_*, MeshGEMV/WSE-3's run_wse3.sh
  places its roots so, and their Prefill's row all-reduces chain towards P/2 from both
  sides; about half the hops). Decode's y and x all-reduces and
  Prefill's row all-reduces take it through decode_run() / prefill_run(); chain-GEMV
  stays Cerebras's one-way chain either way.
- prefill_row_levels (modelled; Prefill): the levels of Prefill's row all-reduce trees (RMSNorm
  sums of squares, softmax max and sum). 1 is the authors' Prefill (WSE-2 comm_pe.csl
  mv_allreduce_add_x / mv_allreduce_max_x: one chain per side of the whole row into the
  root, which combines the two sides one after the other, then broadcasts both ways); 2 is
  our two-level tree (the paper's MeshGEMV form, section 4), which full-model keeps.
- skew (modelled): Cannon-family A alignment on the host before timing ("host") or on the
  device inside the timed region ("device", the authors' MeshGEMM).
- last_shift (modelled): MeshGEMM makes p ring shifts per run, the last one (tiles back
  home) overlapping the last step's compute (the authors' mm_compute; our CSL does the same),
  or p-1 (our first schedule). Only MeshGEMM: Cannon has no kernel to follow. Prefill's
  weight GEMMs make p shifts of their weights under either preset (meshsim.prefill): a
  layer's weights must be home for the next prompt.
- fp16_per_wavelet (modelled): fp16 values per 32-bit wavelet, 1 or 2 (the authors' fabric
  DSDs pack two); partial sums travel at the accumulate width (fp16 ones packed the same way,
  fp32 ones one per wavelet).
- accumulate (modelled): the accumulator's precision. "fp16" is @fmach (fp16 multiply, fp16
  accumulate; SIMD 4 on WSE-2, 8 on WSE-3), the only multiply-accumulate in the authors' public
  kernels (github MeshInfra/WaferLLM, *.csl); "fp32" is @fmachs (fp32 accumulate, half the
  SIMD width), what a complete layer would want for long reductions. Our four CSL kernels
  have both forms (`acc32`, sdk.toolchain).
  Compute, partial-sum transfers and adds, accumulator buffers and the functional numerics
  (meshsim.precision) all follow it; the numeric check's tolerance too (check.tolerance).
- attention_heads (modelled; Decode and Prefill): "model" runs the model's GQA heads; "one"
  treats the whole hidden dimension as one head with K and V of full hidden width (the
  authors' Decode and Prefill: n_heads = n_kv_heads = 1, head_dim = dim in their configs).
  Applied as an Arch (attention_arch): layouts, weights, memory, cycles and the NumPy
  reference all see the same one-head layer (its K/V weights are hidden x hidden).
- causal_mask (modelled; Prefill): mask keys after the query (true) or not (false: the
  authors' Prefill). Numerics only: the mask is fused into the scale pass (as in
  kernels/Prefill's softmax_mask_scale_max), so the cycles do not change; keys past the
  prompt (grid padding) are masked either way.
- loop_form (modelled; every kernel's compute): how the loops issue operations. "authors"
  prices the authors' WSE-2 code as written (waferrepro.ledger: a GEMM's `for k: @map(...)`
  of one short @fmach per element of B, a GEMV's @map over its input slice, element-wise
  work in scalar loops or @maps where they write it); "vector" our schedules' one DSD
  operation per vector in the cheapest loop order. Both pay the same construct costs
  (hardware.Hardware: map_element_cycles, scalar_iteration_cycles, ...).
- kv_cache (modelled; Decode): "shift" (the paper's KV shift: new token on row 0, one token
  per row boundary moves down) or "static" (no per-token KV movement: token t is written on
  row t mod py and stays; the authors' Decode never moves its cache). Static holds the same
  tokens per row as shift (balanced), so memory and capacity (Table 5) are the same; it
  saves the shift's hop and colors. The authors' kernel goes further and never writes the
  new token (it attends to a preloaded cache); we keep the token, or the layer is wrong.
  Applies to the experiments' "shift" decode; the "concat" baseline is left as is.
- summa_form (modelled; SUMMA, Figure 9's comparator): "authors" runs the authors' SUMMA as
  written (upstream WaferLLM 0a0487b SUMMA/: collectives_2d broadcasts, then the local
  product, no double buffering; meshsim.summa), "ours" our double-buffered SUMMA
  (meshsim.gemm.run_summa).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial

from .hardware import Hardware
from .models import Arch

PRESETS = {
    "full-model": {"tree_root": "edge", "skew": "host", "fp16_per_wavelet": 1,
                   "last_shift": False, "accumulate": "fp32",
                   "attention_heads": "model", "causal_mask": True, "kv_cache": "shift",
                   "prefill_row_levels": 2, "loop_form": "vector", "summa_form": "ours"},
    "paper-kernels": {"tree_root": "authors", "skew": "device", "fp16_per_wavelet": 2,
                      "last_shift": True, "accumulate": "fp16",
                      "attention_heads": "one", "causal_mask": False, "kv_cache": "static",
                      "prefill_row_levels": 1, "loop_form": "authors",
                      "summa_form": "authors"},
}
# Options that live on the hardware description (every cost reads them from there).
HARDWARE_OPTIONS = ("fp16_per_wavelet", "accumulate", "loop_form")
# The one default preset: the command line's --preset, the config schema's schedule_preset
# (tests/test_cli_validation.py checks they agree) and the Python API's preset arguments:
# the authors' kernels, as config/config.yaml runs them. full-model is asked for by name.
DEFAULT_PRESET = "paper-kernels"
# Which systems each option applies to (kernel() binds those of meshsim's kernels; the
# model-level ones are read by everything that runs Decode or Prefill through decode_run and
# prefill_run).
APPLIES = {"tree_root": ("MeshGEMV", "Decode", "Prefill"), "prefill_row_levels": ("Prefill",),
           "skew": ("MeshGEMM", "Cannon"),
           "last_shift": ("MeshGEMM",), "attention_heads": ("Decode", "Prefill"),
           "causal_mask": ("Prefill",), "kv_cache": ("Decode",), "summa_form": ("SUMMA",)}
ATTENTION_HEADS = ("model", "one")
KV_CACHE = ("shift", "static")


def options(preset: str) -> dict:
    if preset not in PRESETS:
        raise ValueError(f"unknown schedule preset {preset!r}; known: {sorted(PRESETS)}")
    return dict(PRESETS[preset])


def attention_arch(a: Arch, preset: str) -> Arch:
    """The layer's dimensions under the preset's attention_heads: the model's heads, or the
    whole hidden dimension as one head (K and V of full hidden width)."""
    heads = options(preset)["attention_heads"]
    if heads not in ATTENTION_HEADS:
        raise ValueError(f"attention_heads must be one of {ATTENTION_HEADS}, got {heads!r}")
    if heads == "model":
        return a
    return replace(a, heads=1, kv_heads=1, head_dim=a.hidden)


def kv_mode(kv: str, preset: str) -> str:
    """The decode KV mode that runs: the experiment's "shift" becomes the preset's kv_cache
    ("shift" or "static"); any other mode (the "concat" baseline) stays."""
    cache = options(preset)["kv_cache"]
    if cache not in KV_CACHE:
        raise ValueError(f"kv_cache must be one of {KV_CACHE}, got {cache!r}")
    return cache if kv == "shift" else kv


def tree_root(preset: str) -> str:
    """Where Decode's and Prefill's all-reduce trees put their roots (meshsim.comm.TREE_ROOTS);
    MeshGEMV gets the same option bound by kernel()."""
    from .meshsim.comm import TREE_ROOTS

    root = options(preset)["tree_root"]
    if root not in TREE_ROOTS:
        raise ValueError(f"tree_root must be one of {TREE_ROOTS}, got {root!r}")
    return root


def prefill_row_tree(preset: str) -> tuple[int, str]:
    """(levels, root) of Prefill's row all-reduces: prefill_row_levels and tree_root
    (paper-kernels: (1, "authors"), the authors' one chain per side into P/2; full-model:
    (2, "edge"))."""
    levels = options(preset)["prefill_row_levels"]
    if levels not in (1, 2):
        raise ValueError(f"prefill_row_levels must be 1 or 2, got {levels!r}")
    return levels, tree_root(preset)


def causal(preset: str) -> bool:
    """Whether Prefill masks keys after the query."""
    return bool(options(preset)["causal_mask"])


@dataclass(frozen=True)
class DecodeRun:
    """The Decode layer a preset runs for a model and an experiment's kv mode: every path
    that runs or records Decode (meshsim's jobs, sweeps, the CSL's params, inputs and records)
    takes it from decode_run."""
    arch: Arch       # attention_arch
    kv: str          # kv_mode: the experiment's "shift" becomes the preset's kv_cache
    tree_root: str   # its y and x all-reduces' roots


@dataclass(frozen=True)
class PrefillRun:
    """The Prefill layer a preset runs for a model (as DecodeRun, from prefill_run)."""
    arch: Arch
    causal: bool
    row_tree: tuple[int, str]  # prefill_row_tree: (levels, root) of its row all-reduces


def decode_run(a: Arch, kv: str, preset: str) -> DecodeRun:
    return DecodeRun(attention_arch(a, preset), kv_mode(kv, preset), tree_root(preset))


def prefill_run(a: Arch, preset: str) -> PrefillRun:
    return PrefillRun(attention_arch(a, preset), causal(preset), prefill_row_tree(preset))


def hardware(hw: Hardware, preset: str) -> Hardware:
    """The hardware description with the preset's wavelet packing and accumulate precision,
    except a field the user set through hardware_overrides (theirs wins)."""
    opts = options(preset)
    return replace(hw, **{k: opts[k] for k in HARDWARE_OPTIONS if k not in hw.user_set})


def note(hw: Hardware) -> str:
    """The accumulate precision and the hardware profile a run used, as records say them."""
    profile = hw.calibration or "nominal hardware profile"
    return f"@{hw.mac_instruction}: {hw.accumulate} accumulate; {profile}"


def kernel(system: str, preset: str, group_num: int | None = None):
    """meshsim's kernel function for `system` with the preset's options bound, and MeshGEMV's
    `group_num` where given (the authors' groups of its two-level tree; None: ours). The
    grid is not known here: the kernel checks that group_num fits its column."""
    from .meshsim import SYSTEMS
    from .meshsim.comm import check_group_num

    opts = options(preset)
    kwargs = {k: opts[k] for k, systems in APPLIES.items() if system in systems}
    check_group_num(None, group_num, system)
    if group_num is not None:
        kwargs["group_num"] = group_num
    return partial(SYSTEMS[system], **kwargs)

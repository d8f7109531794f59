"""Schedule presets: named choices of how the kernels are scheduled, grouped as the paper's
public kernels do them (`paper-kernels`) or as our complete layer does (`full-model`).

Options (the ones marked "modelled" change meshsim's schedule; the rest are documented
differences not yet modelled, so no preset sets them):
- tree_root (modelled): MeshGEMV's tree roots at each group's first core ("edge") or in its
  middle with both sides reducing towards it ("middle", the authors' MeshGEMV; about half the
  hops). chain-GEMV stays Cerebras's one-way chain either way.
- skew (modelled): Cannon-family A alignment on the host before timing ("host") or on the
  device inside the timed region ("device", the authors' MeshGEMM).
- last_shift (modelled): MeshGEMM makes p ring shifts per run, the last one (tiles back
  home) overlapping the last step's compute (the authors' mm_compute; our CSL does the same),
  or p-1 (our first schedule). Only MeshGEMM: Cannon has no kernel to follow.
- fp16_per_wavelet (modelled): fp16 values per 32-bit wavelet, 1 or 2 (the authors' fabric
  DSDs pack two); partial sums travel at the accumulate width (fp16 ones packed the same way,
  fp32 ones one per wavelet).
- accumulate (modelled): the accumulator's precision. "fp16" is @fmach (fp16 multiply, fp16
  accumulate; SIMD 4 on WSE-2, 8 on WSE-3), the only multiply-accumulate in the authors' public
  kernels (github MeshInfra/WaferLLM, *.csl) and in ours (kernels/); "fp32" is @fmachs (fp32
  accumulate, half the SIMD width), what a complete layer would want for long reductions.
  Compute, partial-sum transfers and adds, accumulator buffers and the functional numerics
  (meshsim.precision) all follow it; the numeric check's tolerance too (check.tolerance).
- heads / causal_mask / kv (not modelled): the authors' Decode treats the hidden dimension as
  one head over a static KV cache and their Prefill has no causal mask; our layers always run
  GQA heads, the mask and the KV shift.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from .hardware import HARDWARE, Hardware

PRESETS = {
    "full-model": {"tree_root": "edge", "skew": "host", "fp16_per_wavelet": 1,
                   "last_shift": False, "accumulate": "fp32"},
    "paper-kernels": {"tree_root": "middle", "skew": "device", "fp16_per_wavelet": 2,
                      "last_shift": True, "accumulate": "fp16"},
}
# Options that live on the hardware description (every cost reads them from there).
HARDWARE_OPTIONS = ("fp16_per_wavelet", "accumulate")
DEFAULT_PRESET = "full-model"
# Which systems each kernel-level option applies to.
APPLIES = {"tree_root": ("MeshGEMV",), "skew": ("MeshGEMM", "Cannon"),
           "last_shift": ("MeshGEMM",)}


def options(preset: str) -> dict:
    if preset not in PRESETS:
        raise ValueError(f"unknown schedule preset {preset!r}; known: {sorted(PRESETS)}")
    return dict(PRESETS[preset])


def hardware(hw: Hardware, preset: str) -> Hardware:
    """The hardware description with the preset's wavelet packing and accumulate precision,
    except a field the user set through hardware_overrides (theirs wins)."""
    base = HARDWARE.get(hw.name)
    opts = options(preset)
    return replace(hw, **{k: opts[k] for k in HARDWARE_OPTIONS
                          if base is None or getattr(hw, k) == getattr(base, k)})


def note(hw: Hardware) -> str:
    """The accumulate precision a run used, as records say it."""
    return f"@{hw.mac_instruction}: {hw.accumulate} accumulate"


def kernel(system: str, preset: str):
    """meshsim's kernel function for `system` with the preset's options bound."""
    from .meshsim import SYSTEMS

    opts = options(preset)
    kwargs = {k: opts[k] for k, systems in APPLIES.items() if system in systems}
    return partial(SYSTEMS[system], **kwargs)

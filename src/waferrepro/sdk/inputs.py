"""What the Decode and Prefill launchers copy into each core, built with meshsim's own
packing.

Every array is indexed (row, column, ...) by physical core, as `sdk.launch.Session.put`
expects. The weights, cache layout, RoPE tables, head map and cache moves come from
`meshsim.decode` (pack_weights, pack_kv_cache, rope_tables, head_of_kv_position, kv_moves),
and Prefill's from `meshsim.prefill` (pack_weights, rope_tables), so the device gets exactly
what the simulator's functional runs are checked with; the expected output is the NumPy
reference layer's.
"""

from __future__ import annotations

import numpy as np

from ..hardware import Hardware
from ..host import group_size, pad2d
from ..meshsim.decode import kv_moves
from ..meshsim.decode_layout import (
    DecodeLayout,
    head_of_kv_position,
    pack_kv_cache,
    pack_weights,
    rope_tables,
)
from ..meshsim.prefill_layout import PrefillLayout, pack_activations
from ..meshsim.prefill_layout import pack_weights as pack_prefill_weights
from ..meshsim.prefill_layout import rope_tables as prefill_rope_tables
from ..models import Arch
from ..presets import DEFAULT_PRESET, decode_run, prefill_run
from ..reference_layer import layer, random_weights
from .routes import tree_middle
from .toolchain import fp32_accumulate, packed_fabric


def decode_params(a: Arch, px: int, py: int, context: int, mode: str,
                  cap: int | None = None, preset: str = DEFAULT_PRESET,
                  hw: Hardware | None = None) -> dict:
    """The Decode kernel's --params (kernels/Decode/layout.csl) for one step after `context`
    tokens of model `a` under `preset`; cap (tokens a core can hold) defaults to the busiest
    row's after the append. `packed` (two fp16 per wavelet, toolchain.packed_fabric): the
    all-reduces and the KV shift move ceil(n/2) wavelets, as meshsim's Decode charges them
    under the preset; `acc32` (fp32 accumulate, toolchain.fp32_accumulate): the partial sums
    are f32 (@fmachs) and their all-reduces move one f32 per wavelet, unpacked, as meshsim
    charges them at the accumulate width; both from `hw`, the config's hardware, whose
    overrides reach them as they reach meshsim (toolchain.twin_hardware); `tree_middle`
    (1 middle, 0 edge): the y and x trees' roots, the preset's tree_root, as meshsim's
    decode_layer takes it. The layer, cache mode and roots: presets.decode_run, as meshsim's
    Decode job."""
    run = decode_run(a, mode, preset)
    a, mode = run.arch, run.kv
    lay = DecodeLayout(a, px, py)
    cap = cap or int(lay.rows_tokens(context + 1, mode).max())
    return {"width": px, "height": py, "dy": lay.dy, "cq": lay.cq, "ckv": lay.ckv,
            "cf": lay.cf, "rep": lay.rep, "heads": a.heads, "cap": cap,
            "gy": group_size(py, 2), "gx": group_size(px, 2),
            "tree_middle": tree_middle(run.tree_root),
            "packed": int(packed_fabric(preset, hw)),
            "acc32": int(fp32_accumulate(preset, hw))}


def decode_inputs(a: Arch, px: int, py: int, context: int, mode: str, seed: int = 0,
                  cap: int | None = None, preset: str = DEFAULT_PRESET):
    """(per-core arrays by symbol, expected output [hidden]) for decoding token `context`
    of model `a` under `preset` (presets.decode_run), with room for `cap` tokens per core (the
    kernel's; at least what this step needs).

    The same draws as jobs.meshsim.check_decode_functional: weights from `seed`, tokens from
    `seed + 1`.
    """
    cap = cap or decode_params(a, px, py, context, mode, preset=preset)["cap"]
    run = decode_run(a, mode, preset)
    a, mode = run.arch, run.kv
    lay = DecodeLayout(a, px, py)
    w = random_weights(a, seed)
    x = np.random.default_rng(seed + 1).standard_normal((context + 1, a.hidden))
    x = x.astype(np.float16)
    full, k, v = layer(x, w, a, np.arange(context + 1))
    packed = pack_weights(lay, w)
    cache = pack_kv_cache(lay, k[:context], v[:context], mode, cap=cap)
    moves = kv_moves(lay, cache.counts, mode)
    cos, sin = rope_tables(lay, context)

    def along_y(rows):  # (py, n) -> every column of row i holds rows[i]
        return np.broadcast_to(rows[:, None, :], (py, px) + rows.shape[1:])

    def along_x(cols):  # (px, n) -> every row of column j holds cols[j]
        return np.broadcast_to(cols[None, :, :], (py, px) + cols.shape[1:])

    f16 = lambda t: np.ascontiguousarray(t, dtype=np.float16)  # noqa: E731
    width = lay.cq + 2 * lay.ckv
    bqkv = packed.bqkv if packed.bqkv is not None else np.zeros((px, width), np.float32)
    state = np.stack([moves.before, moves.drop, moves.take, moves.append], axis=-1)
    consts = np.array([1.0 / a.hidden, a.eps, 1.0 / np.sqrt(a.head_dim)], dtype=np.float32)
    symbols = {
        "x": f16(along_y(pad2d(x[context][None, :], 1, py * lay.dy).reshape(py, lay.dy))),
        "wqkv": f16(packed.wqkv), "bqkv": f16(along_x(bqkv)), "wo": f16(packed.wo),
        "wgu": f16(packed.wgu), "wd": f16(packed.wd),
        "norm1": f16(along_y(packed.norm1)), "norm2": f16(along_y(packed.norm2)),
        "kcache": f16(cache.k), "vcache": f16(cache.v),
        "rope": f16(along_x(np.concatenate([cos, sin], axis=-1))),
        "head_of": np.ascontiguousarray(along_x(head_of_kv_position(lay)), dtype=np.int16),
        "state": np.ascontiguousarray(along_y(state.astype(np.int16)), dtype=np.int16),
        "consts": np.ascontiguousarray(np.broadcast_to(consts, (py, px, 3))),
    }
    return symbols, full[context]


def prefill_params(a: Arch, p: int, tokens: int, preset: str = DEFAULT_PRESET,
                   hw: Hardware | None = None) -> dict:
    """The Prefill kernel's --params (kernels/Prefill/layout.csl) for a `tokens`-long prompt
    of model `a` on a p x p grid under `preset` (the layer: presets.prefill_run, as meshsim's
    Prefill job): its attention heads; whether keys after the query are masked (`causal`);
    whether its transfers move two fp16 per wavelet (`packed`, as meshsim charges them);
    whether it accumulates in fp32 (`acc32`: @fmachs, f32 accumulators and partial sums, as
    meshsim's Prefill holds them under the preset's `accumulate`); `hw`: as in decode_params;
    the row tree (as meshsim's prefill_layer takes it): `gx` its group size
    (host.group_size(p, levels): p for one level, one chain per side of the whole row) and
    `tree_middle` (1 middle, 0 edge) its roots."""
    run = prefill_run(a, preset)
    a = run.arch
    lay = PrefillLayout(a, p, tokens)
    levels, root = run.row_tree
    return {"P": p, "lt": lay.lt, "dt": lay.dt, "cq": lay.cq, "ckv": lay.ckv, "ft": lay.ft,
            "rep": lay.rep, "heads": a.heads, "kvh": a.kv_heads, "hd": a.head_dim,
            "tokens": tokens, "gx": group_size(p, levels),
            "tree_middle": tree_middle(root), "causal": int(run.causal),
            "packed": int(packed_fabric(preset, hw)),
            "acc32": int(fp32_accumulate(preset, hw))}


def prefill_inputs(a: Arch, p: int, tokens: int, seed: int = 0,
                   preset: str = DEFAULT_PRESET, draws: tuple | None = None):
    """(per-core arrays by symbol, expected output [tokens, hidden]) for one layer of model `a`
    under `preset` over a `tokens`-long prompt: the draws of
    jobs.meshsim.check_prefill_functional (weights from `seed`, the prompt's hidden states
    from `seed + 1`), packed by meshsim.prefill's own functions; the reference masked as the
    preset says. `draws`: (weights, x) to pack instead (inputs a test constructs)."""
    run = prefill_run(a, preset)
    a = run.arch
    lay = PrefillLayout(a, p, tokens)
    if draws is None:
        draws = (random_weights(a, seed), np.random.default_rng(seed + 1).standard_normal(
            (tokens, a.hidden)).astype(np.float16))
    w, x = draws
    ref, _, _ = layer(x, w, a, np.arange(tokens), causal=run.causal)
    packed = pack_prefill_weights(lay, w)
    cos, sin = prefill_rope_tables(lay)
    f16 = lambda t: np.ascontiguousarray(t, dtype=np.float16)  # noqa: E731
    bqkv = (packed.bqkv if packed.bqkv is not None
            else np.zeros((p, p, lay.width), np.float32))
    consts = np.array([1.0 / a.hidden, a.eps, 1.0 / np.sqrt(a.head_dim)], dtype=np.float32)
    symbols = {
        "x": f16(pack_activations(lay, x)),
        "wqkv": f16(packed.wqkv), "bqkv": f16(bqkv), "wo": f16(packed.wo),
        "wgu": f16(packed.wgu), "wd": f16(packed.wd),
        "norm1": f16(packed.norm1), "norm2": f16(packed.norm2),
        "rope": f16(np.stack([cos, sin], axis=2).reshape(p, p, -1)),  # cos tile, sin tile
        "consts": np.ascontiguousarray(np.broadcast_to(consts, (p, p, 3))),
    }
    return symbols, ref

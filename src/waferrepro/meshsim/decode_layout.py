"""Decode's layout: where each value of a decoder layer lives on the px x py grid (the plan
`decode.decode_layer` schedules over, with its memory), and the host-side packing of
weights, the KV cache and RoPE tables into it (what meshsim and the CSL launcher both send).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..host import ceil_even, kv_feature_order, pad2d, q_feature_order, to_tiles
from ..models import Arch
from .fabric import PlanError

KV_MODES = ("shift", "static", "concat")
BYTES = 2  # fp16 per element (weights, KV cache, activations)
# The kernel's fixed tables in 2-byte words: state (4 i16) and consts (3 f32); its per-feature
# ones (RoPE cos|sin, head_of) are counted with ckv.
TABLE_WORDS = 4 + 3 * 2


@dataclass(frozen=True)
class DecodeLayout:
    a: Arch
    px: int
    py: int
    # Bytes of an accumulator value (hw.acc_bits // 8): 2 (fp16) by default, 4 under fp32
    # accumulate (the CSL kernel's acc32: its partial sums f32).
    acc_bytes: int = BYTES
    # Two fp16 per wavelet (fp16_per_wavelet = 2): the kernel pads each odd all-reduced
    # buffer by one element (kernels/Decode/pe_program.csl's *_WIRE) when its partial sums
    # are fp16; f32 ones travel one per wavelet, unpadded (its TREE_PACKED).
    packed: bool = False

    @classmethod
    def on(cls, hw, a: Arch, px: int, py: int) -> DecodeLayout:
        """The plan on hardware `hw` (a Hardware): its accumulate width and wavelet packing."""
        return cls(a, px, py, hw.acc_bits // 8, hw.fp16_per_wavelet == 2)

    def wire(self, n: int) -> int:
        """Elements of an all-reduced buffer of n values: padded to even when the trees pack
        (fp16 partial sums, two per wavelet)."""
        return n + n % 2 if self.packed and self.acc_bytes == BYTES else n

    @property
    def rep(self) -> int:
        return self.a.heads // self.a.kv_heads

    @property
    def ckv(self) -> int:  # K/V features per column (even: RoPE pairs stay together)
        return ceil_even(self.a.kv_dim / self.px)

    @property
    def cq(self) -> int:  # query features per column, grouped under the column's K/V features
        return self.rep * self.ckv

    @property
    def dy(self) -> int:  # hidden values per row
        return math.ceil(self.a.hidden / self.py)

    @property
    def cf(self) -> int:  # FFN values per column
        return math.ceil(self.a.ffn / self.px)

    def rows_tokens(self, tokens: int, mode: str) -> np.ndarray:
        """Cached tokens held by each row (the same on every column): shift and static keep
        them balanced (static: token t on row t mod py), concat all on the last row."""
        if mode == "concat":
            counts = np.zeros(self.py, dtype=np.int64)
            counts[-1] = tokens
            return counts
        base, extra = divmod(tokens, self.py)
        counts = np.full(self.py, base, dtype=np.int64)
        counts[:extra] += 1  # the extra tokens sit on the first rows, so a new token at row 0
        return counts        # moves at most one token across each row boundary

    # Every buffer below is one kernels/Decode/pe_program.csl declares (held to it by
    # tests/test_decode_csl_emulation.py): the all-reduces stream through the line trees
    # (no receive buffers), the scores turn into probabilities in place.
    def weight_elems_per_core(self) -> int:
        """wqkv, the qkv bias (if the model has one), wo, gate|up, down, the norms' gains."""
        w = self.cq + 2 * self.ckv
        return (self.dy * w + w * self.a.qkv_bias + self.cq * self.dy + self.dy * 2 * self.cf
                + self.cf * self.dy + 2 * self.dy)

    def activation_elems_per_core(self, cap: int) -> int:
        """fp16 values that are not all-reduced: x, h, the residual stream and the output;
        the shifted token out and in; RoPE cos|sin, the head map and the other per-step
        tables (in 2-byte words); the kernel's bias vector when the model has none (zeros,
        one for all layers)."""
        return (4 * self.dy + 2 * 2 * self.ckv
                + 2 * self.ckv + self.ckv + TABLE_WORDS
                + (self.cq + 2 * self.ckv) * (1 - self.a.qkv_bias))

    def accumulator_elems_per_core(self, cap: int) -> int:
        """All-reduced values, at the accumulate width (decode.decode_layer all-reduces each at
        hw.acc_bits), each on its padded length: q|k|v; the scores (the probabilities after
        softmax, in place); the softmax max and sum; o; gate|up; the O and down outputs; the
        sum of squares."""
        return (self.cq + 2 * self.ckv + self.wire(self.a.heads * max(cap, 1))
                + 2 * self.wire(self.a.heads) + self.cq + 2 * self.cf + 2 * self.wire(self.dy)
                + self.wire(1))

    def kv_elems_per_token(self) -> int:
        return 2 * self.ckv

    def buffers(self, cap: int, layers: int = 1) -> dict[str, int]:
        """Per-core elements of the decode plan with room for `cap` cached tokens per core:
        what `decode_layer` allocates (layers=1), or with every layer's weights and KV cache
        resident (layers=a.layers; activations are reused layer to layer)."""
        return {"weights (one layer)" if layers == 1 else f"weights ({layers} layers)":
                layers * self.weight_elems_per_core(),
                "KV cache": layers * cap * self.kv_elems_per_token(),
                "activations": self.activation_elems_per_core(cap),
                "accumulators (all-reduced partial sums)": self.accumulator_elems_per_core(cap)}

    def buffer_bytes(self, cap: int, layers: int = 1) -> dict[str, int]:
        """`buffers` in bytes: accumulators at acc_bytes, the rest fp16."""
        return {name: elems * (self.acc_bytes if name.startswith("accumulators") else BYTES)
                for name, elems in self.buffers(cap, layers).items()}

    def bytes_per_core(self, cap: int, layers: int = 1) -> int:
        return sum(self.buffer_bytes(cap, layers).values())

    def max_tokens_per_core(self, sram_bytes: int, layers: int = 1) -> int:
        """Most cached tokens one core can hold beside the plan's other buffers (0: the plan
        does not fit even without a cache). Every per-token buffer counts: K and V and the
        scores (probabilities in place), so `decode_layer` accepts this cap and refuses one
        more."""
        if self.bytes_per_core(1, layers) > sram_bytes:
            return 0
        lo, hi = 1, 2  # bytes grow with cap: find the largest cap that fits by doubling + bisection
        while self.bytes_per_core(hi, layers) <= sram_bytes:
            lo, hi = hi, 2 * hi
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if self.bytes_per_core(mid, layers) <= sram_bytes else (lo, mid)
        return lo

    def max_context(self, sram_bytes: int, mode: str, layers: int = 1) -> int:
        """Longest context (cached tokens, prompt + generated) the grid holds: shift spreads
        and static spread tokens evenly over the py rows, concat keeps them all on the last row."""
        return self.max_tokens_per_core(sram_bytes, layers) * (1 if mode == "concat" else self.py)


@dataclass
class HostWeights:
    """Weights packed into per-core tiles in the wafer layout (shared with SDK launchers)."""
    wqkv: np.ndarray  # (py, px, dy, cq + 2 ckv)
    bqkv: np.ndarray | None  # (px, cq + 2 ckv)
    wo: np.ndarray  # (py, px, cq, dy)
    wgu: np.ndarray  # (py, px, dy, 2 cf)
    wd: np.ndarray  # (py, px, cf, dy)
    norm1: np.ndarray  # (py, dy)
    norm2: np.ndarray


def pack_weights(lay: DecodeLayout, w) -> HostWeights:
    a = lay.a
    pq, pkv = q_feature_order(a.heads, a.kv_heads, a.head_dim), kv_feature_order(a.kv_heads,
                                                                                 a.head_dim)
    f32 = lambda m: np.asarray(m, dtype=np.float32)  # noqa: E731
    H, Q, KV = lay.py * lay.dy, lay.px * lay.cq, lay.px * lay.ckv

    def cols(m, perm, width):
        return pad2d(f32(m)[:, perm], H, width)

    wq, wk, wv = cols(w.wq, pq, Q), cols(w.wk, pkv, KV), cols(w.wv, pkv, KV)
    wqkv = np.concatenate([to_tiles(wq, lay.py, lay.px), to_tiles(wk, lay.py, lay.px),
                           to_tiles(wv, lay.py, lay.px)], axis=-1)
    bqkv = None
    if w.bq is not None:
        vec = lambda b, perm, n: pad2d(f32(b)[perm][None, :], 1, n).reshape(lay.px, -1)  # noqa
        bqkv = np.concatenate([vec(w.bq, pq, Q), vec(w.bk, pkv, KV), vec(w.bv, pkv, KV)], -1)
    wo = to_tiles(pad2d(f32(w.wo)[pq, :], Q, H), lay.px, lay.py).swapaxes(0, 1)
    wg = to_tiles(pad2d(f32(w.wg), H, lay.px * lay.cf), lay.py, lay.px)
    wu = to_tiles(pad2d(f32(w.wu), H, lay.px * lay.cf), lay.py, lay.px)
    wd = to_tiles(pad2d(f32(w.wd), lay.px * lay.cf, H), lay.px, lay.py).swapaxes(0, 1)
    norm = lambda g: pad2d(f32(g)[None, :], 1, H).reshape(lay.py, lay.dy)  # noqa: E731
    return HostWeights(wqkv, bqkv, wo, np.concatenate([wg, wu], -1), wd, norm(w.norm1),
                       norm(w.norm2))


@dataclass
class KVCache:
    """Per-core cached K and V slices: (py, px, cap, ckv) each, rows hold counts[i] tokens,
    oldest first. In cycle-model mode only `counts` is kept."""
    counts: np.ndarray
    k: np.ndarray | None = None
    v: np.ndarray | None = None


def pack_kv_cache(lay: DecodeLayout, k, v, mode: str, cap: int) -> KVCache:
    """Lay out rotated K and V of earlier tokens [T, kv_dim] (oldest first) on the grid."""
    a = lay.a
    pkv = kv_feature_order(a.kv_heads, a.head_dim)
    T = k.shape[0]
    counts = lay.rows_tokens(T, mode)
    if counts.max() > cap:
        raise PlanError(f"KV cache capacity {cap} tokens per core < {counts.max()} needed")
    out = []
    for m in (k, v):
        m = pad2d(np.asarray(m, dtype=np.float32)[:, pkv], T, lay.px * lay.ckv)
        m = m.reshape(T, lay.px, lay.ckv)
        arr = np.zeros((lay.py, lay.px, cap, lay.ckv), dtype=np.float32)
        if mode == "static":  # token t was written on row t mod py and stayed there
            for row in range(lay.py):
                arr[row, :, :counts[row]] = m[row::lay.py].transpose(1, 0, 2)
            out.append(arr)
            continue
        # Oldest tokens on the last rows: row py-1 takes the first counts[-1] tokens, ...
        start = 0
        for row in range(lay.py - 1, -1, -1):
            n = counts[row]
            arr[row, :, :n] = m[start:start + n].transpose(1, 0, 2)
            start += n
        out.append(arr)
    return KVCache(counts, *out)


def rope_tables(lay: DecodeLayout, pos: int):
    """cos/sin per K/V position of each column, and which element of its pair it is."""
    a = lay.a
    pkv = kv_feature_order(a.kv_heads, a.head_dim)
    e = np.zeros(lay.px * lay.ckv, dtype=np.int64)
    e[: a.kv_dim] = pkv % a.head_dim
    m = e % (a.head_dim // 2)
    inv_freq = a.rope_theta ** (-2.0 * m / a.head_dim)
    ang = pos * inv_freq
    return np.cos(ang).reshape(lay.px, lay.ckv), np.sin(ang).reshape(lay.px, lay.ckv)


def head_of_kv_position(lay: DecodeLayout) -> np.ndarray:
    """The K/V head of each K/V position of each column, (px, ckv)."""
    a = lay.a
    g = np.zeros(lay.px * lay.ckv, dtype=np.int64)
    g[: a.kv_dim] = kv_feature_order(a.kv_heads, a.head_dim) // a.head_dim
    return g.reshape(lay.px, lay.ckv)

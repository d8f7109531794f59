"""Prefill's layout: where the activations, weights and per-core tables of a decoder layer
live on the p x p grid (the plan `prefill.prefill_layer` schedules over), and the host-side
packing into it (what meshsim and the CSL launcher both send).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..host import (
    ceil_even,
    column_skewed,
    from_tiles,
    kv_feature_order,
    pad2d,
    place,
    q_feature_order,
    ring_order,
    row_skewed,
    stationary_placement,
    to_tiles,
    unplace,
)
from ..models import Arch

INTERLEAVED = True  # MeshGEMM's ring placement


@dataclass(frozen=True)
class PrefillLayout:
    a: Arch
    p: int
    tokens: int
    packed: bool = False  # transfers two fp16 per wavelet: odd lengths take a pad element
    acc32: bool = False  # accumulates in fp32: the all-reduced accumulators travel unpacked

    @classmethod
    def on(cls, hw, a: Arch, p: int, tokens: int) -> PrefillLayout:
        """The plan on hardware `hw` (a Hardware): its wavelet packing and accumulate width
        (as DecodeLayout.on)."""
        return cls(a, p, tokens, hw.fp16_per_wavelet == 2, hw.acc_bits == 32)

    @property
    def rep(self) -> int:
        return self.a.heads // self.a.kv_heads

    @property
    def lt(self) -> int:  # tokens per block
        return math.ceil(self.tokens / self.p)

    @property
    def dt(self) -> int:  # hidden features per block
        return math.ceil(self.a.hidden / self.p)

    @property
    def ckv(self) -> int:
        return ceil_even(self.a.kv_dim / self.p)

    @property
    def cq(self) -> int:
        return self.rep * self.ckv

    @property
    def ft(self) -> int:
        return math.ceil(self.a.ffn / self.p)

    @property
    def width(self) -> int:  # the fused q|k|v output per block
        return self.cq + 2 * self.ckv

    def wire(self, n: int) -> int:
        """Elements a buffer sent whole holds: packed, an odd length takes one pad element
        (kernels/Prefill's *_WIRE; only four lengths can be odd: see pe_program.csl)."""
        return n + n % 2 if self.packed else n

    def tree_wire(self, n: int) -> int:
        """Elements of a row all-reduced accumulator (sums of squares, softmax max and sum):
        f32 ones (acc32) travel one per wavelet and take no pad (pe_program.csl's
        TREE_PACKED); fp16 ones as any packed transfer (`wire`)."""
        return n if self.acc32 else self.wire(n)

    def weight_elems_per_core(self) -> int:
        return (self.dt * self.width + self.cq * self.dt + self.dt * 2 * self.ft
                + self.wire(self.ft * self.dt) + 2 * self.dt)

    def buffer_elems_per_core(self) -> int:
        """kernels/Prefill's buffers, one for one (pe_program.csl's memory section)."""
        lt, dt, cq, ckv, hl = self.lt, self.dt, self.cq, self.ckv, self.a.heads * self.lt
        widest_weight = max(dt * self.width, cq * dt, dt * 2 * self.ft,
                            self.wire(self.ft * dt))
        widest_out = max(self.width, 2 * self.ft)
        return (widest_weight  # receive buffer of the moving weight tile
                + 4 * lt * dt  # x (only read), residual stream, normalized x, a GEMM output
                + 3 * lt * widest_out  # activation-stationary: two products, the arriving partial
                + 2 * max(lt * cq, self.wire(lt * self.ft))  # Cannon's moving A (x2)
                + 2 * lt * 2 * ckv  # K|V and its receive buffer
                + hl * lt + 2 * self.tree_wire(hl)  # scores, max, sum
                + self.width + 2 * lt * ckv + self.tree_wire(lt))  # bias, RoPE, sums of squares

    def accumulator_elems_per_core(self) -> int:
        """The part of buffer_elems_per_core holding partial sums (the accumulate width): the
        activation-stationary products and arriving partial, a Cannon GEMM's output, the
        scores, their max and sum (the max of accumulate-width scores, all-reduced at that
        width as prefill_layer charges it) and the sums of squares: kernels/Prefill's acc_t
        arrays."""
        lt, hl = self.lt, self.a.heads * self.lt
        return (3 * lt * max(self.width, 2 * self.ft) + lt * self.dt
                + hl * lt + 2 * self.tree_wire(hl) + self.tree_wire(lt))


@dataclass
class PrefillWeights:
    """Host-side packing, per physical core: weights placed for their GEMM form."""
    wqkv: np.ndarray  # (p, p, dt, width) activation-stationary placement
    bqkv: np.ndarray | None  # (p, p, width) R layout (block i + c on core (i, c))
    wo: np.ndarray  # (p, p, cq, dt) Cannon B, one position back
    wgu: np.ndarray  # (p, p, dt, 2 ft) activation-stationary placement
    wd: np.ndarray  # (p, p, ft, dt) Cannon B
    norm1: np.ndarray  # (p, p, dt) N layout
    norm2: np.ndarray


def pack_weights(lay: PrefillLayout, w) -> PrefillWeights:
    a, p = lay.a, lay.p
    order = ring_order(p, INTERLEAVED)
    phys = lambda t: place(t, order, order)  # noqa: E731
    pq, pkv = q_feature_order(a.heads, a.kv_heads, a.head_dim), kv_feature_order(a.kv_heads,
                                                                                 a.head_dim)
    f32 = lambda m: np.asarray(m, dtype=np.float32)  # noqa: E731
    H, Q, KV, F = p * lay.dt, p * lay.cq, p * lay.ckv, p * lay.ft

    def tiles(m, rows, cols):
        return to_tiles(pad2d(m, rows, cols), p, p)

    def per_block(vec, n):  # a vector cut into p blocks: (p, n / p)
        return pad2d(vec[None, :], 1, n).reshape(p, -1)

    wqkv = np.concatenate([tiles(f32(w.wq)[:, pq], H, Q), tiles(f32(w.wk)[:, pkv], H, KV),
                           tiles(f32(w.wv)[:, pkv], H, KV)], axis=-1)
    bqkv = None
    if w.bq is not None:
        blocks = np.concatenate([per_block(f32(w.bq)[pq], Q), per_block(f32(w.bk)[pkv], KV),
                                 per_block(f32(w.bv)[pkv], KV)], -1)  # (p, width)
        bqkv = phys(row_skewed(np.broadcast_to(blocks[None], (p,) + blocks.shape)))
    wgu = np.concatenate([tiles(f32(w.wg), H, F), tiles(f32(w.wu), H, F)], axis=-1)

    def norm(g):
        blocks = per_block(f32(g), H)
        return phys(np.ascontiguousarray(np.broadcast_to(blocks[None], (p,) + blocks.shape)))

    return PrefillWeights(phys(stationary_placement(wqkv)), bqkv,
                          phys(column_skewed(tiles(f32(w.wo)[pq, :], Q, H), -1)),
                          phys(stationary_placement(wgu)),
                          phys(column_skewed(tiles(f32(w.wd), F, H))), norm(w.norm1),
                          norm(w.norm2))


def pack_activations(lay: PrefillLayout, x) -> np.ndarray:
    """The prompt's hidden states [tokens, hidden] as per-core tiles (p, p, lt, dt) in the
    natural layout, placed on the rings: what the layer reads and overwrites."""
    p = lay.p
    order = ring_order(p, INTERLEAVED)
    return place(to_tiles(pad2d(np.asarray(x, np.float32), p * lay.lt, p * lay.dt), p, p),
                 order, order)


def unpack_activations(tiles: np.ndarray, a: Arch, tokens: int) -> np.ndarray:
    """The inverse of pack_activations: [tokens, hidden] from the per-core tiles."""
    order = ring_order(tiles.shape[0], INTERLEAVED)
    return from_tiles(unplace(tiles, order, order), tokens, a.hidden)


def rope_tables(lay: PrefillLayout) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin per core in the R layout of q|k|v: (p, p, lt, ckv) by physical core, core
    (i, c) holding its tokens' angles for K/V feature block i + c."""
    a, p = lay.a, lay.p
    e = np.zeros(p * lay.ckv, dtype=np.int64)
    e[: a.kv_dim] = kv_feature_order(a.kv_heads, a.head_dim) % a.head_dim
    inv_freq = a.rope_theta ** (-2.0 * (e % (a.head_dim // 2)) / a.head_dim)
    ang = np.arange(p * lay.lt)[:, None] * inv_freq[None, :]
    order = ring_order(p, INTERLEAVED)
    return tuple(place(row_skewed(to_tiles(t, p, p)), order, order)
                 for t in (np.cos(ang), np.sin(ang)))


def kv_head_of_feature(lay: PrefillLayout) -> np.ndarray:
    """(p, ckv): the K/V head of each feature of each K/V feature block (padding: head 0,
    whose padded features are zero)."""
    a = lay.a
    flat = np.zeros(lay.p * lay.ckv, dtype=np.int64)
    flat[: a.kv_dim] = kv_feature_order(a.kv_heads, a.head_dim) // a.head_dim
    return flat.reshape(lay.p, lay.ckv)

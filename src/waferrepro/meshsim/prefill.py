"""Prefill: a whole prompt through one decoder layer on a p x p grid (paper section 5).

Layout: activations [tokens, features] are tiled p x p, token block i on grid row i and
feature block j on grid column j (natural layout), placed on the interleaved rings of
MeshGEMM. Q/K/V features use the decode layout's orders (RoPE pairs adjacent, queries grouped
under their K/V feature), so RoPE is local and GQA needs no copies of K or V.

Per layer:
- RMSNorm: local sums of squares, all-reduce along x, local scale.
- Projections (QKV fused, O, gate|up fused, down): MeshGEMM. Weights are pre-skewed on the
  host; an activation operand is skewed on the wafer (its own communication step).
- Scores S_h = Q_h K_h^T: K's tile grid is transposed once (dimension-order routing, cost
  charged), then Cannon with one accumulator per head on each core: operands move exactly as
  in one folded GEMM, while every head keeps its own scores (nothing is folded numerically).
- Causal mask and softmax: local, with max and sum all-reduced along x.
- P x V: P stays on its core (h tiles each); V (grid-transposed once) moves along columns and
  the partial outputs along rows, so no per-head tile ever travels. The partials end one ring
  position short of the O projection's pre-skew; one more shift aligns them.

We have not seen the paper's own prefill dataflow at this level of detail; where it differs
(e.g. its "transpose-free" Q K^T), the transposes and skews here are charged in full under
their own labels, so their share is visible in the timeline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..hardware import Hardware
from ..host import (cannon_preskew, ceil_even, kv_feature_order, pad2d, place, q_feature_order,
                    ring_order, to_tiles, unplace)
from ..models import Arch
from .comm import all_reduce, ring_shift, skew, transpose_grid
from .fabric import Fabric
from .gemm import cannon_loop

INTERLEAVED = True  # MeshGEMM's ring placement


@dataclass(frozen=True)
class PrefillLayout:
    a: Arch
    p: int
    tokens: int

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

    def weight_elems_per_core(self) -> int:
        return (self.dt * (self.cq + 2 * self.ckv) + self.cq * self.dt + self.dt * 2 * self.ft
                + self.ft * self.dt + 2 * self.dt)

    def buffer_elems_per_core(self) -> int:
        lt, dt = self.lt, self.dt
        widest_weight = max(self.dt * (self.cq + 2 * self.ckv), self.dt * 2 * self.ft)
        return (widest_weight  # receive buffer of the moving weight tile
                + 3 * lt * dt  # x, normalized x (and its receive buffer)
                + lt * (self.cq + 2 * self.ckv)  # q|k|v
                + 2 * self.ckv * lt  # K^T and V tiles in flight
                + self.a.heads * lt * lt  # per-head scores / probabilities
                + 2 * lt * self.cq  # attention output partials (double buffer)
                + 2 * lt * 2 * self.ft)  # gate|up and the activated product


@dataclass
class PrefillWeights:
    """Host-side packing: weight tiles pre-skewed for Cannon and placed on the rings."""
    wqkv: np.ndarray  # (p, p, dt, cq + 2 ckv)
    bqkv: np.ndarray | None  # (p, cq + 2 ckv) per column block
    wo: np.ndarray  # (p, p, cq, dt)
    wgu: np.ndarray  # (p, p, dt, 2 ft)
    wd: np.ndarray  # (p, p, ft, dt)
    norm1: np.ndarray  # (p, dt) per column block
    norm2: np.ndarray


def _b_operand(tiles: np.ndarray, order) -> np.ndarray:
    """Pre-skew a weight (B) tile array as Cannon needs and place it on the rings."""
    _, b = cannon_preskew(tiles, tiles)
    return place(b, order, order)


def pack_weights(lay: PrefillLayout, w) -> PrefillWeights:
    a, p = lay.a, lay.p
    order = ring_order(p, INTERLEAVED)
    pq, pkv = q_feature_order(a.heads, a.kv_heads, a.head_dim), kv_feature_order(a.kv_heads,
                                                                                 a.head_dim)
    f32 = lambda m: np.asarray(m, dtype=np.float32)  # noqa: E731
    H, Q, KV, F = p * lay.dt, p * lay.cq, p * lay.ckv, p * lay.ft

    def tiles(m, rows, cols):
        return to_tiles(pad2d(m, rows, cols), p, p)

    wqkv = np.concatenate([tiles(f32(w.wq)[:, pq], H, Q), tiles(f32(w.wk)[:, pkv], H, KV),
                           tiles(f32(w.wv)[:, pkv], H, KV)], axis=-1)
    bqkv = None
    if w.bq is not None:
        vec = lambda b, perm, n: pad2d(f32(b)[perm][None, :], 1, n).reshape(p, -1)  # noqa
        bqkv = np.concatenate([vec(w.bq, pq, Q), vec(w.bk, pkv, KV), vec(w.bv, pkv, KV)], -1)
    wgu = np.concatenate([tiles(f32(w.wg), H, F), tiles(f32(w.wu), H, F)], axis=-1)
    norm = lambda g: pad2d(f32(g)[None, :], 1, H).reshape(p, lay.dt)  # noqa: E731
    return PrefillWeights(_b_operand(wqkv, order), bqkv,
                          _b_operand(tiles(f32(w.wo)[pq, :], Q, H), order),
                          _b_operand(wgu, order), _b_operand(tiles(f32(w.wd), F, H), order),
                          norm(w.norm1), norm(w.norm2))


def _rope_tables(lay: PrefillLayout):
    """cos/sin per (token, K/V position): shapes (p*lt, p*ckv)."""
    a = lay.a
    e = np.zeros(lay.p * lay.ckv, dtype=np.int64)
    e[: a.kv_dim] = kv_feature_order(a.kv_heads, a.head_dim) % a.head_dim
    inv_freq = a.rope_theta ** (-2.0 * (e % (a.head_dim // 2)) / a.head_dim)
    ang = np.arange(lay.p * lay.lt)[:, None] * inv_freq[None, :]
    return np.cos(ang), np.sin(ang)


def _rotate_pairs(vals, cos, sin):
    out = np.empty_like(vals)
    a, b = vals[..., 0::2], vals[..., 1::2]
    c, s = cos[..., 0::2], sin[..., 0::2]
    out[..., 0::2], out[..., 1::2] = a * c - b * s, b * c + a * s
    return out


def prefill_layer(hw: Hardware, a: Arch, p: int, tokens: int, weights: PrefillWeights | None = None,
                  x=None, tree_levels: int = 2):
    """One layer over a `tokens`-long prompt. Functional when weights and x are given.

    Returns (fabric, output [tokens, hidden] or None).
    """
    lay = PrefillLayout(a, p, tokens)
    functional = weights is not None
    fab = Fabric(hw, p, p, functional=functional)
    fab.alloc("weights (one layer)", lay.weight_elems_per_core())
    fab.alloc("activations and receive buffers", lay.buffer_elems_per_core())
    fab.use_colors("Cannon ring shifts (A on x, B on y; 4 each, see gemm.run_cannon)", 8)
    fab.use_colors("all-reduce along x (2 per level + broadcast)", 2 * tree_levels + 1)
    # A lower bound: static routes cannot do a grid transpose on two colors
    # (tests/test_csl_routes.py::test_grid_transpose_needs_more_than_two_static_colors).
    fab.use_colors("transpose (X then Y)", 2)
    tl = fab.timeline
    order = ring_order(p, INTERLEAVED)
    lidx = np.argsort(order)  # logical index of each physical position
    lt, dt, cq, ckv, ft, rep = lay.lt, lay.dt, lay.cq, lay.ckv, lay.ft, lay.rep

    def phys(tiles):  # logical tile array -> physical placement
        return place(tiles, order, order)

    def logical(tiles):
        return unplace(tiles, order, order)

    def rms_norm(xv, gain, label):
        tl.add(f"{label}: local sums of squares", compute=fab.compute_cycles(lt * dt))
        ss = None if xv is None else (xv * xv).sum(-1)  # (p, p, lt)
        ss, cycles, _ = all_reduce(fab, ss, "x", lt, tree_levels)
        tl.add(f"{label}: all-reduce (x)", comm=cycles)
        tl.add(f"{label}: scale", compute=fab.elementwise_cycles(lt * dt, 2, 0)
               + fab.elementwise_cycles(lt, 1, 1))
        if xv is None:
            return None
        g = phys(np.broadcast_to(gain[None, :, None, :], (p, p, 1, dt)))
        return xv / np.sqrt(ss[..., None] / a.hidden + a.eps) * g

    def matmul(act, w_tiles, k_elems, n_elems, label, skew_a=True):
        """MeshGEMM of an activation (natural layout, skewed here) by pre-skewed weights."""
        if skew_a:
            act, cycles = skew(fab, act, "x", lt * k_elems, INTERLEAVED)
            tl.add(f"{label}: skew activations (x)", comm=cycles)
        out = None if act is None else np.zeros((p, p, lt, n_elems), dtype=np.float32)
        return cannon_loop(fab, act, None if act is None else w_tiles.copy(), out,
                           fab.compute_cycles(lt * k_elems * n_elems), lt * k_elems,
                           k_elems * n_elems, INTERLEAVED, label=label)

    xv = None
    if functional:
        xt = to_tiles(pad2d(np.asarray(x, np.float32), p * lt, p * dt), p, p)
        xv = phys(xt)

    # Attention block.
    h = rms_norm(xv, None if not functional else weights.norm1, "rmsnorm 1")
    width = cq + 2 * ckv
    qkv = matmul(h, None if not functional else weights.wqkv, dt, width, "QKV MeshGEMM")
    tl.add("bias + RoPE", compute=fab.elementwise_cycles(lt * width, 1, 0)
           + fab.elementwise_cycles(lt * (cq + ckv), 3, 1))
    if functional:
        if weights.bqkv is not None:
            qkv = qkv + phys(np.broadcast_to(weights.bqkv[None, :, None, :], (p, p, 1, width)))
        cos, sin = _rope_tables(lay)
        cos_t, sin_t = phys(to_tiles(cos, p, p)), phys(to_tiles(sin, p, p))  # (p,p,lt,ckv)
        q = qkv[..., :cq].reshape(p, p, lt, ckv, rep)
        q = _rotate_pairs(q.swapaxes(-1, -2), cos_t[..., None, :], sin_t[..., None, :])
        q = q.swapaxes(-1, -2).reshape(p, p, lt, cq)
        k = _rotate_pairs(qkv[..., cq:cq + ckv], cos_t, sin_t)
        v = qkv[..., cq + ckv:]
    else:
        q = k = v = None

    # Scores: K^T by one grid transpose, then Cannon with per-head accumulators.
    kt, cycles = transpose_grid(fab, k, lt * ckv)  # core (j, i) now holds K(i, j)^T
    tl.add("K grid transpose", comm=cycles)
    kt, cycles = skew(fab, kt, "y", ckv * lt, INTERLEAVED)
    q_s, cycles_q = skew(fab, q, "x", lt * cq, INTERLEAVED)
    tl.add("scores: skew Q (x) || K^T (y)", comm=max(cycles, cycles_q))
    scores = None
    group_of = np.zeros((p, ckv), dtype=np.int64)  # K/V feature block -> kv head per position
    flat = np.zeros(p * ckv, dtype=np.int64)
    flat[: a.kv_dim] = kv_feature_order(a.kv_heads, a.head_dim) // a.head_dim
    group_of[:] = flat.reshape(p, ckv)
    onehot = (group_of[..., None] == np.arange(a.kv_heads)).astype(np.float32)  # (p, ckv, g)
    li, lj = np.meshgrid(lidx, lidx, indexing="ij")  # logical row/col of each physical core

    def scores_mac(qa, kb, acc, step):
        kblock = (li + lj + step) % p  # the feature block both operands hold now
        oh = onehot[kblock]  # (p, p, ckv, g)
        qg = qa.reshape(p, p, lt, ckv, rep)
        acc += np.einsum("ijaer,ijeb,ijeg->ijgrab", qg, kb, oh).reshape(acc.shape)

    if functional:
        scores = np.zeros((p, p, a.heads, lt, lt), dtype=np.float32)
    scores = cannon_loop(fab, q_s, kt, scores, fab.compute_cycles(lt * cq * lt), lt * cq,
                         ckv * lt, INTERLEAVED, mac=scores_mac, label="scores Cannon")

    # Causal mask and softmax along the keys (a row of the grid).
    hl = a.heads * lt
    tl.add("softmax: mask, scale, local max", compute=fab.elementwise_cycles(hl * lt, 2, 0))
    if functional:
        qpos = (li[..., None] * lt + np.arange(lt))[..., None, :, None]  # (p,p,1,lt,1)
        kpos = (lj[..., None] * lt + np.arange(lt))[..., None, None, :]
        masked = (kpos > qpos) | (kpos >= tokens)
        scores = np.where(masked, -np.inf, scores / np.sqrt(a.head_dim))
        local = scores.max(-1)
    else:
        local = None
    gmax, cycles, _ = all_reduce(fab, local, "x", hl, tree_levels, op="max")
    tl.add("softmax: max all-reduce (x)", comm=cycles)
    tl.add("softmax: exp, local sum", compute=fab.elementwise_cycles(hl * lt, 2, 1))
    e = None if not functional else np.exp(scores - gmax[..., None])
    gsum, cycles, _ = all_reduce(fab, None if e is None else e.sum(-1), "x", hl, tree_levels)
    tl.add("softmax: sum all-reduce (x)", comm=cycles)
    tl.add("softmax: normalize", compute=fab.elementwise_cycles(hl, 0, 1)
           + fab.elementwise_cycles(hl * lt, 1, 0))
    probs = None if e is None else e / gsum[..., None]  # (p, p, heads, lt, lt)

    # P x V: P stationary, V (grid-transposed, then skewed along y) moves up the columns,
    # the output partials move left along the rows.
    vt, cycles = transpose_grid(fab, v, lt * ckv, transpose_tiles=False)
    tl.add("V grid transpose", comm=cycles)
    vt, cycles = skew(fab, vt, "y", lt * ckv, INTERLEAVED)
    tl.add("P x V: skew V (y)", comm=cycles)
    o = None if not functional else np.zeros((p, p, lt, cq), dtype=np.float32)
    compute = fab.compute_cycles(lt * lt * cq)
    for step in range(p):
        if functional:
            nblock = (li + lj + step) % p  # the output feature block held now
            oh = onehot[nblock]  # (p, p, ckv, g)
            pg = probs.reshape(p, p, a.kv_heads, rep, lt, lt)
            o += np.einsum("ijgrab,ijbe,ijeg->ijaer", pg, vt, oh).reshape(o.shape)
        o, shift_o = ring_shift(fab, o, "x", lt * cq, INTERLEAVED)
        if step < p - 1:
            vt, shift_v = ring_shift(fab, vt, "y", lt * ckv, INTERLEAVED)
            # V for the next step arrives during the compute; the partial leaves after it.
            tl.add("P x V: step (compute || V shift, then output shift)",
                   compute=compute, comm=max(0.0, shift_v - compute) + shift_o)
        else:
            tl.add("P x V: last step (compute, then the aligning shift)", compute=compute,
                   comm=shift_o)

    # Output projection: the partials are already pre-skewed for it.
    attn = matmul(o, None if not functional else weights.wo, cq, dt, "O MeshGEMM",
                  skew_a=False)
    tl.add("residual", compute=fab.elementwise_cycles(lt * dt, 1, 0))
    xv = None if xv is None else xv + attn

    # FFN block.
    h = rms_norm(xv, None if not functional else weights.norm2, "rmsnorm 2")
    gu = matmul(h, None if not functional else weights.wgu, dt, 2 * ft, "gate|up MeshGEMM")
    tl.add("SiLU x up", compute=fab.elementwise_cycles(lt * ft, 3, 1))
    act = None if gu is None else gu[..., :ft] / (1 + np.exp(-gu[..., :ft])) * gu[..., ft:]
    down = matmul(act, None if not functional else weights.wd, ft, dt, "down MeshGEMM")
    tl.add("residual", compute=fab.elementwise_cycles(lt * dt, 1, 0))
    if not functional:
        return fab, None
    out = logical(xv + down)
    return fab, out.swapaxes(1, 2).reshape(p * lt, p * dt)[:tokens, : a.hidden]

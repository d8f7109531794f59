"""Prefill: a whole prompt through one decoder layer on a p x p grid (paper section 5).

Activations [tokens, features] are tiled p x p, token block i on grid row i, placed on the
interleaved rings of MeshGEMM. Two layouts, in logical coordinates (indices mod p):
  N (natural):     core (i, c) holds X(i, c);
  R (row-skewed):  core (i, c) holds X(i, i + c), Cannon's A alignment.
The GEMMs alternate between two forms of MeshGEMM, so no activation is skewed on the wafer:
  - activation-stationary (gemm.stationary_loop), N -> R: A stays, the pre-placed weights
    move up the columns and the partial outputs left along the rows;
  - Cannon (gemm.cannon_loop), R -> N: A moves left, the pre-skewed weights up.
Q/K/V features use the decode layout's orders (RoPE pairs adjacent, queries grouped under their
K/V feature), so RoPE is local and GQA needs no copies of K or V.

Per layer (and, phase for phase, kernels/Prefill):
- x (N); RMSNorm: local sums of squares, all-reduce along x, local scale.
- QKV, activation-stationary: q|k|v in R. Bias and RoPE: local (per-core tables).
- K|V into the scores' placement, core (r, c) holding K(-c, r + c) and V(-c, r + c), by
  three shears (columns rotate by -c, rows by r, columns by c) made of ring shifts: a grid
  transpose is not routable on static colors, shears are (tests/test_csl_routes.py).
- Scores S_h = Q_h K_h^T: Cannon, Q (R) moving along x and K along y, one accumulator per
  head on each core (operands move as in one folded GEMM; numerics stay per head). Core (i, c)
  ends with S(i, -c): key blocks run backwards along the row.
- Causal mask and softmax: local, with max and sum all-reduced along x.
- P x V, activation-stationary: P stays (no per-head tile ever travels), V moves up the
  columns, the partial outputs left; core (i, c) ends with O(i, i + c - 1).
- O projection, Cannon: its weights are pre-skewed one position back to absorb that offset;
  output N; residual.
- RMSNorm; gate|up, activation-stationary (R); SiLU x up; down, Cannon (N); residual.
We have not seen the paper's own prefill dataflow at this level of detail: this one is ours,
transpose-free and skew-free for activations; the K|V shears are charged under their own
labels (3 (p-1) ring shifts of a thin tile).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..hardware import Hardware
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
from .comm import all_reduce, shear
from .fabric import Fabric
from .gemm import cannon_loop, stationary_loop

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

    @property
    def width(self) -> int:  # the fused q|k|v output per block
        return self.cq + 2 * self.ckv

    def weight_elems_per_core(self) -> int:
        return (self.dt * self.width + self.cq * self.dt + self.dt * 2 * self.ft
                + self.ft * self.dt + 2 * self.dt)

    def buffer_elems_per_core(self) -> int:
        """kernels/Prefill's buffers, one for one (pe_program.csl's memory section)."""
        lt, dt, cq, ckv = self.lt, self.dt, self.cq, self.ckv
        widest_weight = max(dt * self.width, cq * dt, dt * 2 * self.ft, self.ft * dt)
        widest_out = max(self.width, 2 * self.ft)
        return (widest_weight  # receive buffer of the moving weight tile
                + 3 * lt * dt  # x, normalized x, a GEMM's natural output
                + 3 * lt * widest_out  # activation-stationary: two products, the arriving partial
                + 2 * lt * max(cq, self.ft)  # Cannon's moving A (double buffer)
                + 2 * lt * 2 * ckv  # K|V and its receive buffer
                + self.a.heads * lt * lt + 2 * self.a.heads * lt  # scores, max, sum
                + self.width + 2 * lt * ckv + lt)  # bias, RoPE cos|sin, sums of squares


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


KV_SHEARS = (("y", -1), ("x", 1), ("y", 1))
"""K|V from R into the scores' placement: (axis, sign): each line with logical index l
rotates by sign * l ring positions. (i, c) -> (i + c, c) -> (i + c, -i) -> (2i + c, -i): the
tile K(i, i + c) lands on core (2i + c, -i), i.e. core (r, c) ends with K(-c, r + c)."""


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
    fab.use_colors("MeshGEMM ring shifts (x and y; 4 each, see gemm.run_cannon)", 8)
    fab.use_colors("all-reduce along x (2 per level + broadcast)", 2 * tree_levels + 1)
    tl = fab.timeline
    order = ring_order(p, INTERLEAVED)
    lidx = np.argsort(order)  # logical index of each physical position
    li, lc = np.meshgrid(lidx, lidx, indexing="ij")  # logical row/col of each physical core
    lt, dt, cq, ckv, ft, rep, width = lay.lt, lay.dt, lay.cq, lay.ckv, lay.ft, lay.rep, lay.width

    def rms_norm(xv, gain, label):
        tl.add(f"{label}: local sums of squares", compute=fab.matmul_cycles(lt, dt, 1, "fmacs"))
        ss = None if xv is None else (xv * xv).sum(-1)  # (p, p, lt)
        ss, cycles, _ = all_reduce(fab, ss, "x", lt, tree_levels)
        tl.add(f"{label}: all-reduce (x)", comm=cycles)
        tl.add(f"{label}: scale", compute=fab.elementwise_cycles(lt * dt, 2, 0)
               + fab.elementwise_cycles(lt, 1, 1))
        if xv is None:
            return None
        return xv / np.sqrt(ss[..., None] / a.hidden + a.eps) * gain[:, :, None, :]

    def stationary(act, w_tiles, k_elems, n_elems, label):
        """Activation-stationary MeshGEMM: act in N, output in R."""
        acc = None if act is None else np.zeros((p, p, lt, n_elems), dtype=np.float32)
        return stationary_loop(fab, act, None if act is None else w_tiles.copy(), acc,
                               fab.matmul_cycles(lt, k_elems, n_elems), k_elems * n_elems,
                               lt * n_elems, INTERLEAVED, label=label)

    def cannon(act, w_tiles, k_elems, n_elems, label):
        """Cannon MeshGEMM: act in R (moving), output in N."""
        out = None if act is None else np.zeros((p, p, lt, n_elems), dtype=np.float32)
        return cannon_loop(fab, act, None if act is None else w_tiles.copy(), out,
                           fab.matmul_cycles(lt, k_elems, n_elems), lt * k_elems,
                           k_elems * n_elems, INTERLEAVED, label=label)

    xv = None if not functional else pack_activations(lay, x)

    # Attention block.
    h = rms_norm(xv, None if not functional else weights.norm1, "rmsnorm 1")
    qkv = stationary(h, None if not functional else weights.wqkv, dt, width, "QKV MeshGEMM")
    tl.add("bias + RoPE", compute=fab.elementwise_cycles(lt * width, 1, 0)
           + fab.elementwise_cycles(lt * (cq + ckv), 3, 1))
    q = kv = None
    if functional:
        if weights.bqkv is not None:
            qkv = qkv + weights.bqkv[:, :, None, :]
        cos_t, sin_t = rope_tables(lay)
        q = qkv[..., :cq].reshape(p, p, lt, ckv, rep)
        q = _rotate_pairs(q.swapaxes(-1, -2), cos_t[..., None, :], sin_t[..., None, :])
        q = q.swapaxes(-1, -2).reshape(p, p, lt, cq)
        kv = np.concatenate([_rotate_pairs(qkv[..., cq:cq + ckv], cos_t, sin_t),
                             qkv[..., cq + ckv:]], -1)

    for n, (axis, sign) in enumerate(KV_SHEARS, 1):
        kv, cycles = shear(fab, kv, axis, sign * np.arange(p), lt * 2 * ckv, INTERLEAVED)
        tl.add(f"K|V shear {n} ({axis})", comm=cycles)
    k = None if kv is None else np.ascontiguousarray(kv[..., :ckv])
    v = None if kv is None else np.ascontiguousarray(kv[..., ckv:])

    # Scores: Cannon with per-head accumulators; at step s core (i, c) holds Q(i, i + c + s)
    # and K(-c, i + c + s): the same K/V feature block b.
    onehot = (kv_head_of_feature(lay)[..., None] == np.arange(a.kv_heads)).astype(np.float32)

    def scores_mac(qa, kb, acc, step):
        oh = onehot[(li + lc + step) % p]  # (p, p, ckv, g)
        qg = qa.reshape(p, p, lt, ckv, rep)
        acc += np.einsum("ijaer,ijbe,ijeg->ijgrab", qg, kb, oh).reshape(acc.shape)

    scores = None if not functional else np.zeros((p, p, a.heads, lt, lt), dtype=np.float32)
    scores = cannon_loop(fab, q, k, scores, fab.matmul_cycles(lt, cq, lt), lt * cq,
                         lt * ckv, INTERLEAVED, mac=scores_mac, label="scores Cannon")

    # Causal mask and softmax along the keys (a row of the grid; key block -c on column c).
    hl = a.heads * lt
    tl.add("softmax: mask, scale, local max", compute=fab.elementwise_cycles(hl * lt, 2, 0))
    local = None
    if functional:
        qpos = (li[..., None] * lt + np.arange(lt))[..., None, :, None]  # (p,p,1,lt,1)
        kpos = (((-lc) % p)[..., None] * lt + np.arange(lt))[..., None, None, :]
        masked = (kpos > qpos) | (kpos >= tokens)
        scores = np.where(masked, -np.inf, scores / np.sqrt(a.head_dim))
        local = scores.max(-1)
    gmax, cycles, _ = all_reduce(fab, local, "x", hl, tree_levels, op="max")
    tl.add("softmax: max all-reduce (x)", comm=cycles)
    tl.add("softmax: exp, local sum", compute=fab.elementwise_cycles(hl * lt, 2, 1))
    e = None if not functional else np.exp(scores - gmax[..., None])
    gsum, cycles, _ = all_reduce(fab, None if e is None else e.sum(-1), "x", hl, tree_levels)
    tl.add("softmax: sum all-reduce (x)", comm=cycles)
    tl.add("softmax: normalize", compute=fab.elementwise_cycles(hl, 0, 1)
           + fab.elementwise_cycles(hl * lt, 1, 0))
    probs = None if e is None else e / gsum[..., None]  # (p, p, heads, lt, lt)

    # P x V, activation-stationary: at step s core (i, c) holds V(-c, i + c + s) and the
    # partial output of feature block i + c + s.
    def pv_mac(pr, vb, acc, step):
        oh = onehot[(li + lc + step) % p]
        pg = pr.reshape(p, p, a.kv_heads, rep, lt, lt)
        acc += np.einsum("ijgrab,ijbe,ijeg->ijaer", pg, vb, oh).reshape(acc.shape)

    # The kernel first copies V into the buffer half K moved through (a local copy).
    tl.add("P x V: V into the moving buffer",
           compute=fab.elementwise_cycles(lt * ckv, instruction="fmovs"))
    o = None if not functional else np.zeros((p, p, lt, cq), dtype=np.float32)
    o = stationary_loop(fab, probs, v, o, fab.matmul_cycles(lt, lt, cq), lt * ckv,
                        lt * cq, INTERLEAVED, mac=pv_mac, label="P x V")

    attn = cannon(o, None if not functional else weights.wo, cq, dt, "O MeshGEMM")
    tl.add("residual", compute=fab.elementwise_cycles(lt * dt, 1, 0))
    xv = None if xv is None else xv + attn

    # FFN block.
    h = rms_norm(xv, None if not functional else weights.norm2, "rmsnorm 2")
    gu = stationary(h, None if not functional else weights.wgu, dt, 2 * ft, "gate|up MeshGEMM")
    tl.add("SiLU x up", compute=fab.elementwise_cycles(lt * ft, 3, 1))
    act = None if gu is None else gu[..., :ft] / (1 + np.exp(-gu[..., :ft])) * gu[..., ft:]
    down = cannon(act, None if not functional else weights.wd, ft, dt, "down MeshGEMM")
    tl.add("residual", compute=fab.elementwise_cycles(lt * dt, 1, 0))
    if not functional:
        return fab, None
    return fab, unpack_activations(xv + down, a, tokens)

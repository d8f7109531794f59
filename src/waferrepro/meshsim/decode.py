"""Decode: one new token through one decoder layer on a px x py grid (paper section 6).

Layout. A hidden-size vector lives "along y": chunk i (ceil(hidden/py) values) on every core of
row i. GEMVs alternate between the two axes so no vector is ever transposed: a GEMV whose
input is along y keeps weight tile (rows: input chunk i, cols: output chunk j) on core (i, j),
all-reduces its partials along y, and leaves its output along x (chunk j on column j); the
next GEMV takes that input along x and gives its output along y. The all-reduces are K-level
trees (the paper: K=2) followed by a broadcast; `tree_root` puts each group's and line's root
at its first core ("edge") or in its middle with both sides reducing towards it ("middle":
the authors' Decode, whose every reduction is a two_tree_allreduce_*).

Attention. K/V features are split over columns (ckv per column, RoPE pairs kept on one core);
the queries of each KV feature's heads sit on the same core (GQA without copying K/V), and the
cached tokens are split over rows. Scores: local partial dot products, all-reduce along x
(every head's scores travel, zeros where a core holds none of its features: this over-counts
payload, against the wafer); softmax: max and sum all-reduced along y; attention x V: local
partial sums, all-reduce along y.

KV cache. `shift` (the paper's): tokens stay balanced over the rows; when a token arrives at
row 0, rows above the one that grows pass their oldest token one row down (one neighbour shift
along y). `static`: token t is written on row t mod py and never moves (the same tokens per
row as shift, no shift). `concat`: every token is appended on the last row, which must hold the
whole cache.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..hardware import Hardware
from ..host import pad2d
from ..models import Arch
from .comm import all_reduce, neighbour_shift
from .cost import ZERO
from .decode_layout import (
    KV_MODES,
    DecodeLayout,
    HostWeights,
    KVCache,
    head_of_kv_position,
    rope_tables,
)
from .fabric import Fabric, PlanError
from .precision import rounded

# Scalar operations per element in the authors' Decode (decode.csl, WSE-2 at 2cd13b5), as
# (arithmetic ops, divisions and square roots: software routines, Fabric.scalar_ops):
# fast_exp (:234-241) divides by 256 (a power of two: an exact multiply, no routine), adds 1
# and squares twice; z2_silu (:626-631) negates, runs fast_exp, adds 1 and divides;
# fmulh_norm_func (:228-232) divides by head_dim, adds eps, takes sqrt and a reciprocal.
FAST_EXP_OPS = (4, 0)
SILU_SCALAR_OPS = (6, 1)
NORM_FUNC_OPS = (1, 3)


@dataclass(frozen=True)
class KVMoves:
    """One decode step's cache moves, per row (the same on every column). The CSL launcher
    sends these to the device as each row's `state`, so both backends move the same tokens."""
    before: np.ndarray  # tokens held before the step
    drop: np.ndarray    # pass the oldest token to the row below (the KV shift)
    take: np.ndarray    # append the token passed down from the row above
    append: np.ndarray  # append the new token's K and V

    @property
    def shifts(self) -> bool:
        return bool(self.drop.any())

    @property
    def after(self) -> np.ndarray:
        """Tokens held after the step."""
        return self.before - self.drop + self.take + self.append


def kv_moves(lay: DecodeLayout, counts: np.ndarray, mode: str) -> KVMoves:
    """shift: the new token lands on row 0 and rows above the one that grows pass their oldest
    token one row down; static: the new token is written on the row that grows (t mod py);
    concat: the new token is appended on the last row."""
    counts = np.asarray(counts)
    new = lay.rows_tokens(int(counts.sum()) + 1, mode)
    grow = int(np.argmax(new - counts))  # the row that ends up with one more
    rows = np.arange(lay.py)
    shifting = mode == "shift" and grow > 0
    target = {"shift": 0, "static": grow}.get(mode, lay.py - 1)
    return KVMoves(counts.copy(), shifting & (rows < grow), shifting & (rows >= 1) & (rows <= grow),
                   rows == target)


def _rotate(vals, cos, sin):
    """Rotate adjacent pairs (2m, 2m+1) of the last axis: the interleaved form of RoPE."""
    a, b = vals[..., 0::2], vals[..., 1::2]
    c, s = cos[..., 0::2], sin[..., 0::2]
    out = np.empty_like(vals)
    out[..., 0::2], out[..., 1::2] = a * c - b * s, b * c + a * s
    return out


def decode_layer(hw: Hardware, a: Arch, px: int, py: int, cache: KVCache, pos: int,
                 mode: str = "shift", tree_levels: int = 2, weights: HostWeights | None = None,
                 x=None, cap: int | None = None, tree_root: str = "edge"):
    """One decode step of one layer. Functional when `weights`, `x` and cache data are given.
    `tree_root`: the all-reduce trees' root form (presets.tree_root).

    Returns (fabric, output hidden vector [hidden] or None). The cache is updated in place.
    """
    if mode not in KV_MODES:
        raise ValueError(f"kv mode must be one of {KV_MODES}, got {mode!r}")
    lay = DecodeLayout.on(hw, a, px, py)
    functional = weights is not None
    fab = Fabric(hw, px, py, functional=functional)
    T = int(cache.counts.sum())
    new_counts = lay.rows_tokens(T + 1, mode)
    n_max = int(new_counts.max())
    cap = cap or n_max
    for name, size in lay.buffer_bytes(cap).items():  # the memory model's (model_metrics.py)
        fab.alloc(name, size, 1)
    fab.use_colors("all-reduce along y (2 per level + broadcast)", 2 * tree_levels + 1)
    fab.use_colors("all-reduce along x (2 per level + broadcast)", 2 * tree_levels + 1)
    if mode == "shift":  # alternating by row (waferrepro.sdk.routes.neighbour_role)
        fab.use_colors("KV shift along y", 2)
    tl = fab.timeline
    grid = (py, px)

    def along_y(vec_rows):  # (py, n) -> replicated on every column
        return np.broadcast_to(vec_rows[:, None, :], grid + vec_rows.shape[1:]).copy()

    def along_x(vec_cols):  # (px, n) -> replicated on every row
        return np.broadcast_to(vec_cols[None, :, :], grid + vec_cols.shape[1:]).copy()

    def reduce(data, axis, elems, label, op="sum"):
        data, cycles, _ = all_reduce(fab, data, axis, elems, tree_levels, op, root=tree_root)
        tl.add(label, comm=cycles)
        return data

    def gemv(k, widths):
        """The local GEMV of weights side by side: one under the vector form; one per weight
        as the authors write them (decode.csl xq/xk/xv_matvec_mult, up/gate_matvec_mult)."""
        if not hw.authors_loops:
            return fab.matmul_cycles(1, k, sum(widths))
        return sum((fab.matmul_cycles(1, k, w) for w in widths), ZERO)

    def rms_norm(xv, gain, label):
        # The authors square with one @fmulh and sum with one reduction @faddh in a
        # one-iteration loop (B = 1; rmsnorm_x :297-305).
        tl.add(f"{label}: local sum of squares",
               compute=fab.elementwise_cycles(lay.dy, 2, 0) + fab.scalar_loop(1)
               if hw.authors_loops else fab.matmul_cycles(1, lay.dy, 1, "fmacs"))
        ss = None if xv is None else rounded(hw, (xv * xv).sum(-1, keepdims=True))
        ss = reduce(ss, "y", 1, f"{label}: all-reduce (y)")
        tl.add(f"{label}: scale", compute=fab.elementwise_cycles(lay.dy, 2, 0)
               + (fab.scalar_loop(1) + fab.maps(1) + fab.map_elements(1)  # :314, :321 @map
                  + fab.scalar_ops(*NORM_FUNC_OPS)
                  if hw.authors_loops else fab.elementwise_cycles(1, 1, 1)))
        if xv is None:
            return None
        return xv / np.sqrt(ss / a.hidden + a.eps) * along_y(gain)

    xv = None
    if functional:
        xv = along_y(pad2d(np.asarray(x, np.float32)[None, :], 1, py * lay.dy).reshape(py, -1))

    # Attention block.
    h = rms_norm(xv, None if not functional else weights.norm1, "rmsnorm 1")
    width = lay.cq + 2 * lay.ckv
    tl.add("QKV GEMV (local)", compute=gemv(lay.dy, (lay.cq, lay.ckv, lay.ckv)))
    qkv = None if h is None else rounded(hw, np.einsum("ijd,ijdn->ijn", h, weights.wqkv))
    qkv = reduce(qkv, "y", width, "QKV all-reduce (y)")
    if functional and weights.bqkv is not None:
        qkv = qkv + along_x(weights.bqkv)
    tl.add("bias + RoPE", compute=fab.elementwise_cycles(width, 1, 0)
           + fab.elementwise_cycles(lay.cq + lay.ckv, 3, 1)
           + (fab.scalar_loop(2) if hw.authors_loops else ZERO))  # :388, :431
    if functional:
        cos, sin = rope_tables(lay, pos)
        q, k, v = qkv[..., :lay.cq], qkv[..., lay.cq:lay.cq + lay.ckv], qkv[..., lay.cq + lay.ckv:]
        k = _rotate(k, along_x(cos), along_x(sin))
        rep = lay.rep
        qg = q.reshape(py, px, lay.ckv, rep)
        q = _rotate(qg.transpose(0, 1, 3, 2), along_x(cos)[:, :, None, :],
                    along_x(sin)[:, :, None, :]).transpose(0, 1, 3, 2)  # (py, px, ckv, rep)

    # Append the new token's K and V.
    moves = kv_moves(lay, cache.counts, mode)
    if moves.shifts:
        moved = None
        if functional:
            moved = np.concatenate([cache.k[:, :, 0], cache.v[:, :, 0]], axis=-1)
        moved, cycles = neighbour_shift(fab, moved, "y", lay.kv_elems_per_token())
        tl.add("KV shift (y)", comm=cycles)
        for row in np.flatnonzero(moves.drop):  # rows above the growing one drop their oldest
            n = cache.counts[row]
            if functional:
                cache.k[row, :, : n - 1] = cache.k[row, :, 1:n].copy()
                cache.v[row, :, : n - 1] = cache.v[row, :, 1:n].copy()
            cache.counts[row] -= 1
        for row in np.flatnonzero(moves.take):  # ... and the next row appends it as its newest
            n = cache.counts[row]
            if functional:
                cache.k[row, :, n] = moved[row, :, : lay.ckv]
                cache.v[row, :, n] = moved[row, :, lay.ckv:]
            cache.counts[row] += 1
    target = int(np.flatnonzero(moves.append)[0])
    if functional:
        n = cache.counts[target]
        if n >= cache.k.shape[2]:
            raise PlanError(f"KV cache full: row {target} holds {n} tokens")
        cache.k[target, :, n], cache.v[target, :, n] = k[target], v[target]
    cache.counts[target] += 1
    assert (cache.counts == new_counts).all(), (cache.counts, new_counts)

    # Scores, softmax, attention x V.
    tl.add("scores (local)", compute=fab.matmul_cycles(1, lay.cq, n_max))
    probs = None
    if functional:
        head = head_of_kv_position(lay)  # (px, ckv)
        onehot = (head[:, :, None] == np.arange(a.kv_heads)[None, None, :]).astype(np.float32)
        # partial[i, j, g, r, t] = sum_e q[e, r] K[t, e] over features e of group g.
        partial = rounded(hw, np.einsum("ijer,ijte,jeg->ijgrt", q, cache.k, onehot))
        scores = partial.reshape(py, px, a.heads, -1)
    else:
        scores = None
    scores = reduce(scores, "x", a.heads * n_max, "scores all-reduce (x)")
    tl.add("softmax: local max", compute=fab.elementwise_cycles(a.heads * n_max, 1, 0)
           + (fab.scalar_loop(1) if hw.authors_loops else ZERO))  # :484
    if functional:
        valid = np.arange(scores.shape[-1])[None, :] < cache.counts[:, None]  # (py, cap)
        scores = np.where(valid[:, None, None, :], scores / np.sqrt(a.head_dim), -np.inf)
        local_max = scores.max(-1)
    else:
        local_max = None
    gmax = reduce(local_max, "y", a.heads, "softmax: max all-reduce (y)", op="max")
    if hw.authors_loops:
        # decode.csl softmax_score: a @map of fsubh_func (one @fsubh of the scores per
        # head), a @map of fast_exp, (1 + x/256)^4 in FAST_EXP_OPS scalar ops per element
        # (not an exp), then a reduction @faddh for the local sum.
        n_scores = a.heads * n_max
        exp_sum = (fab.maps(2) + fab.map_elements(a.heads)
                   + fab.vector_op("faddh", n_max, a.heads, cause="elementwise")
                   + fab.map_elements(n_scores)
                   + fab.scalar_ops(*(n_scores * v for v in FAST_EXP_OPS))
                   + fab.elementwise_cycles(n_scores, 1, 0) + fab.scalar_loop(1))  # :502
    else:
        exp_sum = fab.elementwise_cycles(a.heads * n_max, 2, 1)
    tl.add("softmax: exp and local sum", compute=exp_sum)
    if functional:
        e = np.exp(scores - gmax[..., None])
        local_sum = rounded(hw, e.sum(-1))
    else:
        local_sum = None
    gsum = reduce(local_sum, "y", a.heads, "softmax: sum all-reduce (y)")
    tl.add("softmax: normalize",
           compute=(fab.maps(1) + fab.map_elements(a.heads) + fab.scalar_ops(0, a.heads)
                    if hw.authors_loops else fab.elementwise_cycles(a.heads, 0, 1))
           + fab.elementwise_cycles(a.heads * n_max, 1, 0))
    if functional:
        probs = e / gsum[..., None]  # (py, px, heads, cap)
    tl.add("attention x V (local)", compute=fab.matmul_cycles(1, n_max, lay.cq))
    o = None
    if functional:
        pg = probs.reshape(py, px, a.kv_heads, lay.rep, -1)
        o = rounded(hw, np.einsum("ijgrt,ijte,jeg->ijer", pg, cache.v, onehot)
                    ).reshape(py, px, lay.cq)
    o = reduce(o, "y", lay.cq, "attention x V all-reduce (y)")

    # Output projection (input along x, output along y) and residual.
    tl.add("O GEMV (local)", compute=fab.matmul_cycles(1, lay.cq, lay.dy))
    attn = None if o is None else rounded(hw, np.einsum("ijc,ijcd->ijd", o, weights.wo))
    attn = reduce(attn, "x", lay.dy, "O all-reduce (x)")
    tl.add("residual", compute=fab.elementwise_cycles(lay.dy, 1, 0))
    xv = None if xv is None else xv + attn

    # FFN block.
    h = rms_norm(xv, None if not functional else weights.norm2, "rmsnorm 2")
    tl.add("gate|up GEMV (local)", compute=gemv(lay.dy, (lay.cf, lay.cf)))
    gu = None if h is None else rounded(hw, np.einsum("ijd,ijdn->ijn", h, weights.wgu))
    gu = reduce(gu, "y", 2 * lay.cf, "gate|up all-reduce (y)")
    if hw.authors_loops:
        # decode.csl z2_silu: a scalar loop of SILU_SCALAR_OPS per iteration over B*d
        # elements (d, not f: the authors' code, as timed), then z3_mat's @fmulh over f.
        silu = (fab.scalar_loop(lay.dy, *SILU_SCALAR_OPS)
                + fab.elementwise_cycles(lay.cf, 1, 0))
    else:
        silu = fab.elementwise_cycles(lay.cf, 3, 1)
    tl.add("SiLU x up", compute=silu)
    act = None if gu is None else (gu[..., :lay.cf] / (1 + np.exp(-gu[..., :lay.cf]))
                                   * gu[..., lay.cf:])
    tl.add("down GEMV (local)", compute=fab.matmul_cycles(1, lay.cf, lay.dy))
    down = None if act is None else rounded(hw, np.einsum("ijc,ijcd->ijd", act, weights.wd))
    down = reduce(down, "x", lay.dy, "down all-reduce (x)")
    tl.add("residual", compute=fab.elementwise_cycles(lay.dy, 1, 0))
    if not functional:
        return fab, None
    out = xv + down
    # Read the result from the last column: right only if every broadcast reached it.
    return fab, out[:, px - 1].reshape(-1)[: a.hidden]

"""Decode: one new token through one decoder layer on a px x py grid (paper section 6).

Layout. A hidden-size vector lives "along y": chunk i (ceil(hidden/py) values) on every core of
row i. GEMVs alternate between the two axes so no vector is ever transposed: a GEMV whose
input is along y keeps weight tile (rows: input chunk i, cols: output chunk j) on core (i, j),
all-reduces its partials along y, and leaves its output along x (chunk j on column j); the
next GEMV takes that input along x and gives its output along y. The all-reduces are K-level
trees (the paper: K=2) followed by a broadcast.

Attention. K/V features are split over columns (ckv per column, RoPE pairs kept on one core);
the queries of each KV feature's heads sit on the same core (GQA without copying K/V), and the
cached tokens are split over rows. Scores: local partial dot products, all-reduce along x
(every head's scores travel, zeros where a core holds none of its features: this over-counts
payload, against the wafer); softmax: max and sum all-reduced along y; attention x V: local
partial sums, all-reduce along y.

KV cache. `shift` (the paper's): tokens stay balanced over the rows; when a token arrives at
row 0, rows above the one that grows pass their oldest token one row down (one neighbour shift
along y). `concat`: every token is appended on the last row, which must hold the whole cache.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..hardware import Hardware
from ..host import ceil_even, kv_feature_order, pad2d, q_feature_order, to_tiles
from ..models import Arch
from .comm import all_reduce, neighbour_shift
from .fabric import Fabric, PlanError

KV_MODES = ("shift", "concat")
BYTES = 2  # fp16 per element


@dataclass(frozen=True)
class DecodeLayout:
    a: Arch
    px: int
    py: int

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
        """Cached tokens held by each row (the same on every column)."""
        if mode == "concat":
            counts = np.zeros(self.py, dtype=np.int64)
            counts[-1] = tokens
            return counts
        base, extra = divmod(tokens, self.py)
        counts = np.full(self.py, base, dtype=np.int64)
        counts[:extra] += 1  # the extra tokens sit on the first rows, so a new token at row 0
        return counts        # moves at most one token across each row boundary

    def weight_elems_per_core(self) -> int:
        qkv = self.dy * (self.cq + 2 * self.ckv) + (self.cq + 2 * self.ckv) * self.a.qkv_bias
        return qkv + self.cq * self.dy + self.dy * 2 * self.cf + self.cf * self.dy + 2 * self.dy

    def activation_elems_per_core(self, cap: int) -> int:
        # x, h, residual; qkv and its receive buffer; scores/probabilities; o and its buffer;
        # gate|up and its buffer.
        return (3 * self.dy + 2 * (self.cq + 2 * self.ckv) + 2 * self.a.heads * max(cap, 1)
                + 2 * self.cq + 2 * 2 * self.cf + 2 * self.dy)

    def kv_elems_per_token(self) -> int:
        return 2 * self.ckv

    def buffers(self, cap: int, layers: int = 1) -> dict[str, int]:
        """Per-core elements of the decode plan with room for `cap` cached tokens per core:
        what `decode_layer` allocates (layers=1), or with every layer's weights and KV cache
        resident (layers=a.layers; activations are reused layer to layer)."""
        return {"weights (one layer)" if layers == 1 else f"weights ({layers} layers)":
                layers * self.weight_elems_per_core(),
                "KV cache": layers * cap * self.kv_elems_per_token(),
                "activations and receive buffers": self.activation_elems_per_core(cap)}

    def bytes_per_core(self, cap: int, layers: int = 1) -> int:
        return BYTES * sum(self.buffers(cap, layers).values())

    def max_tokens_per_core(self, sram_bytes: int, layers: int = 1) -> int:
        """Most cached tokens one core can hold beside the plan's other buffers (0: the plan
        does not fit even without a cache). Every per-token buffer counts: K and V and the
        scores/probabilities, so `decode_layer` accepts this cap and refuses one more."""
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
        tokens evenly over the py rows, concat keeps them all on the last row."""
        return self.max_tokens_per_core(sram_bytes, layers) * (self.py if mode == "shift" else 1)


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
        # Oldest tokens on the last rows: row py-1 takes the first counts[-1] tokens, ...
        start = 0
        for row in range(lay.py - 1, -1, -1):
            n = counts[row]
            arr[row, :, :n] = m[start:start + n].transpose(1, 0, 2)
            start += n
        out.append(arr)
    return KVCache(counts, *out)


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
    token one row down; concat: the new token is appended on the last row."""
    counts = np.asarray(counts)
    new = lay.rows_tokens(int(counts.sum()) + 1, mode)
    grow = int(np.argmax(new - counts))  # the row that ends up with one more
    rows = np.arange(lay.py)
    shifting = mode == "shift" and grow > 0
    target = 0 if mode == "shift" else lay.py - 1
    return KVMoves(counts.copy(), shifting & (rows < grow), shifting & (rows >= 1) & (rows <= grow),
                   rows == target)


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


def _rotate(vals, cos, sin):
    """Rotate adjacent pairs (2m, 2m+1) of the last axis: the interleaved form of RoPE."""
    a, b = vals[..., 0::2], vals[..., 1::2]
    c, s = cos[..., 0::2], sin[..., 0::2]
    out = np.empty_like(vals)
    out[..., 0::2], out[..., 1::2] = a * c - b * s, b * c + a * s
    return out


def head_of_kv_position(lay: DecodeLayout) -> np.ndarray:
    """The K/V head of each K/V position of each column, (px, ckv)."""
    a = lay.a
    g = np.zeros(lay.px * lay.ckv, dtype=np.int64)
    g[: a.kv_dim] = kv_feature_order(a.kv_heads, a.head_dim) // a.head_dim
    return g.reshape(lay.px, lay.ckv)


def decode_layer(hw: Hardware, a: Arch, px: int, py: int, cache: KVCache, pos: int,
                 mode: str = "shift", tree_levels: int = 2, weights: HostWeights | None = None,
                 x=None, cap: int | None = None):
    """One decode step of one layer. Functional when `weights`, `x` and cache data are given.

    Returns (fabric, output hidden vector [hidden] or None). The cache is updated in place.
    """
    if mode not in KV_MODES:
        raise ValueError(f"kv mode must be one of {KV_MODES}, got {mode!r}")
    lay = DecodeLayout(a, px, py)
    functional = weights is not None
    fab = Fabric(hw, px, py, functional=functional)
    T = int(cache.counts.sum())
    new_counts = lay.rows_tokens(T + 1, mode)
    n_max = int(new_counts.max())
    cap = cap or n_max
    for name, elems in lay.buffers(cap).items():  # the memory model's numbers (llm.py)
        fab.alloc(name, elems, BYTES)
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
        data, cycles, _ = all_reduce(fab, data, axis, elems, tree_levels, op)
        tl.add(label, comm=cycles)
        return data

    def rms_norm(xv, gain, label):
        tl.add(f"{label}: local sum of squares", compute=fab.matmul_cycles(1, lay.dy, 1, "fmacs"))
        ss = None if xv is None else (xv * xv).sum(-1, keepdims=True)
        ss = reduce(ss, "y", 1, f"{label}: all-reduce (y)")
        tl.add(f"{label}: scale", compute=fab.elementwise_cycles(lay.dy, 2, 0)
               + fab.elementwise_cycles(1, 1, 1))
        if xv is None:
            return None
        return xv / np.sqrt(ss / a.hidden + a.eps) * along_y(gain)

    xv = None
    if functional:
        xv = along_y(pad2d(np.asarray(x, np.float32)[None, :], 1, py * lay.dy).reshape(py, -1))

    # Attention block.
    h = rms_norm(xv, None if not functional else weights.norm1, "rmsnorm 1")
    width = lay.cq + 2 * lay.ckv
    tl.add("QKV GEMV (local)", compute=fab.matmul_cycles(1, lay.dy, width))
    qkv = None if h is None else np.einsum("ijd,ijdn->ijn", h, weights.wqkv)
    qkv = reduce(qkv, "y", width, "QKV all-reduce (y)")
    if functional and weights.bqkv is not None:
        qkv = qkv + along_x(weights.bqkv)
    tl.add("bias + RoPE", compute=fab.elementwise_cycles(width, 1, 0)
           + fab.elementwise_cycles(lay.cq + lay.ckv, 3, 1))
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
        partial = np.einsum("ijer,ijte,jeg->ijgrt", q, cache.k, onehot)
        scores = partial.reshape(py, px, a.heads, -1)
    else:
        scores = None
    scores = reduce(scores, "x", a.heads * n_max, "scores all-reduce (x)")
    tl.add("softmax: local max", compute=fab.elementwise_cycles(a.heads * n_max, 1, 0))
    if functional:
        valid = np.arange(scores.shape[-1])[None, :] < cache.counts[:, None]  # (py, cap)
        scores = np.where(valid[:, None, None, :], scores / np.sqrt(a.head_dim), -np.inf)
        local_max = scores.max(-1)
    else:
        local_max = None
    gmax = reduce(local_max, "y", a.heads, "softmax: max all-reduce (y)", op="max")
    tl.add("softmax: exp and local sum",
           compute=fab.elementwise_cycles(a.heads * n_max, 2, 1))
    if functional:
        e = np.exp(scores - gmax[..., None])
        local_sum = e.sum(-1)
    else:
        local_sum = None
    gsum = reduce(local_sum, "y", a.heads, "softmax: sum all-reduce (y)")
    tl.add("softmax: normalize", compute=fab.elementwise_cycles(a.heads, 0, 1)
           + fab.elementwise_cycles(a.heads * n_max, 1, 0))
    if functional:
        probs = e / gsum[..., None]  # (py, px, heads, cap)
    tl.add("attention x V (local)", compute=fab.matmul_cycles(1, n_max, lay.cq))
    o = None
    if functional:
        pg = probs.reshape(py, px, a.kv_heads, lay.rep, -1)
        o = np.einsum("ijgrt,ijte,jeg->ijer", pg, cache.v, onehot).reshape(py, px, lay.cq)
    o = reduce(o, "y", lay.cq, "attention x V all-reduce (y)")

    # Output projection (input along x, output along y) and residual.
    tl.add("O GEMV (local)", compute=fab.matmul_cycles(1, lay.cq, lay.dy))
    attn = None if o is None else np.einsum("ijc,ijcd->ijd", o, weights.wo)
    attn = reduce(attn, "x", lay.dy, "O all-reduce (x)")
    tl.add("residual", compute=fab.elementwise_cycles(lay.dy, 1, 0))
    xv = None if xv is None else xv + attn

    # FFN block.
    h = rms_norm(xv, None if not functional else weights.norm2, "rmsnorm 2")
    tl.add("gate|up GEMV (local)", compute=fab.matmul_cycles(1, lay.dy, 2 * lay.cf))
    gu = None if h is None else np.einsum("ijd,ijdn->ijn", h, weights.wgu)
    gu = reduce(gu, "y", 2 * lay.cf, "gate|up all-reduce (y)")
    tl.add("SiLU x up", compute=fab.elementwise_cycles(lay.cf, 3, 1))
    act = None if gu is None else (gu[..., :lay.cf] / (1 + np.exp(-gu[..., :lay.cf]))
                                   * gu[..., lay.cf:])
    tl.add("down GEMV (local)", compute=fab.matmul_cycles(1, lay.cf, lay.dy))
    down = None if act is None else np.einsum("ijc,ijcd->ijd", act, weights.wd)
    down = reduce(down, "x", lay.dy, "down all-reduce (x)")
    tl.add("residual", compute=fab.elementwise_cycles(lay.dy, 1, 0))
    if not functional:
        return fab, None
    out = xv + down
    # Read the result from the last column: right only if every broadcast reached it.
    return fab, out[:, px - 1].reshape(-1)[: a.hidden]

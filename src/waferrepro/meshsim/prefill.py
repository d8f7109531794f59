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
The row all-reduces (RMSNorm's sums of squares, softmax's max and sum) are `tree_levels`-level
trees with `tree_root` roots (presets.prefill_row_tree): one level rooted in the middle of
the row is the authors' Prefill (one chain per side into the root, which takes the two sides
one after the other and broadcasts both ways); two levels rooted at the edge are ours.
- P x V, activation-stationary: P stays (no per-head tile ever travels), V moves up the
  columns, the partial outputs left; core (i, c) ends with O(i, i + c - 1).
- O projection, Cannon: its weights are pre-skewed one position back to absorb that offset;
  output N; residual.
- RMSNorm; gate|up, activation-stationary (R); SiLU x up; down, Cannon (N); residual.
Every weight ends the layer at home, ready for the next prompt (kernels/Prefill re-runs
from the same state): each weight GEMM makes p ring shifts of its weight, the last one
overlapped with the last step's compute (stationary_loop / cannon_loop `last_shift`,
`last_shift_b`), and for odd p, where the p shifts leave the tile in the shared receive
buffer, one local copy puts it back. Under both presets: a deployment runs prompt after
prompt on the same weights, whichever schedule it uses.
We have not seen the paper's own prefill dataflow at this level of detail: this one is ours,
transpose-free and skew-free for activations; the K|V shears are charged under their own
labels (3 (p-1) ring shifts of a thin tile).
"""

from __future__ import annotations

import numpy as np

from ..hardware import Hardware
from ..host import (
    ring_order,
)
from ..models import Arch
from .comm import all_reduce, ring_shift, shear, tree_reduce
from .cost import ZERO, priced, times_price, without
from .fabric import GEMM_DESCRIPTOR_OPS, Fabric
from .gemm import GEMM_STEP_TASKS, SCORE_STEP_TASKS, cannon_loop, stationary_loop
from .precision import rounded
from .prefill_layout import (
    INTERLEAVED,
    PrefillLayout,
    PrefillWeights,
    kv_head_of_feature,
    pack_activations,
    rope_tables,
    unpack_activations,
)

KV_SHEARS = (("y", -1), ("x", 1), ("y", 1))
# The authors' Prefill program around its products (Prefill/WSE-2 src/prefill.csl "PF" and
# comm_lib/comm_pe.csl "PFC" at 2cd13b5; plain ops counted as in meshsim.gemm):
# a normal GEMM step (matmul_compute PF:392-433): six assigns, two compares, three calls and
# their returns, `step += 1`, @activate, next_step's compare, four async @mov16 launches (17 +
# 4); 4 set_dsd_base_addr + 4 load_to_dsr in the comm call and two set_dsd_base_addr (10).
PF_STEP_PLAIN, PF_STEP_DESCRIPTORS = 21, 10
# the score GEMM's step (matmul_T_compute): assigns, a compare, an unblock, calls, the reduce
# root's arithmetic, two async @mov16 (10); the comm's 4 set_dsd_base_addr + 2 load_to_dsr,
# the reduce's and the clear's descriptors (12).
PF_SCORE_PLAIN, PF_SCORE_DESCRIPTORS = 10, 12
# the left-matrix alignment before xq, output, h1, z1 and h2 (left_matrix_shift_callback
# PF:280-304, PFC:548-595): P/2 rounds each, as MeshGEMM's pre-skew: the callback's compares,
# swap and update, the call (7) and two async @mov16 (2); 2 set_dsd_base_addr + 2
# load_to_dsr; a task; the tile truncated to a multiple of 4 (PFC:12-16).
PF_ROUND_PLAIN, PF_ROUND_DESCRIPTORS = 9, 4
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
                  x=None, tree_levels: int = 2, causal: bool = True, tree_root: str = "edge"):
    """One layer over a `tokens`-long prompt. Functional when weights and x are given.
    `tree_levels`, `tree_root`: the row all-reduces' tree (presets.prefill_row_tree).
    `causal`: mask keys after the query (false: every query sees the whole prompt, the
    authors' Prefill); the mask is fused into the scale pass, so it costs no cycles.

    Returns (fabric, output [tokens, hidden] or None).
    """
    lay = PrefillLayout.on(hw, a, p, tokens)
    functional = weights is not None
    fab = Fabric(hw, p, p, functional=functional)
    fab.alloc("weights (one layer)", lay.weight_elems_per_core())
    acc = lay.accumulator_elems_per_core()
    fab.alloc("activations and receive buffers", lay.buffer_elems_per_core() - acc)
    fab.alloc("accumulators", acc, hw.acc_bits // 8)
    fab.use_colors("MeshGEMM ring shifts (x and y; 4 each, see gemm.run_cannon)", 8)
    fab.use_colors("all-reduce along x (2 per level + broadcast)", 2 * tree_levels + 1)
    tl = fab.timeline
    order = ring_order(p, INTERLEAVED)
    lidx = np.argsort(order)  # logical index of each physical position
    li, lc = np.meshgrid(lidx, lidx, indexing="ij")  # logical row/col of each physical core
    lt, dt, cq, ckv, ft, rep, width = lay.lt, lay.dt, lay.cq, lay.ckv, lay.ft, lay.rep, lay.width

    def rms_norm(xv, gain, label):
        # The authors square with @fmulh and sum with d @faddh of length lt (rmsnorm_x).
        tl.add(f"{label}: local sums of squares",
               compute=fab.elementwise_cycles(lt * dt, 2, 0) if hw.authors_loops
               else fab.matmul_cycles(lt, dt, 1, "fmacs"))
        ss = None if xv is None else rounded(hw, (xv * xv).sum(-1))  # (p, p, lt)
        ss, cycles, _ = all_reduce(fab, ss, "x", lt, tree_levels, root=tree_root)
        tl.add(f"{label}: all-reduce (x)", comm=cycles)
        # The authors' rsqrt is a scalar loop per token: a division, an add, sqrt_f16 and a
        # division (prefill.csl rmsnorm_x).
        tl.add(f"{label}: scale", compute=fab.elementwise_cycles(lt * dt, 2, 0)
               + (fab.scalar_loop(lt, 1, 3) if hw.authors_loops
                  else fab.elementwise_cycles(lt, 1, 1)))
        if xv is None:
            return None
        return xv / np.sqrt(ss[..., None] / a.hidden + a.eps) * gain[:, :, None, :]

    def weights_home(w_elems, label):
        """kernels/Prefill's weights_home: a weight's p shifts alternate between its array
        and the shared receive buffer, so for odd p the tile ends in the buffer: one local
        copy (fp16 data; charged as @fmovs, as the V copy below) before the next weight."""
        if p > 1 and p % 2:
            tl.add(f"{label}: weights home (odd p: local copy)",
                   compute=fab.elementwise_cycles(w_elems, instruction="fmovs"))

    def gemm_compute(k_elems, n_elems, parts):
        """A step's product, its tasks and its launch: our weights side by side are `parts`
        GEMMs of p steps each in the authors' Prefill (xq/xk/xv_matmul, z1/z2), so under
        their loop form each step also pays the other parts' k loops, and every part's tasks
        and launch (PF_STEP_*)."""
        compute = fab.matmul_cycles(lt, k_elems, n_elems)
        if not hw.authors_loops:
            return compute, parts * GEMM_STEP_TASKS, ZERO
        extra = (parts - 1) * k_elems
        compute += (fab.scalar_loop(extra) + fab.descriptor_ops(extra * GEMM_DESCRIPTOR_OPS)
                    + fab.maps(extra))
        launch = parts * (fab.scalar_ops(PF_STEP_PLAIN)
                          + fab.descriptor_ops(PF_STEP_DESCRIPTORS))
        return compute, parts * GEMM_STEP_TASKS, launch

    def align_left(elems, label):
        """The authors' left-matrix alignment before a GEMM (PF_ROUND_*): P/2 rounds."""
        if hw.authors_loops and p > 1:
            tl.add(f"{label}: left-matrix alignment round (authors')", repeat=p // 2,
                   comm=(fab.scalar_ops(PF_ROUND_PLAIN)
                         + fab.descriptor_ops(PF_ROUND_DESCRIPTORS) + fab.tasks(1)
                         + without(hw, ring_shift(fab, None, "x", (elems // 4) * 4,
                                                  INTERLEAVED)[1], "fixed")))

    def stationary(act, w_tiles, k_elems, n_elems, label, parts=1):
        """Activation-stationary MeshGEMM: act in N, output in R; the weight back home."""
        acc = None if act is None else np.zeros((p, p, lt, n_elems), dtype=np.float32)
        compute, tasks, launch = gemm_compute(k_elems, n_elems, parts)
        out = stationary_loop(fab, act, None if act is None else w_tiles.copy(), acc,
                              compute, k_elems * n_elems, lt * n_elems, INTERLEAVED,
                              label=label, last_shift=True, step_tasks=tasks, launch=launch)
        weights_home(k_elems * n_elems, label)
        return out

    def cannon(act, w_tiles, k_elems, n_elems, label):
        """Cannon MeshGEMM: act in R (moving), output in N; the weight back home."""
        out = None if act is None else np.zeros((p, p, lt, n_elems), dtype=np.float32)
        compute, tasks, launch = gemm_compute(k_elems, n_elems, 1)
        out = cannon_loop(fab, act, None if act is None else w_tiles.copy(), out,
                          compute, lt * k_elems, k_elems * n_elems, INTERLEAVED, label=label,
                          last_shift_b=True, step_tasks=tasks, launch=launch)
        weights_home(k_elems * n_elems, label)
        return out

    xv = None if not functional else pack_activations(lay, x)

    # Attention block.
    h = rms_norm(xv, None if not functional else weights.norm1, "rmsnorm 1")
    align_left(lt * dt, "xq")
    qkv = stationary(h, None if not functional else weights.wqkv, dt, width, "QKV MeshGEMM",
                     parts=3)
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
        if not hw.authors_loops:  # the authors' program aligns left matrices instead
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
    score_launch = (fab.scalar_ops(PF_SCORE_PLAIN) + fab.descriptor_ops(PF_SCORE_DESCRIPTORS)
                    if hw.authors_loops else ZERO)
    scores = cannon_loop(fab, q, k, scores, fab.matmul_cycles(lt, cq, lt), lt * cq,
                         lt * ckv, INTERLEAVED, head_mac=scores_mac, label="scores Cannon",
                         step_tasks=SCORE_STEP_TASKS, launch=score_launch)
    if hw.authors_loops:
        # The authors' score GEMM reduces its partial products along the row after every
        # step (comm_pe.csl matmul_T_reduce_add_x: a one-level chain of lt * lt partial
        # scores into a root that moves with the step, after the step's compute; the
        # deepest row's chain spans the row). Each step the root takes its wavelets and pays
        # the chain's set-ups; of the chain's relay latency, the fraction
        # reduce_chain_exposed waits every step (1: each step waits for its whole chain, as
        # the synchronous code reads), the rest once (consecutive chains pipeline when rows
        # drift apart with their moving roots).
        _, chain, _ = tree_reduce(fab, None, "x", a.heads * lt * lt, 1, root="edge")
        latency = priced(hw, latency=chain.by_cause.get("latency", {}))
        waiting = times_price(hw, latency, "reduce_chain_exposed")
        tl.add("scores: row reduce per step (authors' matmul_T_reduce_add_x)",
               comm=chain + waiting + (-1) * latency, repeat=p)
        tl.add("scores: row reduce, the pipelined chain's relay latency (once)",
               comm=latency + (-1) * waiting)

    # Causal mask and softmax along the keys (a row of the grid; key block -c on column c).
    # Masking is a compare in the scale pass (kernels/Prefill: softmax_mask_scale_max): two
    # passes, scale and max, with or without it. Keys past the prompt are masked either way.
    hl = a.heads * lt
    # The authors' softmax_score (prefill.csl :665-723): one @fmulh scales the scores, then
    # per pass a scalar loop of s row operations (@fmaxh, @fsubh, @faddh, @fmulh), the exp
    # a scalar loop over all s*s scores and the reciprocal one over s sums.
    authors = hw.authors_loops
    tl.add("softmax: mask, scale, local max" if causal else "softmax: scale, local max",
           compute=(fab.elementwise_cycles(hl * lt, 1, 0) + fab.row_ops("faddh", hl, lt))
           if authors else fab.elementwise_cycles(hl * lt, 2, 0))
    local = None
    if functional:
        qpos = (li[..., None] * lt + np.arange(lt))[..., None, :, None]  # (p,p,1,lt,1)
        kpos = (((-lc) % p)[..., None] * lt + np.arange(lt))[..., None, None, :]
        masked = ((kpos > qpos) & causal) | (kpos >= tokens)
        scores = np.where(masked, -np.inf, scores / np.sqrt(a.head_dim))
        local = scores.max(-1)
    gmax, cycles, _ = all_reduce(fab, local, "x", hl, tree_levels, op="max",
                                root=tree_root)
    tl.add("softmax: max all-reduce (x)", comm=cycles)
    tl.add("softmax: exp, local sum",
           compute=(fab.row_ops("faddh", hl, lt) + fab.scalar_loop(hl * lt, 0, 1)
                    + fab.row_ops("faddh", hl, lt))
           if authors else fab.elementwise_cycles(hl * lt, 2, 1))
    e = None if not functional else np.exp(scores - gmax[..., None])
    gsum, cycles, _ = all_reduce(fab, None if e is None else rounded(hw, e.sum(-1)), "x", hl,
                                 tree_levels, root=tree_root)
    tl.add("softmax: sum all-reduce (x)", comm=cycles)
    tl.add("softmax: normalize",
           compute=(fab.scalar_loop(hl, 0, 1) + fab.row_ops("faddh", hl, lt))
           if authors
           else fab.elementwise_cycles(hl, 0, 1) + fab.elementwise_cycles(hl * lt, 1, 0))
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
    align_left(lt * lt, "output (P x V)")
    pv_launch = (fab.scalar_ops(PF_STEP_PLAIN) + fab.descriptor_ops(PF_STEP_DESCRIPTORS)
                 if hw.authors_loops else ZERO)
    o = stationary_loop(fab, probs, v, o, fab.matmul_cycles(lt, lt, cq), lt * ckv,
                        lt * cq, INTERLEAVED, head_mac=pv_mac, label="P x V",
                        step_tasks=GEMM_STEP_TASKS, launch=pv_launch)

    if hw.acc_bits == 32:  # kernels/Prefill: the f32 output into Cannon's fp16 operand
        tl.add("P x V: output to fp16",
               compute=fab.elementwise_cycles(lt * cq, instruction="fmovs"))
    align_left(lt * dt, "h1")
    attn = cannon(o, None if not functional else weights.wo, cq, dt, "O MeshGEMM")
    tl.add("residual", compute=fab.elementwise_cycles(lt * dt, 1, 0))
    xv = None if xv is None else xv + attn

    # FFN block.
    h = rms_norm(xv, None if not functional else weights.norm2, "rmsnorm 2")
    align_left(lt * dt, "z1")
    gu = stationary(h, None if not functional else weights.wgu, dt, 2 * ft, "gate|up MeshGEMM",
                    parts=2)
    # The authors' SiLU is a @map of silu_kernel, (1 + exp_f16(-x)) / x: a negation, an exp,
    # an add and a division per element (prefill.csl :915-921), then z3_comp's @fmulh.
    tl.add("SiLU x up", compute=(fab.maps(1) + fab.map_elements(lt * ft)
                                 + fab.scalar_ops(2 * lt * ft, 2 * lt * ft)
                                 + fab.elementwise_cycles(lt * ft, 1, 0))
           if hw.authors_loops else fab.elementwise_cycles(lt * ft, 3, 1))
    act = None if gu is None else gu[..., :ft] / (1 + np.exp(-gu[..., :ft])) * gu[..., ft:]
    align_left(lt * ft, "h2")
    down = cannon(act, None if not functional else weights.wd, ft, dt, "down MeshGEMM")
    tl.add("residual", compute=fab.elementwise_cycles(lt * dt, 1, 0))
    if not functional:
        return fab, None
    return fab, unpack_activations(xv + down, a, tokens)

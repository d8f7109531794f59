"""The Decode CSL program's arithmetic, transcribed core by core into NumPy and run on the
inputs its launcher sends (waferrepro.sdk.inputs): the index formulas of
kernels/Decode/pe_program.csl (RoPE pairs, grouped queries, head map, cache moves, masked
softmax) and the host's data layout must give the reference layer's output.

This is no substitute for compiling it: it checks the program's logic and the host layout,
not the CSL spelling. Each function names the CSL function it transcribes; keep them in step.
"""

import numpy as np
import pytest

from waferrepro.check import compare
from waferrepro.models import arch
from waferrepro.sdk.inputs import decode_inputs, decode_params


class Core:
    """One core's memory, as pe_program.csl declares it (f32 here; the device uses f16)."""

    def __init__(self, sym, i, j, p):
        for name, arr in sym.items():
            kind = np.int64 if name in ("head_of", "state") else np.float64
            setattr(self, name, np.array(arr[i, j], dtype=kind).reshape(-1))
        self.h = np.zeros(p["dy"])
        self.n = 0


def emulate(sym, p):
    py, px = sym["x"].shape[:2]
    dy, cq, ckv, cf, rep, heads, cap = (p[k] for k in
                                        ("dy", "cq", "ckv", "cf", "rep", "heads", "cap"))
    W = cq + 2 * ckv
    cores = [[Core(sym, i, j, p) for j in range(px)] for i in range(py)]
    everyone = [c for row in cores for c in row]

    def all_reduce(name, axis, length, op=np.sum):  # line_tree.all_reduce
        lines = ([[cores[i][j] for i in range(py)] for j in range(px)] if axis == "y"
                 else [cores[i] for i in range(py)])
        for line in lines:
            combined = op(np.stack([getattr(c, name)[:length] for c in line]), axis=0)
            for c in line:
                getattr(c, name)[:length] = combined

    def gemv(c, out, vec, w, rows, cols):  # gemv
        setattr(c, out, getattr(c, vec)[:rows] @ getattr(c, w).reshape(rows, cols))

    def rms_local(c):
        c.ss = np.array([np.sum(c.x ** 2)])

    def rms_apply(c, gain):
        scale = 1.0 / np.sqrt(c.ss[0] * c.consts[0] + c.consts[1])
        c.h = c.x * scale * getattr(c, gain)

    for c in everyone:  # start
        rms_local(c)
    all_reduce("ss", "y", 1)
    for c in everyone:  # phase 1
        rms_apply(c, "norm1")
        gemv(c, "qkv", "h", "wqkv", dy, W)
    all_reduce("qkv", "y", W)
    for c in everyone:  # phase 2: bias_and_rope, then kv_start's outgoing token
        c.qkv = c.qkv + c.bqkv

        def rotate(i0, i1, cs, sn):
            a, b = c.qkv[i0], c.qkv[i1]
            c.qkv[i0], c.qkv[i1] = a * cs - b * sn, b * cs + a * sn

        for m in range(0, ckv, 2):
            cs, sn = c.rope[m], c.rope[ckv + m]
            rotate(cq + m, cq + m + 1, cs, sn)
            for r in range(rep):
                rotate(m * rep + r, (m + 1) * rep + r, cs, sn)
        c.n = c.state[0]
        c.kcache, c.vcache = c.kcache.reshape(cap, ckv), c.vcache.reshape(cap, ckv)
        c.moved_out = np.concatenate([c.kcache[0], c.vcache[0]])
    for i in range(py):  # neighbour_shift: rows that drop send south, rows that take receive
        for j in range(px):
            c = cores[i][j]
            if c.state[2]:
                assert cores[i - 1][j].state[1], "a row takes a token nobody sends"
                c.moved_in = cores[i - 1][j].moved_out
    for c in everyone:  # phase 3: kv_update, scores_local
        def append_token(src, k_at, v_at):
            c.kcache[c.n], c.vcache[c.n] = src[k_at:k_at + ckv], src[v_at:v_at + ckv]
            c.n += 1

        if c.state[1]:
            c.kcache[:c.n - 1], c.vcache[:c.n - 1] = c.kcache[1:c.n].copy(), c.vcache[1:c.n].copy()
            c.n -= 1
        if c.state[2]:
            append_token(c.moved_in, 0, ckv)
        if c.state[3]:
            append_token(c.qkv, cq, cq + ckv)
        c.scores = np.zeros(heads * cap)  # one FMAC over the n tokens per (feature, head)
        kflat, toks = c.kcache.reshape(-1), np.arange(c.n)
        for e in range(ckv):
            kcol = kflat[e + ckv * toks]  # cache_col
            g = c.head_of[e]
            for r in range(rep):
                c.scores[(g * rep + r) * cap + toks] += kcol * c.qkv[e * rep + r]
    all_reduce("scores", "x", heads * cap)
    for c in everyone:  # phase 4: softmax_scale_and_max
        c.hmax = np.full(heads, -65504.0)
        for hd in range(heads):
            s = c.scores[hd * cap: hd * cap + c.n] * c.consts[2]
            c.scores[hd * cap: hd * cap + c.n] = s
            if c.n:
                c.hmax[hd] = max(c.hmax[hd], s.max())
    all_reduce("hmax", "y", heads, np.max)
    for c in everyone:  # phase 5: softmax_exp_and_sum
        c.hsum = np.zeros(heads)
        for hd in range(heads):
            e = np.exp(c.scores[hd * cap: hd * cap + c.n] - c.hmax[hd])
            c.scores[hd * cap: hd * cap + c.n] = e
            c.hsum[hd] = e.sum()
    all_reduce("hsum", "y", heads)
    for c in everyone:  # phase 6: attend_local
        for hd in range(heads):
            c.scores[hd * cap: hd * cap + c.n] *= 1.0 / c.hsum[hd]
        c.o = np.zeros(cq)  # one FMAC over the rep grouped heads per (token, feature)
        lanes = np.arange(rep)
        for t in range(c.n):
            for e in range(ckv):
                g = c.head_of[e]
                pvec = c.scores[g * rep * cap + t + cap * lanes]  # head_col
                c.o[e * rep + lanes] += pvec * c.vcache[t, e]
    all_reduce("o", "y", cq)
    for c in everyone:  # phase 7
        gemv(c, "attn", "o", "wo", cq, dy)
    all_reduce("attn", "x", dy)
    for c in everyone:  # phase 8
        c.x = c.x + c.attn
        rms_local(c)
    all_reduce("ss", "y", 1)
    for c in everyone:  # phase 9
        rms_apply(c, "norm2")
        gemv(c, "gu", "h", "wgu", dy, 2 * cf)
    all_reduce("gu", "y", 2 * cf)
    for c in everyone:  # phase 10: silu_times_up
        g = c.gu[:cf].copy()
        c.gu[:cf] = g / (1.0 + np.exp(-g)) * c.gu[cf:]
        gemv(c, "down", "gu", "wd", cf, dy)
    all_reduce("down", "x", dy)
    return np.stack([[c.x + c.down for c in row] for row in cores])  # (py, px, dy)


@pytest.mark.parametrize("px,py,context,mode,extra_cap", [
    (4, 3, 7, "shift", 0), (2, 4, 9, "shift", 0), (4, 3, 7, "concat", 0), (3, 5, 0, "shift", 0),
    (1, 1, 4, "shift", 0), (4, 3, 7, "shift", 2)])
def test_decode_program_logic_on_launcher_inputs_matches_reference(px, py, context, mode,
                                                                   extra_cap):
    # extra_cap: a kernel compiled for a later step of the same run holds more tokens per core
    a = arch("tiny-llama")
    params = decode_params(a, px, py, context, mode)
    params["cap"] += extra_cap
    sym, expected = decode_inputs(a, px, py, context, mode, seed=3, cap=params["cap"])
    out = emulate(sym, params)
    assert np.allclose(out, out[:, :1]), "every column must hold the same output"
    got = out[:, px - 1].reshape(-1)[: a.hidden]
    check = compare(got, expected, rtol=2e-2, atol=1e-3)
    assert check.passed, check


@pytest.mark.parametrize("px,py,context", [(4, 3, 7), (2, 4, 9), (3, 5, 0)])
def test_decode_program_under_paper_kernels_runs_the_authors_layer(px, py, context):
    # paper-kernels: one head of hidden width and the static cache (presets): no row passes
    # a token down, the new one is written on the row that grows (t mod py)
    a = arch("tiny-llama")
    params = decode_params(a, px, py, context, "shift", preset="paper-kernels")
    assert (params["heads"], params["rep"]) == (1, 1)
    sym, expected = decode_inputs(a, px, py, context, "shift", seed=3, cap=params["cap"],
                                  preset="paper-kernels")
    state = sym["state"][:, 0]
    assert state[:, 1].sum() == 0 and state[:, 2].sum() == 0  # nothing dropped or taken
    assert state[:, 3].tolist() == [int(r == context % py) for r in range(py)]
    out = emulate(sym, params)
    got = out[:, px - 1].reshape(-1)[: a.hidden]
    check = compare(got, expected, rtol=2e-2, atol=1e-3)
    assert check.passed, check


def test_decode_inputs_cache_moves_keep_rows_balanced():
    a = arch("tiny-llama")
    sym, _ = decode_inputs(a, 2, 4, 9, "shift")
    state = sym["state"][:, 0]
    after = state[:, 0] - state[:, 1] + state[:, 2] + state[:, 3]
    assert after.sum() == 10 and after.max() - after.min() <= 1
    assert state[0, 3] == 1 and state[1:, 3].sum() == 0  # the new token lands on row 0

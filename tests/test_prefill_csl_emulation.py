"""The Prefill CSL program, transcribed core by core into NumPy and run on the inputs its
launcher sends (waferrepro.sdk.inputs.prefill_inputs), with every ring transfer delivered
where the router configurations of kernels/common/roles.csl send it (traced by
waferrepro.sdk.routes): the phase order, the step machines' buffer logic (stationary loop:
fresh product, arriving partial, add, send on; Cannon: shift and swap), the shear counts,
the per-step feature block (lrow + lcol + step) % P, the head map, the causal mask on key
block -lcol, and the host's layouts must give the reference layer's output.

Values are held in the program's own types: fp16 arrays rounded to fp16 on every write, the
accumulators (acc_t: f32 under `acc32`, the full-model preset, else fp16) rounded to their
type after every FMAC and every add; under acc32 the partial sums move along the rows as f32
one per wavelet and the row all-reduces add f32 (mutations that accumulate or send them in
fp16 must fail where fp16 visibly loses precision). The row all-reduces run line_tree's
chains on the traced tree routes in the form the params compile (gx, tree_middle: one chain
per side into the row's middle under paper-kernels, the authors' form; two levels rooted at
the edge under full-model), adding in the chains' order.

No substitute for compiling it: it checks the program's logic, its routes and the host
layout, not the CSL spelling. Names follow pe_program.csl's functions; keep them in step.
"""

from dataclasses import replace

import numpy as np
import pytest
from line_tree_emulation import line_all_reduce

from waferrepro.check import compare
from waferrepro.host import group_size
from waferrepro.meshsim.comm import tree_root
from waferrepro.meshsim.prefill_layout import unpack_activations
from waferrepro.models import arch
from waferrepro.reference_layer import random_weights
from waferrepro.sdk import launch
from waferrepro.sdk import routes as cr
from waferrepro.sdk.inputs import prefill_inputs, prefill_params

LOWEST = -65504.0


class Grid:
    """Per-core buffers as (P, P, n) arrays by physical core (row, column), and the rings'
    traced routes. `per_wavelet`: fp16 per wavelet (the program's `packed`): every transfer
    travels as wavelets (routes.to_wavelets) without a pad added here, so a length the
    program sends must already be even (its *_WIRE); `swap` reads each pair's halves the
    wrong way round (a mutation)."""

    def __init__(self, P, per_wavelet=1, swap=False, tree_group=None, tree_root="edge",
                 drop=None):
        self.P, self.per_wavelet, self.swap = P, per_wavelet, swap
        self.tree_group, self.tree_root, self.drop = tree_group, tree_root, drop
        self.table = cr.RouteTable(P, P)
        if P > 1:
            cr.ring_routes(self.table, "x", "X")
            cr.ring_routes(self.table, "y", "Y")
        # layout.csl's row tree: roles.tree_role(px, P, gx, tree_middle == 1)
        cr.tree_routes(self.table, "x", "T", root=tree_root, group=tree_group)
        idx = np.array([cr.ring_index(q, P) for q in range(P)])
        self.lrow = np.broadcast_to(idx[:, None], (P, P))  # roles.ring_index(py, P)
        self.lcol = np.broadcast_to(idx[None, :], (P, P))  # roles.ring_index(px, P)

    def shift(self, buf, axis, lines=None, per_wavelet=None):
        """ring_shift.shift_len on every core (of the lines taking part), on the routes;
        `per_wavelet` 1: shift_acc's f32 partials, one per wavelet whatever `packed` says."""
        per_wavelet = per_wavelet or self.per_wavelet
        return cr.ring_transfer(self.table, buf, axis, axis.upper(), lines,
                                per_wavelet=per_wavelet, swap=self.swap and per_wavelet == 2,
                                pad=False)

    def all_reduce_x(self, buf, op=np.sum, per_wavelet=None, rounded=None):
        """line_tree.all_reduce along every row (buf: (P, P, n), n the length sent) on the
        traced tree routes (tests/line_tree_emulation.py): each chain member combines what
        arrives with its own vector and sends it on, a middle root takes its two sides one
        after the other (`drop`: a mutated root ignoring one), the root broadcasts. Values
        travel as wavelets (`per_wavelet` 1: f32 values); every add is rounded to the values'
        type (`rounded`); a max is exact."""
        per_wavelet = per_wavelet or self.per_wavelet

        def combine(a, b):
            if op is np.max:
                return np.maximum(a, b)
            return a + b if rounded is None else rounded(a + b)

        def wire(v):  # one vector onto the fabric and off it again (no pad added here)
            sent = cr.to_wavelets(v[None, None], per_wavelet, pad=False)
            return cr.from_wavelets(sent, v.shape, self.swap and per_wavelet == 2)[0, 0]

        return line_all_reduce(np.asarray(buf, dtype=np.float64), self.table, "x",
                               self.tree_root, combine, wire, prefix="T", drop=self.drop,
                               group=self.tree_group)


def wire(n, prm, mutation=None, name=""):
    """pe_program.csl's `name` (LT_WIRE, ...): packed, an odd length takes one pad element
    (the mutation "no pad NAME" drops it)."""
    return n + n % 2 if prm["packed"] and mutation != f"no pad {name}" else n


def padded(buf, n):  # the buffer's first n elements sent: its values, then zero pads
    extra = n - buf.shape[-1]
    return np.concatenate([buf, np.zeros(buf.shape[:-1] + (extra,))], -1) if extra else buf


def widest_weight(prm):  # pe_program.csl's W_MAX: wbuf, the weights' shared receive buffer
    dt, cq, ckv, ft = prm["dt"], prm["cq"], prm["ckv"], prm["ft"]
    return max(dt * (cq + 2 * ckv), cq * dt, dt * 2 * ft, wire(ft * dt, prm, name="FD_WIRE"))


def initial_state(sym, prm, mutation=None):
    """Each core's memory as the launcher leaves it before the first run: the symbols it
    writes (down's weight in its FD_WIRE array: a zero pad when packed and odd), and the
    program's buffers that carry data from one run to the next if the program lets them
    (xr, the residual stream; wbuf, the weights' other buffer)."""
    P = prm["P"]
    st = {name: np.array(v, dtype=np.float64).reshape(P, P, -1) for name, v in sym.items()}
    st["wd"] = padded(st["wd"], wire(prm["ft"] * prm["dt"], prm, mutation, "FD_WIRE"))
    st["xr"] = np.zeros_like(st["x"])
    st["wbuf"] = np.zeros((P, P, widest_weight(prm)))
    return st


def emulate(st, prm, mutation=None):
    """One run of the program on the core state `st` (updated in place, as the cores'
    memory: the next run starts from what this one leaves). Returns the layer's output
    (the exported `out`, natural layout)."""
    P, lt, dt, cq, ckv, ft, rep, heads, kvh, hd, tokens, causal = (
        prm[k] for k in ("P", "lt", "dt", "cq", "ckv", "ft", "rep", "heads", "kvh", "hd",
                         "tokens", "causal"))
    W = cq + 2 * ckv
    acc32 = bool(prm["acc32"])
    drop = mutation[-1] if mutation in ("root drops -", "root drops +") else None
    g = Grid(P, 2 if prm["packed"] else 1, swap=mutation == "swapped halves",
             tree_group=prm["gx"], tree_root="middle" if prm["tree_middle"] else "edge",
             drop=drop)
    # acc_t: f32 under acc32 (the mutation "fp16 accumulators" keeps fp16 there); the trees
    # and the partials move f32 one per wavelet (TREE_PACKED, shift_acc), fp16 as packed
    acc_t = np.float32 if acc32 and mutation != "fp16 accumulators" else np.float16
    acc_wavelet = 1 if acc32 else g.per_wavelet

    def ra(v):  # a value stored in an accumulator (acc_t)
        return np.asarray(v).astype(acc_t).astype(np.float64)

    def f16(v):  # a value stored in an fp16 array
        return np.asarray(v).astype(np.float16).astype(np.float64)

    def f32(v):  # a scalar computed in f32 (the program's f32 locals)
        return np.asarray(v).astype(np.float32).astype(np.float64)

    f = lambda name: st[name]  # noqa: E731
    x, consts = f("x"), f("consts")
    res = "x" if mutation == "residual into x" else "xr"  # where the residual stream goes
    cells = [(i, j) for i in range(P) for j in range(P)]

    def head_of(b, e):
        gg = (b * ckv + e) // hd
        return 0 if gg >= kvh else gg

    def block(i, j, step):
        if mutation == "block without lrow":
            return (g.lcol[i, j] + step) % P
        return (g.lrow[i, j] + g.lcol[i, j] + step) % P

    def tree_wire(n, name):  # LT_WIRE, HL_WIRE: padded only when the tree is packed
        return n if acc32 else wire(n, prm, mutation, name)

    def all_reduce(buf, op):  # xtree.all_reduce on acc_t values
        return g.all_reduce_x(buf, op, acc_wavelet, ra)

    def rms_local(src):  # an f32 sum per token into ss (LT_WIRE: the pad stays zero)
        return padded(ra(f32((src.reshape(P, P, lt, dt) ** 2).sum(-1))),
                      tree_wire(lt, "LT_WIRE"))

    def all_reduce_heads(v, op):  # hmax / hsum (HL_WIRE) through the row tree
        hl = heads * lt
        out = all_reduce(padded(v.reshape(P, P, hl), tree_wire(hl, "HL_WIRE")), op)
        return out[..., :hl].reshape(v.shape)

    def rms_apply(src, ss, gain):
        ss = ss[..., :lt]
        scale = f32(1.0 / np.sqrt(ss * consts[..., :1] + consts[..., 1:2]))  # (P, P, lt)
        return f16(src.reshape(P, P, lt, dt) * scale[..., None]
                   * gain[:, :, None, :]).reshape(P, P, -1)

    def matmul(a, b, m, k, n, c=None):  # per core: c (+)= a[m x k] @ b[k x n], one FMAC per k
        a = a[..., :m * k].reshape(P, P, m, k)
        b = b[..., :k * n].reshape(P, P, k, n)
        c = np.zeros((P, P, m, n)) if c is None else c.reshape(P, P, m, n)
        for kk in range(k):
            c = ra(c + a[..., :, kk:kk + 1] * b[..., kk:kk + 1, :])
        return c.reshape(P, P, -1)

    class Moving:
        """The operand moving up the columns (w_cur / w_next). A weight (`home`: its array
        in the core state) moves between its array and the shared wbuf, as the program's
        pointers do, and makes a P-th shift back home (w_shifts, weights_home); an
        activation (K, V) is a plain array, dropped after its loop."""

        def __init__(self, home=None, n=0, data=None):
            self.home, self.cur, self.nxt, self.n, self.data_ = home, home, "wbuf", n, data

        def data(self):
            return st[self.cur][..., :self.n] if self.home else self.data_

        def shifts(self, step):  # w_shifts
            last = self.home is not None and P > 1 and mutation != "no P-th shift"
            return step < P - 1 or last

        def shift(self):  # yring.shift_len(w_cur, w_next, w_len), then swap_w
            if self.home is None:
                self.data_ = g.shift(self.data_, "y")
                return
            st[self.nxt][..., :self.n] = g.shift(st[self.cur][..., :self.n], "y")
            self.cur, self.nxt = self.nxt, self.cur

        def back_home(self):  # weights_home: odd P leaves the tile in wbuf
            if self.home and P > 1 and P % 2 == 1 and mutation != "no odd-P copy":
                st[self.home][..., :self.n] = st[self.cur][..., :self.n]
                self.cur = self.home

    def weight(name):
        return Moving(home=name, n=st[name].shape[-1])

    def stationary(mac, w, plen):  # start_stationary / stationary_step / stationary_joined
        arrived = None
        for step in range(P):
            prod = mac(w.data(), step)[..., :plen]
            if step > 0 and mutation != "partial not added":
                prod = ra(prod + arrived)  # @fadds (acc32) / @faddh
            if w.shifts(step):  # W moves while the product is computed
                w.shift()
            if step == P - 1:
                w.back_home()
                return prod
            arrived = g.shift(prod, "x", per_wavelet=acc_wavelet)  # xring.shift_acc
            if mutation == "fp16 partials":  # sent as fp16 on the wire
                arrived = f16(arrived)

    def cannon(mac, a, w, acc):  # start_cannon / cannon_step / arrive
        for step in range(P):
            acc = mac(a, w.data(), acc, step)
            if w.shifts(step):
                w.shift()
            if step == P - 1:
                w.back_home()
                return acc
            a = g.shift(a, "x")

    # phase 0-1: rmsnorm 1, QKV MeshGEMM (activation-stationary)
    h = rms_apply(x, all_reduce(rms_local(x), np.sum), f("norm1"))
    qkv = stationary(lambda w, s: matmul(h, w, lt, dt, W), weight("wqkv"), lt * W)
    # phase 2: bias_rope_split, in acc_t; the split writes fp16
    qkv = ra(qkv.reshape(P, P, lt, W) + f("bqkv")[:, :, None, :])
    rope = f("rope").reshape(P, P, 2, lt, ckv)
    for m in range(0, ckv, 2):
        c, s = rope[:, :, 0, :, m], rope[:, :, 1, :, m]
        pairs = [(cq + m, cq + m + 1)] + [(m * rep + r, (m + 1) * rep + r) for r in range(rep)]
        for i0, i1 in pairs:
            a, b = qkv[..., i0].copy(), qkv[..., i1].copy()
            qkv[..., i0] = ra(ra(a * c) - ra(b * s))
            qkv[..., i1] = ra(ra(b * c) + ra(a * s))
    amov = f16(qkv[..., :cq].reshape(P, P, -1))
    kv = f16(np.concatenate([qkv[..., cq:cq + ckv].reshape(P, P, -1),
                             qkv[..., cq + ckv:].reshape(P, P, -1)], -1))
    # phases 2-4: the three shears (start_shear counts), lines with steps left take part
    shears = (("y", (P - g.lcol[0]) % P), ("x", g.lrow[:, 0]), ("y", g.lcol[0]))
    if mutation == "last shear skipped":
        shears = shears[:2]
    for axis, count in shears:
        for t in range(int(count.max()) if P > 1 else 0):
            kv = g.shift(kv, axis, lines=count > t)
    k, v = kv[..., :lt * ckv], kv[..., lt * ckv:]

    # phase 5: scores Cannon, scores_mac: per (feature, token, query head) one FMAC over the
    # lt keys, at the DSD offsets and strides the program uses
    lanes = np.arange(lt)

    def scores_mac(q, kk, acc, step):
        acc = acc.copy()
        for i, j in cells:
            b, flat = block(i, j, step), acc[i, j].reshape(-1)
            for e in range(ckv):
                kcol = kk[i, j][e + ckv * lanes]  # feature_col
                gg = head_of(b, e)
                for a in range(lt):
                    for r in range(rep):
                        row = ((gg * rep + r) * lt + a) * lt + lanes
                        flat[row] = ra(flat[row] + kcol * q[i, j][a * cq + e * rep + r])
        return acc

    scores = cannon(scores_mac, amov, Moving(data=k), np.zeros((P, P, heads, lt, lt)))
    # phase 6: softmax_mask_scale_max
    qpos = g.lrow[..., None] * lt + np.arange(lt)  # (P, P, lt)
    key_block = g.lcol if mutation == "key block +lcol" else (P - g.lcol) % P
    kpos = key_block[..., None] * lt + np.arange(lt)
    masked = ((kpos[:, :, None, :] > qpos[..., None]) & bool(causal)) | (
        kpos[:, :, None, :] >= tokens)
    scores = np.where(masked[:, :, None], LOWEST,
                      ra(scores * ra(consts[..., 2, None, None, None])))
    hmax = all_reduce_heads(np.where(masked[:, :, None], LOWEST, scores).max(-1), np.max)
    # phase 7: softmax_exp_sum (exp at the accumulate width, an f32 sum per row)
    scores = np.where(scores == LOWEST, 0.0, ra(np.exp(ra(scores - hmax[..., None]))))
    hsum = all_reduce_heads(ra(f32(scores.sum(-1))), np.sum)
    # phase 8: softmax_normalize (fp16 probabilities), P x V (activation-stationary), pv_mac
    probs = f16(scores * ra(1.0 / hsum)[..., None])

    def pv_mac(vv, step):  # one FMAC over lt tokens per (feature, query head, key)
        out = np.zeros((P, P, lt * cq))
        for i, j in cells:
            b, pflat = block(i, j, step), probs[i, j].reshape(-1)
            for e in range(ckv):
                gg = head_of(b, e)
                for r in range(rep):
                    ocol = e * rep + r + cq * lanes  # query_col
                    for t in range(lt):
                        pcol = pflat[(gg * rep + r) * lt * lt + t + lt * lanes]  # key_col
                        out[i, j, ocol] = ra(out[i, j, ocol] + pcol * vv[i, j][t * ckv + e])
        return out

    o = f16(stationary(pv_mac, Moving(data=v), lt * cq))  # to fp16: Cannon's moving operand
    # phase 9: O MeshGEMM (Cannon), then residual into xr (x stays the input)
    st[res] = f16(x + cannon(lambda a, w, acc, s: matmul(a, w, lt, cq, dt, acc), o,
                             weight("wo"), np.zeros((P, P, lt * dt))))
    # phases 10-11: rmsnorm 2, gate|up (activation-stationary)
    h = rms_apply(st[res], all_reduce(rms_local(st[res]), np.sum), f("norm2"))
    gu = stationary(lambda w, s: matmul(h, w, lt, dt, 2 * ft), weight("wgu"), lt * 2 * ft)
    # phase 12: silu_times_up (acc_t in, fp16 out), down MeshGEMM (Cannon); phase 13: residual
    gu = gu.reshape(P, P, lt, 2 * ft)
    gate = gu[..., :ft]
    act = f16(gate / ra(1 + ra(np.exp(-gate))) * gu[..., ft:]).reshape(P, P, -1)
    act = padded(act, wire(lt * ft, prm, mutation, "LF_WIRE"))  # silu_times_up zeroes a pad
    st[res] = f16(st[res] + cannon(lambda a, w, acc, s: matmul(a, w, lt, ft, dt, acc), act,
                                   weight("wd"), np.zeros((P, P, lt * dt))))
    return st[res].reshape(P, P, lt, dt)


def run_once(sym, prm, mutation=None):
    """One run from the launcher's state."""
    return emulate(initial_state(sym, prm, mutation), prm, mutation)


CASES = [("tiny-llama", 4, 16), ("tiny-llama", 3, 10), ("tiny-llama", 5, 13),
         ("tiny-llama", 1, 6), ("no-gqa-bias", 4, 12)]


def _arch(name):
    if name == "no-gqa-bias":
        return replace(arch("tiny-llama"), kv_heads=4, qkv_bias=True)
    if name == "odd-ffn":  # on 3x3 with 9 tokens: lt, heads * lt, ft * dt, lt * ft all odd
        return replace(arch("tiny-llama"), ffn=87)
    return arch(name)


@pytest.mark.parametrize("model,p,tokens", CASES)
def test_prefill_program_logic_on_launcher_inputs_matches_reference(model, p, tokens):
    a = _arch(model)
    sym, expected = prefill_inputs(a, p, tokens, seed=2, preset="full-model")
    got = unpack_activations(run_once(sym, prefill_params(a, p, tokens, preset="full-model")), a,
                             tokens)
    check = compare(got, expected, rtol=2e-2, atol=1e-3)
    assert check.passed, check


@pytest.mark.parametrize("model,p,tokens", [("tiny-llama", 4, 16), ("tiny-llama", 3, 10)])
def test_prefill_program_under_paper_kernels_runs_the_authors_layer(model, p, tokens):
    # paper-kernels: one head of hidden width, no causal mask (presets); the kernel's params
    # and the launcher's inputs and reference follow the preset (sdk.inputs)
    a = _arch(model)
    prm = prefill_params(a, p, tokens, preset="paper-kernels")
    assert (prm["heads"], prm["kvh"], prm["hd"], prm["causal"]) == (1, 1, a.hidden, 0)
    sym, expected = prefill_inputs(a, p, tokens, seed=2, preset="paper-kernels")
    got = unpack_activations(run_once(sym, prm), a, tokens)
    check = compare(got, expected, rtol=2e-2, atol=1e-3)
    assert check.passed, check
    # the same kernel with the mask on gives another layer: the switch is live
    masked = unpack_activations(run_once(sym, {**prm, "causal": 1}), a, tokens)
    assert not compare(masked, expected, rtol=2e-2, atol=1e-3).passed


@pytest.mark.parametrize("mutation", ["block without lrow", "partial not added",
                                      "last shear skipped", "key block +lcol"])
def test_prefill_emulation_catches_a_wrong_formula(mutation):
    a = arch("tiny-llama")
    sym, expected = prefill_inputs(a, 4, 16, preset="full-model")
    got = unpack_activations(run_once(sym, prefill_params(a, 4, 16, preset="full-model"), mutation),
                             a, 16)
    assert not compare(got, expected, rtol=2e-2, atol=1e-3).passed


@pytest.mark.parametrize("p,tokens", [(3, 10), (4, 16), (5, 13), (7, 21)])
def test_paper_kernels_row_all_reduces_are_one_chain_per_side_into_the_middle(p, tokens):
    # The params compile the authors' row all-reduce (presets.prefill_row_tree): one group of
    # the whole row (gx = P: one level) rooted in its middle, as meshsim's prefill_layer runs
    # it; the emulation runs those routes. A root that drops either side's stream fails.
    a = arch("tiny-llama")
    prm = prefill_params(a, p, tokens, preset="paper-kernels")
    assert (prm["gx"], prm["tree_middle"]) == (p, 1)
    full = prefill_params(a, p, tokens, preset="full-model")
    assert (full["gx"], full["tree_middle"]) == (group_size(p, 2), 0)
    roles = [cr.tree_role(q, p, prm["gx"], "middle") for q in range(p)]
    assert [q for q, r in enumerate(roles) if r.l1_root] == \
        [q for q, r in enumerate(roles) if r.is_root] == [tree_root(p, 1, "middle")]
    sym, expected = prefill_inputs(a, p, tokens, seed=2, preset="paper-kernels")
    assert _check(run_once(sym, prm), a, tokens, expected).passed
    for side in "-+":
        with np.errstate(over="ignore", invalid="ignore"):  # fp16 sums may overflow then
            got = run_once(sym, prm, f"root drops {side}")
        assert not _check(got, a, tokens, expected).passed, side


def _check(out, a, tokens, expected):
    return compare(unpack_activations(out, a, tokens), expected, rtol=2e-2, atol=1e-3)


@pytest.mark.parametrize("model,p,tokens,preset", [
    ("tiny-llama", 4, 16, "full-model"), ("tiny-llama", 3, 10, "full-model"),
    ("tiny-llama", 5, 13, "full-model"), ("tiny-llama", 1, 6, "full-model"),
    ("tiny-llama", 3, 10, "paper-kernels"), ("odd-ffn", 3, 9, "paper-kernels"),
    ("tiny-llama", 7, 21, "paper-kernels")])  # 7x7: odd P and all four pads (README's check)
def test_prefill_program_runs_again_from_the_state_it_leaves(model, p, tokens, preset):
    # The launcher checks every launch (warm-up + repeats): two runs in a row on the same
    # cores must both give the reference, and leave x and every weight as the host wrote them
    # (even P: the P-th shifts; odd P: the copies out of wbuf too).
    a = _arch(model)
    prm = prefill_params(a, p, tokens, preset=preset)
    sym, expected = prefill_inputs(a, p, tokens, seed=2, preset=preset)
    st = initial_state(sym, prm)
    written = {k: st[k].copy() for k in ("x", "wqkv", "wo", "wgu", "wd")}
    for run in range(2):
        check = _check(emulate(st, prm), a, tokens, expected)
        assert check.passed, (run, check)
        for name, value in written.items():
            assert np.array_equal(st[name], value), (run, name)


# The 4x4 case of a missing P-th shift runs the bias model: tiny-llama's weights left two
# blocks round (P-2 shifts) only relabel its heads (two blocks a head, same RoPE angles), a
# symmetry of the layer that a qkv bias breaks (the positive test above compares the weights).
@pytest.mark.parametrize("mutation,model,p,tokens", [
    ("no P-th shift", "no-gqa-bias", 4, 12), ("no P-th shift", "tiny-llama", 3, 10),
    ("no odd-P copy", "tiny-llama", 3, 10), ("no odd-P copy", "tiny-llama", 5, 13),
    ("residual into x", "tiny-llama", 4, 16)])
def test_a_program_that_does_not_restore_fails_its_second_run(mutation, model, p, tokens):
    a = _arch(model)
    prm = prefill_params(a, p, tokens, preset="full-model")
    sym, expected = prefill_inputs(a, p, tokens, preset="full-model")
    st = initial_state(sym, prm)
    assert _check(emulate(st, prm, mutation), a, tokens, expected).passed
    assert not _check(emulate(st, prm, mutation), a, tokens, expected).passed


def test_packed_transfers_move_whole_wavelets_with_the_programs_pads():
    # paper-kernels: every ring shift and row all-reduce moves two fp16 per wavelet, as
    # meshsim charges it (toolchain.packed_fabric -> params' packed); odd-ffn on 3x3 has an
    # odd length of each kind (LT_WIRE, HL_WIRE, FD_WIRE, LF_WIRE), which the program pads.
    a = _arch("odd-ffn")
    prm = prefill_params(a, 3, 9, preset="paper-kernels")
    assert prm["packed"] == 1 and prefill_params(a, 3, 9, preset="full-model")["packed"] == 0
    lt, ft, dt = prm["lt"], prm["ft"], prm["dt"]
    assert lt % 2 == prm["heads"] * lt % 2 == ft * dt % 2 == lt * ft % 2 == 1
    sym, expected = prefill_inputs(a, 3, 9, seed=2, preset="paper-kernels")
    assert _check(run_once(sym, prm), a, 9, expected).passed
    for name in ("LT_WIRE", "HL_WIRE", "FD_WIRE", "LF_WIRE"):  # each pad is needed
        with pytest.raises(ValueError, match="even"):
            run_once(sym, prm, f"no pad {name}")
    # a pair read the wrong way round gives another layer (overflowing on the way)
    with np.errstate(all="ignore"):
        swapped = run_once(sym, prm, "swapped halves")
    assert not _check(swapped, a, 9, expected).passed


def cancelling_inputs(p=2, tokens=8, big=512.0):
    """tiny-llama inputs whose q|k|v sums cancel across hidden blocks: feature 0 and its twin
    in the next block (feature hidden / p) hold the same x and norm, and their q|k|v weight
    rows are +big and -big (signs drawn). The exact sum never sees them, but every partial
    sum holds about big * |h| (~1e3): fp16 keeps it to 0.5, f32 to 6e-5."""
    a = arch("tiny-llama")
    w = random_weights(a, 3)
    x = np.random.default_rng(4).standard_normal((tokens, a.hidden)).astype(np.float16)
    twin = a.hidden // p
    x[:, twin] = x[:, 0]
    norm1 = w.norm1.copy()
    norm1[twin] = norm1[0]
    rng = np.random.default_rng(5)
    mats = {}
    for name in ("wq", "wk", "wv"):
        m = getattr(w, name).copy()
        row = (big * rng.choice([-1.0, 1.0], m.shape[1])).astype(np.float16)
        m[0], m[twin] = row, -row
        mats[name] = m
    w = replace(w, norm1=norm1, **mats)
    return a, prefill_inputs(a, p, tokens, draws=(w, x), preset="full-model")


def test_full_model_accumulates_and_sends_partials_in_f32():
    # acc32 (full-model): @fmachs into f32 and f32 partials one per wavelet along the rows.
    # On inputs whose partial sums are ~1e3 but cancel, the f32 program meets the launcher's
    # check with a wide margin; accumulating in fp16, or sending the partials as fp16, fails
    # it (the partials' rounding survives the cancellation).
    a, (sym, expected) = cancelling_inputs()
    prm = prefill_params(a, 2, 8, preset="full-model")
    assert prm["acc32"] == 1 and prm["packed"] == 0
    how = launch.layer_check(prm)
    assert "fp32 (@fmachs)" in how["reference"]

    def err(mutation=None):
        got = unpack_activations(run_once(sym, prm, mutation), a, 8)
        check = compare(got, expected, rtol=how["rtol"], atol=how["atol"])
        return check.passed, check.max_rel_err

    ok, exact = err()
    assert ok and exact < 2e-3
    for mutation in ("fp16 accumulators", "fp16 partials"):
        ok, lost = err(mutation)
        assert not ok and lost > 2 * how["rtol"] and lost > 30 * exact, (mutation, lost)


def test_the_launcher_reads_the_exported_output():
    # run.py reads "out" (and checks every launch); the program exports it and the layout
    # names it, beside every symbol the launcher writes.
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "kernels" / "Prefill"
    text = lambda name: (root / name).read_text()  # noqa: E731
    program = set(re.findall(r'@export_symbol\(\w+, "(\w+)"\)', text("pe_program.csl")))
    layout = set(re.findall(r'@export_name\("(\w+)", \[\*\]', text("layout.csl")))
    sym, _ = prefill_inputs(arch("tiny-llama"), 4, 16, preset="full-model")
    assert program == layout and set(sym) | {"out", "time_buf"} == program
    launcher = text("run.py")
    assert 'get_f16("out"' in launcher and "recheck" not in launcher
    # out is fp16 under either accumulate (the accumulators stay on the device); the check
    # names the compile's accumulate
    assert "layer_check(params)" in launcher
    assert all(f'@export_name("{name}", [*]f16' in text("layout.csl")
               for name in ("out", "x", "wqkv", "wo", "wgu", "wd"))


@pytest.mark.parametrize("model,p,tokens,preset", [
    ("tiny-llama", 4, 16, "full-model"), ("llama3-8b", 720, 4096, "full-model"),
    ("qwen2-72b", 480, 4096, "full-model"), ("llama3-8b", 720, 4096, "paper-kernels"),
    ("odd-ffn", 3, 9, "paper-kernels"), ("odd-ffn", 3, 9, "full-model")])
def test_program_memory_is_what_meshsim_plans(model, p, tokens, preset):
    # Every fp16 and acc_t array pe_program.csl declares (sizes from its own constant
    # expressions, evaluated with the kernel's params), weighed in bytes (acc_t: 4 under
    # acc32, else 2), against meshsim's PrefillLayout as prefill_layer builds it and allocates
    # it (packed when the preset's hardware moves two fp16 per wavelet; its accumulators at
    # hw.acc_bits): the plan that decides whether a grid fits 48 KB is the kernel's, pads
    # included. (The 1-element DSD placeholders, scratch*, are not planned.)
    import re
    from pathlib import Path

    from waferrepro import presets
    from waferrepro.hardware import WSE2
    from waferrepro.meshsim.prefill_layout import PrefillLayout

    text = (Path(__file__).resolve().parents[1] / "kernels" / "Prefill" / "pe_program.csl"
            ).read_text()
    prm = prefill_params(_arch(model), p, tokens, preset=preset)
    env = {**prm, "max2": max}
    for name, expr in re.findall(r"^const (\w+): (?:i16|bool) = ([^;]+);", text, re.M):
        expr = re.sub(r"^if \((\w+)\) (.+) else (.+)$", r"(\2) if \1 else (\3)", expr)
        env[name] = eval(expr.replace("!", "not "), {}, env)  # noqa: S307 - the kernel's own
    arrays = re.findall(r"^var (\w+) = @zeros\(\[([^\]]+)\](f16|acc_t)\);", text, re.M)
    acc_bytes = 4 if prm["acc32"] else 2
    size = {name: eval(n, {}, env) for name, n, _ in arrays}  # noqa: S307
    kernel = sum(size[name] * (2 if t == "f16" else acc_bytes) for name, _, t in arrays
                 if not name.startswith("scratch"))
    hw = presets.hardware(WSE2, preset)
    assert acc_bytes == hw.acc_bits // 8
    lay = PrefillLayout.on(hw, presets.attention_arch(_arch(model), preset), p, tokens)
    acc = lay.accumulator_elems_per_core()
    assert kernel == (2 * (lay.weight_elems_per_core() + lay.buffer_elems_per_core() - acc)
                      + acc_bytes * acc)
    assert acc == sum(size[name] for name, _, t in arrays
                      if t == "acc_t" and not name.startswith("scratch"))
    if model == "odd-ffn" and hw.fp16_per_wavelet == 2:  # the four pads are there
        assert env["FD_WIRE"] == env["ft"] * env["dt"] + 1 and env["LT_WIRE"] == env["lt"] + 1


def test_program_phases_follow_the_twins_timeline():
    # pe_program.csl's start()/advance() name each phase by meshsim's timeline label; the
    # phases must come in the twin's order, none missing.
    import re
    from pathlib import Path

    from waferrepro.hardware import WSE2
    from waferrepro.meshsim.prefill import prefill_layer

    def phases(labels):
        out = []
        for label in labels:
            name = label.split(":")[0].strip()
            if not out or out[-1] != name:
                out.append(name)
        return out

    fab, _ = prefill_layer(WSE2, arch("tiny-llama"), 4, 16)
    twin = phases(step.label for step in fab.timeline.steps)
    text = (Path(__file__).resolve().parents[1] / "kernels" / "Prefill" / "pe_program.csl"
            ).read_text()
    body = text[text.index("fn run() void {"):text.index("task x_sent()")]
    comments = re.findall(r"//\s*(.+)$", body, re.M)
    program = phases(c for c in comments if c.split(":")[0].strip() in set(twin))
    assert program == twin

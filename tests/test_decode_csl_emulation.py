"""The Decode CSL program's arithmetic, transcribed core by core into NumPy and run on the
inputs its launcher sends (waferrepro.sdk.inputs): the index formulas of
kernels/Decode/pe_program.csl (RoPE pairs, grouped queries, head map, cache moves, masked
softmax) and the host's data layout must give the reference layer's output.

Communication moves wavelets on the traced routes (waferrepro.sdk.routes): every all-reduce is
line_tree.csl's (chains into the line's root, its broadcast back) on the y and x tree colors,
in the root form the params compile (`tree_middle`, the preset's tree_root: middle roots under
paper-kernels, both sides reducing towards them, as the authors' Decode; edge under
full-model); paper-kernels cases run on lines of 5 and more, where the forms differ, and a
root dropping a side or edge emulation on middle routes fails. The KV shift is
neighbour_shift.csl's, one token one row south. Packed (the kernel's `packed`, the preset's
two fp16 per wavelet) each vector travels as pairs
(routes.to_wavelets / from_wavelets); the kernel's buffers carry their own pad element
(SS_WIRE, HEADS_WIRE, SCORES_WIRE, DY_WIRE: zero, reduced with the rest, never read), so a
transfer never adds one: a kernel without the pads (odd lengths) is refused, and a pair read
the wrong way round gives a wrong layer.

Scores: token-major (scores[t * heads + hd]), and each row's x tree reduces only its own
n * heads (scores_len), counted on the wire and held to what meshsim's decode_layer charges
for the step (heads * n_max, the busiest row's): reducing heads * cap fails that, a wrong
stride in scores_local a wrong layer.

Accumulate (the preset's `accumulate`, decode_params' `acc32`): the layer runs in the
program's own element types (kernel_types): under full-model every partial sum -- ss, qkv,
scores, hmax, hsum, o, attn, gate|up, down -- is f32, each FMAC (@fmachs) and tree add
(@fadds) rounded to f32, the trees moving one f32 per wavelet; fp16 elsewhere (h, the cache,
the residual stream, the probabilities, the output). Partial sums that cancel (+-64 parts)
are where fp16 loses digits f32 keeps: accumulating them or sending them in fp16 fails the
fp32 check there.

This is no substitute for compiling it: it checks the program's logic, its routes and the host
layout, not the CSL spelling. Each function names the CSL function it transcribes; keep them
in step.
"""

import re
from pathlib import Path

import numpy as np
import pytest
from line_tree_emulation import line_all_reduce

from waferrepro import presets
from waferrepro.check import compare, tolerance
from waferrepro.hardware import WSE2
from waferrepro.models import arch
from waferrepro.sdk import launch
from waferrepro.sdk import routes as cr
from waferrepro.sdk.inputs import decode_inputs, decode_params

LOWEST = -65504.0  # fp16's lowest: softmax_scale_and_max's start
PROGRAM = Path(__file__).resolve().parents[1] / "kernels" / "Decode" / "pe_program.csl"
F16_SYMBOLS = ("x", "wqkv", "bqkv", "wo", "wgu", "wd", "norm1", "norm2", "kcache", "vcache",
               "rope")


def tree_packed(p):
    """pe_program.csl's TREE_PACKED: fp16 partial sums pack with the preset, f32 ones
    (`acc32`) never."""
    return bool(p["packed"]) and not p["acc32"]


def wire_lengths(p, pad=True):
    """pe_program.csl's SS_WIRE, HEADS_WIRE, SCORES_WIRE, DY_WIRE: when the trees pack, an
    odd all-reduced length gets one pad element (`pad=False`: a kernel without them)."""
    def wire(n):
        return n + n % 2 if tree_packed(p) and pad else n

    return {"ss": wire(1), "heads": wire(p["heads"]), "scores": wire(p["heads"] * p["cap"]),
            "dy": wire(p["dy"])}


def scores_len(p, n, pad=True):
    """pe_program.csl's scores_len(): the scores all-reduce of a row whose cores hold n tokens
    after the step's cache moves moves n * heads values (padded to even when the trees pack);
    SCORES_WIRE above is the buffer, for the largest n (cap)."""
    length = n * p["heads"]
    return length + length % 2 if tree_packed(p) and pad else length


def kernel_types(p):
    """The element types pe_program.csl holds: acc_t (f32 under `acc32`, else fp16) for the
    partial sums, fp16 for the rest."""
    return {"acc": np.float32 if p["acc32"] else np.float16, "f16": np.float16}


EXACT = {"acc": None, "f16": None}  # float64 throughout: the data movement alone


def held(v, dtype):
    """v as the program stores it: rounded to `dtype` (None: float64, exact enough to test
    the data movement)."""
    return np.asarray(v, dtype=np.float64) if dtype is None else np.asarray(v).astype(dtype)


def mac(acc, vec, scalar, dtype):
    """One @fmachs / @fmach: acc += vec * scalar (fp16 x fp16 is exact in float64), one
    rounding to the accumulator's type per FMAC."""
    return held(acc.astype(np.float64) + vec.astype(np.float64) * float(scalar), dtype)


def gemv(vec, w, rows, cols, types):
    """pe_program.csl's gemv / gemv_acc: out[cols] = vec[rows] @ w[rows x cols], one FMAC per
    row into the cleared accumulator; the scalar is rounded to fp16 at the use (a no-op for
    h, already fp16)."""
    w = w.reshape(rows, cols)
    out = held(np.zeros(cols), types["acc"])
    for r in range(rows):
        out = mac(out, w[r], held(vec[r], types["f16"]), types["acc"])
    return out


class Core:
    """One core's memory, as pe_program.csl declares it, in the program's element types
    (`types`; EXACT: float64)."""

    def __init__(self, sym, i, j, p, wire, types):
        acc = types["acc"]
        for name, arr in sym.items():
            value = np.array(arr[i, j]).reshape(-1)
            if name in ("head_of", "state"):
                value = value.astype(np.int64)
            elif name in F16_SYMBOLS:
                value = held(value, types["f16"])
            else:  # consts: f32
                value = held(value, None if acc is None else np.float32)
            setattr(self, name, value)
        zeros = lambda n, dtype=acc: held(np.zeros(n), dtype)  # noqa: E731
        self.h = zeros(p["dy"], types["f16"])
        self.qkv = zeros(p["cq"] + 2 * p["ckv"])
        self.o, self.gu = zeros(p["cq"]), zeros(2 * p["cf"])
        self.ss = zeros(wire["ss"])
        self.scores = zeros(wire["scores"])
        self.hmax, self.hsum = zeros(wire["heads"]), zeros(wire["heads"])
        self.attn, self.down = zeros(wire["dy"]), zeros(wire["dy"])
        self.n = 0


class Fabric:
    """The kernel's routes (y tree, x tree, KV shift on one table: no color configured twice
    on a router) and how values cross them: the trees carry `tree_per_wavelet` values to a
    32-bit wavelet (2: fp16 pairs, TREE_PACKED), the KV shift `kv_per_wavelet` fp16;
    `swap` reads a pair's halves the wrong way round. `acc`: the type the trees add in
    (line_tree's elem_t: np.float32 with f32_values, @fadds; np.float16, @faddh; None:
    float64); `wire_dtype`: the values' type on the fabric (default `acc`). `root`: the trees'
    form as compiled (layout.csl's tree_middle: routes and program); mutations: `emulate_root`
    runs the program of another form on those routes, `drop` ("-" or "+") a two-sided root
    that ignores that side."""

    def __init__(self, px, py, tree_per_wavelet=1, kv_per_wavelet=1, swap=False, acc=None,
                 wire_dtype=None, root="edge", emulate_root=None, drop=None):
        self.px, self.py, self.swap = px, py, swap
        self.root, self.emulate_root, self.drop = root, emulate_root or root, drop
        self.log = None  # a list: every tree transfer's (values, wavelets) is appended to it
        self.tree_per_wavelet, self.kv_per_wavelet = tree_per_wavelet, kv_per_wavelet
        self.acc, self.wire_dtype = acc, wire_dtype or acc
        self.table = cr.RouteTable(px, py)
        cr.tree_routes(self.table, "y", prefix="Y", root=root)  # layout.csl: tree_middle
        cr.tree_routes(self.table, "x", prefix="X", root=root)
        cr.neighbour_routes(self.table)

    def wire(self, v, per_wavelet, dtype=None):
        """One vector onto the fabric and off it again; no pad is added (pad=False): the
        kernel's buffers hold theirs. A wavelet carries 32 bits: two f32 are refused."""
        if dtype is not None:
            if per_wavelet * np.dtype(dtype).itemsize > 4:
                raise ValueError(f"{per_wavelet} x {np.dtype(dtype).name} per wavelet: "
                                 "a wavelet carries 32 bits")
            v = v.astype(dtype)
        sent = cr.to_wavelets(v[None, None], per_wavelet, pad=False)
        return cr.from_wavelets(sent, v.shape, self.swap)[0, 0]

    def tree_wire(self, v):
        if self.log is not None:
            self.log.append((v.size, v.size // self.tree_per_wavelet))
        got = self.wire(v, self.tree_per_wavelet, self.wire_dtype)
        return got if self.acc is None else got.astype(self.acc)

    def all_reduce(self, vec, axis, op, lines=None):
        """line_tree.all_reduce on every line along `axis` of vec[y, x, :] (or on `lines`
        alone: line_all_reduce's): each chain member,
        from the chain's far end inward, sends its vector combined with what arrived
        (`relay`); a root combines what arrives (`absorb`); the line's root broadcasts.
        Every combination is rounded to the tree's element type (`acc`)."""
        def combine(a, b):
            out = op(a, b)
            return out if self.acc is None else out.astype(self.acc)

        v = vec if self.acc is None else vec.astype(self.acc)
        return line_all_reduce(v, self.table, axis, self.emulate_root, combine, self.tree_wire,
                               prefix=axis.upper(), drop=self.drop, lines=lines)

    def neighbour_shift(self, cores):
        """neighbour_shift.shift: rows that drop send their oldest token south on their send
        color, rows that take read it from the north (fp16, `kv_per_wavelet` a wavelet)."""
        for i in range(self.py):
            can_send, _, send, _ = cr.neighbour_role(i, self.py)
            for j in range(self.px):
                if cores[i][j].state[1] and can_send:
                    dx, dy = cr.deliver(self.table, j, i, send)
                    dest = cores[dy][dx]
                    assert cr.neighbour_role(dy, self.py)[3] == send and dest.state[2]
                    dest.moved_in = self.wire(cores[i][j].moved_out, self.kv_per_wavelet)
        for row in cores:
            for c in row:
                assert not c.state[2] or hasattr(c, "moved_in"), "a row takes what nobody sent"


def tree_form(p):
    """layout.csl's root form: middle when tree_middle is 1."""
    return "middle" if p["tree_middle"] else "edge"


def emulate(sym, p, pad=True, swap=False, per_wavelet=None, types=None, wire_dtype=None,
            moved=None, scores_length=None, score_stride=None, emulate_root=None, drop=None):
    """The program on every core of the grid; `pad=False`: without the pad elements,
    `swap`: pairs read the wrong way round (the device would not notice a pad turned
    nonzero, only the wrong layer: so, swapped, the pads are not checked here),
    `per_wavelet`: override the trees' packing (TREE_PACKED). `types`: the element types
    the program holds (kernel_types(p); default EXACT, float64: the data movement alone);
    `wire_dtype`: the partial sums' type on the fabric (a mutation: fp16 under acc32).
    `moved`: a dict filled with {row: [(values, wavelets) of each transfer]} of the scores
    all-reduce. Mutations: `scores_length(n)`, the length a row reduces (default
    scores_len); `score_stride`, scores_local's stride between tokens (default heads);
    `emulate_root`, `drop`: the trees' mutations (Fabric)."""
    types = types or EXACT
    acc, f16 = types["acc"], types["f16"]
    py, px = sym["x"].shape[:2]
    dy, cq, ckv, cf, rep, heads, cap = (p[k] for k in
                                        ("dy", "cq", "ckv", "cf", "rep", "heads", "cap"))
    W = cq + 2 * ckv
    wire = wire_lengths(p, pad)
    scores_length = scores_length or (lambda n: scores_len(p, n, pad))
    stride = score_stride or heads
    fabric = Fabric(px, py, per_wavelet or (2 if tree_packed(p) else 1),
                    2 if p["packed"] else 1, swap, acc, wire_dtype, tree_form(p), emulate_root,
                    drop)
    cores = [[Core(sym, i, j, p, wire, types) for j in range(px)] for i in range(py)]
    everyone = [c for row in cores for c in row]

    def all_reduce(name, axis, length, used, op=np.add, lines=None):
        # line_tree.all_reduce(buf, length) on every line, or on `lines` (rows) alone
        grid = np.stack([[getattr(c, name)[:length] for c in row] for row in cores])
        grid = fabric.all_reduce(grid, axis, op, lines)
        for i, row in enumerate(cores):
            if lines is not None and i not in lines:
                continue
            for j, c in enumerate(row):
                getattr(c, name)[:length] = grid[i, j]
                assert swap or not getattr(c, name)[used:length].any(), \
                    f"{name}'s pad is not zero"

    def rms_local(c, v):
        c.ss[0] = held(np.sum(v.astype(np.float64) ** 2), acc)

    def rms_apply(c, v, gain):
        scale = 1.0 / np.sqrt(float(c.ss[0]) * c.consts[0] + c.consts[1])
        c.h = held(v.astype(np.float64) * scale * getattr(c, gain), f16)

    for c in everyone:  # run
        rms_local(c, c.x)
    all_reduce("ss", "y", wire["ss"], 1)
    for c in everyone:  # phase 1
        rms_apply(c, c.x, "norm1")
        c.qkv[:] = gemv(c.h, c.wqkv, dy, W, types)
    all_reduce("qkv", "y", W, W)
    for c in everyone:  # phase 2: bias_and_rope (in qkv's type), then kv_start's outgoing token
        c.qkv = held(c.qkv.astype(np.float64) + c.bqkv, acc)

        def rotate(i0, i1, cs, sn):
            a, b = float(c.qkv[i0]), float(c.qkv[i1])
            c.qkv[i0], c.qkv[i1] = a * cs - b * sn, b * cs + a * sn

        for m in range(0, ckv, 2):
            cs, sn = float(c.rope[m]), float(c.rope[ckv + m])
            rotate(cq + m, cq + m + 1, cs, sn)
            for r in range(rep):
                rotate(m * rep + r, (m + 1) * rep + r, cs, sn)
        c.n = c.state[0]
        c.kcache, c.vcache = c.kcache.reshape(cap, ckv), c.vcache.reshape(cap, ckv)
        c.moved_out = np.concatenate([c.kcache[0], c.vcache[0]])
    fabric.neighbour_shift(cores)
    for c in everyone:  # phase 3: kv_update, scores_local
        def append_token(src, k_at, v_at):  # append_token / append_new: into the fp16 cache
            c.kcache[c.n] = held(src[k_at:k_at + ckv], f16)
            c.vcache[c.n] = held(src[v_at:v_at + ckv], f16)
            c.n += 1

        if c.state[1]:
            c.kcache[:c.n - 1], c.vcache[:c.n - 1] = c.kcache[1:c.n].copy(), c.vcache[1:c.n].copy()
            c.n -= 1
        if c.state[2]:
            append_token(c.moved_in, 0, ckv)
        if c.state[3]:
            append_token(c.qkv, cq, cq + ckv)
        if c.n:  # clears what the step reduces (scores_len: its pad too)
            c.scores[:scores_length(c.n)] = 0.0
        kflat, toks = c.kcache.reshape(-1), np.arange(c.n)
        for e in range(ckv):  # one FMAC over the n tokens per (feature, head): score_col
            kcol = kflat[e + ckv * toks]  # cache_col
            g = c.head_of[e]
            for r in range(rep):
                col = toks * stride + g * rep + r
                c.scores[col] = mac(c.scores[col], kcol, held(c.qkv[e * rep + r], f16), acc)
    for i, row in enumerate(cores):  # each row's x tree on its own n * heads
        n = row[0].n
        assert all(c.n == n for c in row), "a row's cores must agree on the length"
        length = scores_length(n)
        if length == 0:
            continue  # advance activates x_done: nothing to reduce
        fabric.log = None if moved is None else moved.setdefault(i, [])
        all_reduce("scores", "x", length, heads * n, lines=[i])
        fabric.log = None
    for c in everyone:  # phase 4: softmax_scale_and_max (hmax[heads], the pad, untouched)
        for hd in range(heads):
            col = np.arange(c.n) * heads + hd
            s = held(c.scores[col] * c.consts[2], acc)
            c.scores[col] = s
            c.hmax[hd] = max(LOWEST, s.max()) if c.n else LOWEST
    all_reduce("hmax", "y", wire["heads"], heads, np.maximum)
    for c in everyone:  # phase 5: softmax_exp_and_sum (reads hmax[:heads] only)
        for hd in range(heads):
            col = np.arange(c.n) * heads + hd
            e = held(np.exp(c.scores[col].astype(np.float64) - float(c.hmax[hd])), acc)
            c.scores[col] = e
            c.hsum[hd] = held(e.astype(np.float64).sum(), acc)
    all_reduce("hsum", "y", wire["heads"], heads)
    for c in everyone:  # phase 6: attend_local
        # one reciprocal a head into hsum, then the probabilities: in place, or (acc32)
        # narrowed to fp16 into the first half of the f32 scores (probs_p), element by
        # element in ascending k = t * heads + hd as the program writes them: a wrong order
        # would overwrite f32 values not yet read
        narrow = acc == np.float32
        probs = c.scores.view(np.float16) if narrow else c.scores
        c.hsum[:heads] = held(1.0 / c.hsum[:heads].astype(np.float64), acc)
        for t in range(c.n):
            for hd in range(heads):
                k = t * heads + hd
                probs[k] = held(float(c.scores[k]) * float(c.hsum[hd]), f16 if narrow else acc)
        c.o[:] = 0.0  # one FMAC over the rep grouped heads per (token, feature)
        lanes = np.arange(rep)
        for t in range(c.n):
            for e in range(ckv):
                g = c.head_of[e]
                pvec = probs[t * heads + g * rep + lanes]  # pcol: contiguous
                c.o[e * rep + lanes] = mac(c.o[e * rep + lanes], pvec, c.vcache[t, e], acc)
    all_reduce("o", "y", cq, cq)
    for c in everyone:  # phase 7
        c.attn[:dy] = gemv(c.o, c.wo, cq, dy, types)
    all_reduce("attn", "x", wire["dy"], dy)
    for c in everyone:  # phase 8
        c.xr = held(c.x.astype(np.float64) + c.attn[:dy], f16)
        rms_local(c, c.xr)
    all_reduce("ss", "y", wire["ss"], 1)
    for c in everyone:  # phase 9
        rms_apply(c, c.xr, "norm2")
        c.gu[:] = gemv(c.h, c.wgu, dy, 2 * cf, types)
    all_reduce("gu", "y", 2 * cf, 2 * cf)
    for c in everyone:  # phase 10: silu_times_up
        g = c.gu[:cf].astype(np.float64)
        c.gu[:cf] = held(g / (1.0 + np.exp(-g)) * c.gu[cf:], acc)
        c.down[:dy] = gemv(c.gu, c.wd, cf, dy, types)
    all_reduce("down", "x", wire["dy"], dy)
    for c in everyone:  # the partial sums stayed in the program's type
        assert acc is None or all(getattr(c, b).dtype == acc for b in
                                  ("ss", "qkv", "scores", "hmax", "hsum", "o", "attn", "gu",
                                   "down"))
    return np.stack([[held(c.xr.astype(np.float64) + c.down[:dy], f16) for c in row]
                     for row in cores])  # (py, px, dy)


def run_and_check(a, params, sym, expected, **mutation):
    """The emulated layer against the reference at the launcher's bound
    (sdk.launch.layer_check)."""
    out = emulate(sym, params, **mutation)
    px = params["width"]
    got = out[:, px - 1].reshape(-1)[: a.hidden]
    return out, compare(got, expected, rtol=2e-2, atol=1e-3)


@pytest.mark.parametrize("px,py,context,mode,extra_cap", [
    (4, 3, 7, "shift", 0), (2, 4, 9, "shift", 0), (4, 3, 7, "concat", 0), (3, 5, 0, "shift", 0),
    (1, 1, 4, "shift", 0), (4, 3, 7, "shift", 2)])
def test_decode_program_logic_on_launcher_inputs_matches_reference(px, py, context, mode,
                                                                   extra_cap):
    # extra_cap: a kernel compiled for a later step of the same run holds more tokens per core
    a = arch("tiny-llama")
    params = decode_params(a, px, py, context, mode, preset="full-model")
    assert params["packed"] == params["tree_middle"] == 0  # full-model: fp16 a wavelet, edge
    params["cap"] += extra_cap
    sym, expected = decode_inputs(a, px, py, context, mode, seed=3, cap=params["cap"],
                                  preset="full-model")
    out, check = run_and_check(a, params, sym, expected)
    assert np.allclose(out, out[:, :1]), "every column must hold the same output"
    assert check.passed, check
    # in the program's types: f32 partial sums (acc32, full-model), fp16 output
    assert params["acc32"] == 1 and not tree_packed(params)
    out, check = run_and_check(a, params, sym, expected, types=kernel_types(params))
    assert out.dtype == np.float16 and check.passed, check


@pytest.mark.parametrize("px,py,context", [(4, 3, 7), (2, 4, 9), (3, 5, 0), (5, 3, 4),
                                           (1, 1, 2), (5, 6, 4), (7, 9, 11)])
def test_decode_program_under_paper_kernels_runs_the_authors_layer(px, py, context):
    # paper-kernels: one head of hidden width and the static cache (presets): no row passes
    # a token down, the new one is written on the row that grows (t mod py); two fp16 per
    # wavelet, every all-reduce on its padded length; middle tree roots (lines of 5 and more:
    # two-sided roots; 7x9 at both levels of the column tree)
    a = arch("tiny-llama")
    params = decode_params(a, px, py, context, "shift", preset="paper-kernels")
    assert (params["heads"], params["rep"], params["packed"], params["tree_middle"]) == \
        (1, 1, 1, 1)
    sym, expected = decode_inputs(a, px, py, context, "shift", seed=3, cap=params["cap"],
                                  preset="paper-kernels")
    state = sym["state"][:, 0]
    assert state[:, 1].sum() == 0 and state[:, 2].sum() == 0  # nothing dropped or taken
    assert state[:, 3].tolist() == [int(r == context % py) for r in range(py)]
    out, check = run_and_check(a, params, sym, expected)
    assert np.allclose(out, out[:, :1]), "every column must hold the same output"
    assert check.passed, check
    # in the program's types: fp16 partial sums (@fmach, @faddh), packed with their pads
    assert params["acc32"] == 0 and tree_packed(params)
    _, check = run_and_check(a, params, sym, expected, types=kernel_types(params))
    assert check.passed, check


def _two_sided_roots(p):
    """Positions of a line of p whose middle-form role takes two sides at some level."""
    from waferrepro.host import group_size

    g = group_size(p, 2)
    return [q for q in range(p) for r in [cr.tree_role(q, p, g, "middle")]
            if (r.l1_from_minus and r.l1_from_plus) or (r.l2_from_minus and r.l2_from_plus)]


@pytest.mark.parametrize("px,py,context", [(5, 6, 4), (6, 5, 9)])
def test_middle_root_mutations_are_caught(px, py, context):
    # The middle-compiled kernel (paper-kernels) on lines where middle and edge differ: the
    # edge form's program on its routes does not run (its streams are not where it reads),
    # and a two-sided root that ignores either side gives a wrong layer.
    a = arch("tiny-llama")
    params = decode_params(a, px, py, context, "shift", preset="paper-kernels")
    assert params["tree_middle"] == 1 and _two_sided_roots(px) and _two_sided_roots(py)
    sym, expected = decode_inputs(a, px, py, context, "shift", seed=3, cap=params["cap"],
                                  preset="paper-kernels")
    _, check = run_and_check(a, params, sym, expected)
    assert check.passed, check
    with pytest.raises((AssertionError, cr.RouteConflict)):
        emulate(sym, params, emulate_root="edge")
    for side in "-+":
        _, dropped = run_and_check(a, params, sym, expected, drop=side)
        assert not dropped.passed, side
    # the edge-compiled kernel (the full-model form) is right on its own routes
    _, edge = run_and_check(a, {**params, "tree_middle": 0}, sym, expected)
    assert edge.passed, edge


def test_paper_kernels_smoke_grid_needs_every_pad():
    # tiny-llama on 4x3 under paper-kernels: ss (1), heads (1), heads*cap (3) and dy (43)
    # are all odd, so each of the four buffers carries a pad; the scores all-reduce of rows
    # 0 and 1 (3 tokens after the step, one head) uses it, row 2's (2 tokens) does not
    a = arch("tiny-llama")
    p = decode_params(a, 4, 3, 7, "shift", preset="paper-kernels")
    assert (p["heads"] * p["cap"]) % 2 == p["dy"] % 2 == 1
    assert wire_lengths(p) == {"ss": 2, "heads": 2, "scores": p["cap"] + 1, "dy": p["dy"] + 1}
    assert wire_lengths({**p, "packed": 0}) == {"ss": 1, "heads": 1, "scores": p["cap"],
                                                "dy": p["dy"]}
    state = decode_inputs(a, 4, 3, 7, "shift", cap=p["cap"], preset="paper-kernels")[0][
        "state"][:, 0]
    after = (state[:, 0] - state[:, 1] + state[:, 2] + state[:, 3]).tolist()
    assert after == [3, 3, 2]
    assert [scores_len(p, n) for n in after] == [4, 4, 2]
    assert [scores_len({**p, "packed": 0}, n) for n in after] == [3, 3, 2]


@pytest.mark.parametrize("context", [7, 8])
def test_packed_kv_shift_moves_the_token_as_pairs(context):
    # no preset packs a shifting cache (paper-kernels keeps it static), but the kernel's
    # packed KV shift must move a token intact: the full-model layer with packed = 1
    a = arch("tiny-llama")
    params = {**decode_params(a, 4, 3, context, "shift", preset="full-model"), "packed": 1}
    sym, expected = decode_inputs(a, 4, 3, context, "shift", seed=3, cap=params["cap"],
                                  preset="full-model")
    assert sym["state"][:, 0, 1].any()  # some row drops its oldest token
    _, check = run_and_check(a, params, sym, expected)
    assert check.passed, check
    _, swapped = run_and_check(a, params, sym, expected, swap=True)
    assert not swapped.passed
    # full-model's f32 partial sums stay one per wavelet beside a packed KV shift
    assert params["acc32"] == 1 and not tree_packed(params)
    _, typed = run_and_check(a, params, sym, expected, types=kernel_types(params))
    assert typed.passed, typed


@pytest.mark.parametrize("px,py,context", [(4, 3, 7), (3, 5, 4)])
def test_packed_mutations_are_caught(px, py, context):
    a = arch("tiny-llama")
    params = decode_params(a, px, py, context, "shift", preset="paper-kernels")
    sym, expected = decode_inputs(a, px, py, context, "shift", seed=3, cap=params["cap"],
                                  preset="paper-kernels")
    with pytest.raises(ValueError, match="two fp16 per wavelet: the length must be even"):
        emulate(sym, params, pad=False)  # a kernel that reduces ss's single value
    _, swapped = run_and_check(a, params, sym, expected, swap=True)
    assert not swapped.passed
    # without packing the same kernel needs no pads (full-model's wire lengths)
    _, unpacked = run_and_check(a, {**params, "packed": 0}, sym, expected)
    assert unpacked.passed, unpacked
    # f32 partial sums (acc32) never pack: two f32 to a wavelet is refused
    f32 = {**params, "acc32": 1}
    with pytest.raises(ValueError, match="a wavelet carries 32 bits"):
        emulate(sym, f32, per_wavelet=2, types=kernel_types(f32))


def test_program_declares_the_padded_lengths_the_emulation_reduces():
    # The wire lengths above are pe_program.csl's own constants (evaluated with its params)
    # and every all_reduce call passes one of them or an even length.
    text = PROGRAM.read_text()
    calls = re.findall(r"tree\.all_reduce\((\w+)_p, ([^,]+), (true|false)\)", text)
    assert {buf: n for buf, n, _ in calls} == {
        "ss": "SS_WIRE", "qkv": "W", "scores": "scores_n", "hmax": "HEADS_WIRE",
        "hsum": "HEADS_WIRE", "o": "cq", "attn": "DY_WIRE", "gu": "2 * cf",
        "down": "DY_WIRE"}
    # the scores all-reduce's length is this core's n tokens x heads, padded when the tree
    # packs (the emulation's scores_len), skipped on a row without tokens
    assert "const scores_n = scores_len();" in text
    body = re.search(r"fn scores_len\(\) i16 \{(.+?)\n\}", text, re.S).group(1)
    assert re.sub(r"\s+", " ", body).strip() == (
        "const len = n * heads; if (TREE_PACKED) { return len + len % 2; } return len;")
    assert re.search(r"if \(scores_n == 0\) \{\s+@activate\(x_done_id\);", text)
    for preset in ("full-model", "paper-kernels"):
        p = decode_params(arch("tiny-llama"), 4, 3, 7, "shift", preset=preset)
        for packed in (0, 1):  # packed f32 partial sums (acc32): still unpadded
            q = {**p, "packed": packed}
            env = kernel_constants(text, q)
            assert env["TREE_PACKED"] == tree_packed(q)
            assert {k: env[f"{k.upper()}_WIRE"] for k in ("ss", "heads", "scores", "dy")} == \
                wire_lengths(q)
    # both trees take the program's element type and packing
    for tree in ("ytree", "xtree"):
        body = re.search(rf"const {tree} = @import_module\(([^;]+)\);", text).group(1)
        assert ".packed = TREE_PACKED" in body and ".f32_values = acc32" in body


def kernel_constants(text, p):
    """pe_program.csl's `const X: i16 = ...;` and `const X: bool = ...;` evaluated with the
    kernel's params (CSL's `if (c) a else b` and `!` read as Python's)."""
    env = {**p, "packed": bool(p["packed"]), "acc32": bool(p["acc32"]), "max2": max}
    for name, expr in re.findall(r"^const (\w+): (?:i16|bool) = ([^;]+);", text, re.M):
        expr = re.sub(r"^if \((\w+)\) (.+) else (.+)$", r"(\2) if \1 else (\3)", expr.strip())
        env[name] = eval(expr.replace("!", "not "), {}, env)  # noqa: S307 - the kernel's own
    return env


@pytest.mark.parametrize("preset", ["full-model", "paper-kernels"])
@pytest.mark.parametrize("model,px,py,context", [
    ("tiny-llama", 4, 3, 7), ("tiny-llama", 3, 5, 10), ("llama3-8b", 720, 720, 4096),
    ("llama2-13b", 375, 375, 4096), ("qwen2-72b", 480, 480, 4096)])
def test_program_memory_is_what_meshsim_plans(model, px, py, context, preset):
    # Every array pe_program.csl declares (sizes from its own constant expressions, with the
    # kernel's params; bytes by element type: f16 and i16 2, f32 4, acc_t 4 under acc32 and
    # 2 otherwise) against meshsim's DecodeLayout at the preset's accumulate width and
    # packing: the plan that decides whether a grid fits 48 KB, and Table 5's capacity, is
    # the kernel's, pads included. Left out: the DSD placeholders `scratch` and
    # `acc_scratch` and the timer's stamps (time_buf), a few words.
    from waferrepro.meshsim.decode_layout import DecodeLayout

    text = PROGRAM.read_text()
    p = decode_params(arch(model), px, py, context, "shift", preset=preset)
    env = kernel_constants(text, p)
    hw = presets.hardware(WSE2, preset)
    assert p["acc32"] == (hw.acc_bits == 32)
    nbytes = {"f16": 2, "i16": 2, "f32": 4, "acc_t": 4 if p["acc32"] else 2}
    arrays = re.findall(r"^var (\w+) = @zeros\(\[([^\]]+)\](\w+)\);", text, re.M)
    assert {kind for _, _, kind in arrays} == set(nbytes) | {"u16"}
    total = sum(eval(size, {}, env) * nbytes[kind]  # noqa: S307 - the kernel's own arithmetic
                for name, size, kind in arrays
                if name not in ("scratch", "acc_scratch", "time_buf"))
    run = presets.decode_run(arch(model), "shift", preset)
    lay = DecodeLayout.on(hw, run.arch, px, py)  # what meshsim's Decode allocates
    assert lay.packed == bool(p["packed"])
    assert total == lay.bytes_per_core(p["cap"])


def meshsim_scores_charge(monkeypatch, a, params, sym, context, mode, preset):
    """(values, wavelets) meshsim's decode_layer charges for the step's scores all-reduce:
    the elems and bits its all_reduce is called with (the first along x; decode.py passes
    heads * n_max), the wavelets by its Fabric's rule, on the layer and hardware the Decode
    job runs under `preset`."""
    from waferrepro.meshsim import decode as meshsim_decode
    from waferrepro.meshsim.decode_layout import KVCache

    calls = []
    real = meshsim_decode.all_reduce

    def recording(fab, data, axis, elems, *args, **kw):
        # meshsim's trees are the kernel's form (the authors' run as "middle": routes.csl_root)
        assert cr.csl_root(kw["root"]) == tree_form(params)
        bits = kw.get("bits") or fab.hw.acc_bits
        calls.append((axis, elems, fab.wavelets(elems, bits)))
        return real(fab, data, axis, elems, *args, **kw)

    monkeypatch.setattr(meshsim_decode, "all_reduce", recording)
    run = presets.decode_run(a, mode, preset)
    hw = presets.hardware(WSE2, preset)
    before = np.asarray(sym["state"][:, 0, 0], dtype=np.int64)
    meshsim_decode.decode_layer(hw, run.arch, params["width"], params["height"],
                                KVCache(before.copy()), context, run.kv, cap=params["cap"],
                                tree_root=run.tree_root)
    monkeypatch.setattr(meshsim_decode, "all_reduce", real)
    scores = [(elems, wavelets) for axis, elems, wavelets in calls if axis == "x"][0]
    assert scores[0] == run.arch.heads * int(
        (before + np.asarray(sym["state"][:, 0, 2:].sum(-1)) - sym["state"][:, 0, 1]).max())
    return scores


def assert_scores_moved_as_charged(moved, p, after, charged):
    """Every transfer of row i's scores all-reduce carries heads * n_i values (padded when
    packed; none on a row without tokens), and the busiest row's transfers are what meshsim
    charges for the step: its values (on the kernel's padded length) and its wavelets."""
    for i, n in enumerate(after):
        if n == 0:
            assert i not in moved, f"row {i} holds no tokens but reduced scores"
            continue
        assert set(moved[i]) == {(scores_len(p, n), scores_len(p, n)
                                  // (2 if tree_packed(p) else 1))}, (i, n, set(moved[i]))
    values, wavelets = charged
    busiest = max(v for transfers in moved.values() for v, _ in transfers)
    assert busiest == scores_len(p, values // p["heads"]), (busiest, values)
    assert max(w for transfers in moved.values() for _, w in transfers) == wavelets


@pytest.mark.parametrize("preset", ["full-model", "paper-kernels"])
@pytest.mark.parametrize("px,py,context,mode,extra_cap", [
    (4, 3, 7, "shift", 0), (4, 3, 7, "shift", 3), (2, 4, 9, "shift", 2), (3, 5, 0, "shift", 1),
    (4, 3, 7, "concat", 2), (5, 3, 4, "shift", 0), (6, 5, 9, "shift", 1)])
def test_scores_all_reduce_moves_what_meshsim_charges(monkeypatch, preset, px, py, context,
                                                      mode, extra_cap):
    # extra_cap: the kernel the workflow compiles once per run, at its largest cap, running
    # an earlier step. Each row reduces heads * n (n: its tokens after the cache moves), the
    # busiest row exactly meshsim's heads * n_max; reducing the whole heads * cap buffer (the
    # old kernel: a correct layer, more wavelets than the twin charges) fails this.
    a = arch("tiny-llama")
    params = decode_params(a, px, py, context, mode, preset=preset)
    params["cap"] += extra_cap
    sym, expected = decode_inputs(a, px, py, context, mode, seed=3, cap=params["cap"],
                                  preset=preset)
    state = sym["state"][:, 0]
    after = (state[:, 0] - state[:, 1] + state[:, 2] + state[:, 3]).tolist()
    charged = meshsim_scores_charge(monkeypatch, a, params, sym, context, mode, preset)
    for types in (EXACT, kernel_types(params)):
        moved = {}
        _, check = run_and_check(a, params, sym, expected, moved=moved, types=types)
        assert check.passed, check
        assert_scores_moved_as_charged(moved, params, after, charged)
    whole, buffer = {}, wire_lengths(params)["scores"]
    _, check = run_and_check(a, params, sym, expected, moved=whole,
                             scores_length=lambda n: buffer)
    assert check.passed, check  # the layer is right: only the wavelets differ
    if all(scores_len(params, n) == buffer for n in after):
        return  # every row full (or its pad fills it): the two kernels move the same
    with pytest.raises(AssertionError):
        assert_scores_moved_as_charged(whole, params, after, charged)


@pytest.mark.parametrize("preset", ["full-model", "paper-kernels"])
def test_scores_layout_is_token_major(preset):
    # scores_local writes head hd of token t at t * heads + hd (stride heads); the softmax
    # and attend_local read it there. Under full-model (4 heads) a stride of 1 or cap gives a
    # wrong layer; under paper-kernels (one head) stride heads is 1, so token-major and
    # head-major coincide and only the length changed.
    a = arch("tiny-llama")
    params = decode_params(a, 4, 3, 7, "shift", preset=preset)
    sym, expected = decode_inputs(a, 4, 3, 7, "shift", seed=3, cap=params["cap"],
                                  preset=preset)
    _, check = run_and_check(a, params, sym, expected, types=kernel_types(params))
    assert check.passed, check
    if params["heads"] == 1:
        return
    assert params["heads"] not in (1, params["cap"])
    for stride in (1, params["cap"]):
        if (params["cap"] - 1) * stride + params["heads"] > wire_lengths(params)["scores"]:
            continue  # past the buffer: not a layout the kernel could write
        _, wrong = run_and_check(a, params, sym, expected, score_stride=stride)
        assert not wrong.passed, stride


def test_decode_inputs_cache_moves_keep_rows_balanced():
    a = arch("tiny-llama")
    sym, _ = decode_inputs(a, 2, 4, 9, "shift", preset="full-model")
    state = sym["state"][:, 0]
    after = state[:, 0] - state[:, 1] + state[:, 2] + state[:, 3]
    assert after.sum() == 10 and after.max() - after.min() <= 1
    assert state[0, 3] == 1 and state[1:, 3].sum() == 0  # the new token lands on row 0


def _cancelling(n_parts: int, lanes: int, length: int, offset: float, seed: int = 0):
    """Partial sums as @fmachs leaves them: random, plus +offset / -offset alternately
    (n_parts even: the common parts cancel in the sum). Intermediate sums of that size beside
    a small result are where fp16 (spacing offset * 2^-10) loses digits f32 keeps."""
    rng = np.random.default_rng(seed)
    signs = (-1.0) ** np.arange(n_parts)
    return (rng.standard_normal((n_parts, lanes, length))
            + offset * signs[:, None, None]).astype(np.float32)


@pytest.mark.parametrize("axis,line", [("y", 10), ("y", 40), ("x", 10), ("x", 40)])
def test_fp32_all_reduces_add_f32_partials_one_per_wavelet(axis, line):
    # Each of Decode's all-reduces (line_tree on the y or x tree, edge roots) under
    # full-model: f32 partial sums, one per wavelet, added in f32. Rounding them to fp16 on
    # the wire or adding them in fp16 (@faddh) fails the fp32 check on cancelling parts.
    px, py = (3, line) if axis == "y" else (line, 3)
    params = decode_params(arch("tiny-llama"), px, py, 7, "shift", preset="full-model")
    types = kernel_types(params)
    assert types["acc"] == np.float32 and not tree_packed(params)
    parts = _cancelling(line, 3, 24, 64.0, seed=line)  # [position, line, :]
    vec = parts if axis == "y" else parts.transpose(1, 0, 2)
    expected = parts.astype(np.float64).sum(axis=0)

    def run(**form):
        got = Fabric(px, py, **form).all_reduce(vec, axis, np.add)
        got = got if axis == "y" else got.transpose(1, 0, 2)
        return compare(got, np.broadcast_to(expected, got.shape), **tolerance("fp32", line))

    f32 = run(acc=np.float32)
    assert f32.passed and f32.max_rel_err < 1e-5
    wire16 = run(acc=np.float32, wire_dtype=np.float16)  # partials sent as fp16
    add16 = run(acc=np.float16)                          # @faddh instead of @fadds
    for mutant in (wire16, add16):
        assert not mutant.passed and mutant.max_rel_err > 5e-3  # 5x the fp32 tolerance
    with pytest.raises(ValueError, match="a wavelet carries 32 bits"):
        Fabric(px, py, tree_per_wavelet=2, acc=np.float32).all_reduce(vec, axis, np.add)
    # the softmax max travels on the same f32 tree: exact in f32, not when sent as fp16
    top = Fabric(px, py, acc=np.float32).all_reduce(vec, axis, np.maximum)
    assert (top == vec.max(axis=0 if axis == "y" else 1, keepdims=True)).all()
    top16 = Fabric(px, py, acc=np.float32, wire_dtype=np.float16).all_reduce(vec, axis,
                                                                            np.maximum)
    assert not (top16 == top).all()


@pytest.mark.parametrize("rows", [64, 256])
def test_fp32_gemv_accumulates_in_f32(rows):
    # gemv (and every other FMAC: scores, attention x V) under full-model is @fmachs into
    # f32; in fp16 (@fmach) the same cancelling rows fail the fp32 check.
    params = decode_params(arch("tiny-llama"), 4, 3, 7, "shift", preset="full-model")
    w = _cancelling(rows, 1, 40, 64.0, seed=rows)[:, 0].astype(np.float16)
    h = np.ones(rows, np.float16)
    expected = h.astype(np.float64) @ w.astype(np.float64)
    f32 = gemv(h, w, rows, 40, kernel_types(params))
    f16 = gemv(h, w, rows, 40, {"acc": np.float16, "f16": np.float16})
    assert f32.dtype == np.float32 and f16.dtype == np.float16
    assert compare(f32, expected, **tolerance("fp32", rows)).max_rel_err < 1e-5
    fp16_check = compare(f16, expected, **tolerance("fp32", rows))
    assert not fp16_check.passed and fp16_check.max_rel_err > 5e-3


class HeldDecode(launch.Session):
    """launch.Session over memory held here instead of an SDK runtime: the launcher's puts
    are kept as sent; `out` is what the emulated program leaves, read at the width it is
    held (fp16: a 32-bit read would be refused)."""

    def __init__(self, width, height, params):
        self.width, self.height, self.params, self.held = width, height, params, {}

    def put(self, symbol, tiles):
        self.held[symbol] = np.array(tiles)

    def _copy(self, direction, symbol, data, per_core, bits):
        assert direction == "d2h" and symbol == "out"
        out = emulate(self.held, self.params, types=kernel_types(self.params))
        assert bits == 8 * out.dtype.itemsize == 16, f"{bits}-bit read of {out.dtype}"
        data[...] = launch.f16_to_words(out)

    def run(self, warmup, repeats):
        return {"cycles_mean": 100.0, "cycles_max": 100, "cycles_per_run": [100] * repeats,
                "repeats": repeats, "warmup": warmup}

    def stop(self):
        pass


@pytest.mark.parametrize("preset", ["full-model", "paper-kernels"])
def test_decode_launcher_reads_out_as_held_and_names_its_accumulate(monkeypatch, tmp_path,
                                                                    preset):
    import importlib.util
    import json
    import sys

    a = arch("tiny-llama")
    params = decode_params(a, 4, 3, 7, "shift", preset=preset)
    (tmp_path / "out.json").write_text(json.dumps({"params": {k: str(v)
                                                              for k, v in params.items()}}))
    monkeypatch.setattr(sys, "path", list(sys.path))  # the launcher prepends its own paths
    monkeypatch.setattr(launch, "Session", lambda name, cmaddr, w, h: HeldDecode(w, h, params))
    monkeypatch.setattr(sys, "argv", ["run.py", "--name", str(tmp_path), "--model", a.name,
                                      "--context", "7", "--kv", "shift", "--preset", preset,
                                      "--seed", "3", "--repeats", "2",
                                      "--out-json", str(tmp_path / "result.json")])
    spec = importlib.util.spec_from_file_location("launcher_Decode",
                                                  PROGRAM.parent / "run.py")
    launcher = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launcher)
    assert launcher.main() == 0
    doc = json.loads((tmp_path / "result.json").read_text())
    assert doc["check"]["passed"] and doc["rows_agree"] and doc["timing"]["rerun_identical"]
    acc = "fp32 (@fmachs)" if params["acc32"] else "fp16 (@fmach)"
    assert f"accumulates in {acc}" in doc["check"]["reference"]
    assert doc["check"]["rtol"] == launch.DEVICE_RTOL


def test_sdk_params_prints_the_accumulate_form(capsys):
    from waferrepro import cli

    for preset, acc32 in (("full-model", 1), ("paper-kernels", 0)):
        assert cli.main(["sdk", "params", "--system", "Decode", "--model", "tiny-llama",
                         "--cores", "4x3", "--context", "7", "--preset", preset]) == 0
        assert f"acc32:{acc32}" in capsys.readouterr().out.strip().split(",")

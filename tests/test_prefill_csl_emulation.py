"""The Prefill CSL program, transcribed core by core into NumPy and run on the inputs its
launcher sends (waferrepro.sdk.inputs.prefill_inputs), with every ring transfer delivered
where the router configurations of kernels/common/roles.csl send it (traced by
waferrepro.sdk.routes): the phase order, the step machines' buffer logic (stationary loop:
fresh product, arriving partial, add, send on; Cannon: shift and swap), the shear counts,
the per-step feature block (lrow + lcol + step) % P, the head map, the causal mask on key
block -lcol, and the host's layouts must give the reference layer's output.

No substitute for compiling it: it checks the program's logic, its routes and the host
layout, not the CSL spelling. Names follow pe_program.csl's functions; keep them in step.
"""

from dataclasses import replace

import numpy as np
import pytest

from waferrepro.check import compare
from waferrepro.meshsim.prefill_layout import unpack_activations
from waferrepro.models import arch
from waferrepro.sdk import routes as cr
from waferrepro.sdk.inputs import prefill_inputs, prefill_params

LOWEST = -65504.0


class Grid:
    """Per-core buffers as (P, P, n) arrays by physical core (row, column), and the rings'
    traced routes."""

    def __init__(self, P):
        self.P = P
        self.table = cr.RouteTable(P, P)
        if P > 1:
            cr.ring_routes(self.table, "x", "X")
            cr.ring_routes(self.table, "y", "Y")
        idx = np.array([cr.ring_index(q, P) for q in range(P)])
        self.lrow = np.broadcast_to(idx[:, None], (P, P))  # roles.ring_index(py, P)
        self.lcol = np.broadcast_to(idx[None, :], (P, P))  # roles.ring_index(px, P)

    def shift(self, buf, axis, lines=None):
        """ring_shift.shift_len on every core (of the lines taking part), on the routes."""
        return cr.ring_transfer(self.table, buf, axis, axis.upper(), lines)


def all_reduce_x(buf, op=np.sum):  # line_tree.all_reduce along a row
    return np.broadcast_to(op(buf, axis=1, keepdims=True), buf.shape).copy()


def emulate(sym, prm, mutation=None):
    P, lt, dt, cq, ckv, ft, rep, heads, kvh, hd, tokens, causal = (
        prm[k] for k in ("P", "lt", "dt", "cq", "ckv", "ft", "rep", "heads", "kvh", "hd",
                         "tokens", "causal"))
    W = cq + 2 * ckv
    g = Grid(P)
    f = lambda name: np.array(sym[name], dtype=np.float64).reshape(P, P, -1)  # noqa: E731
    x, consts = f("x"), f("consts")
    cells = [(i, j) for i in range(P) for j in range(P)]

    def head_of(b, e):
        gg = (b * ckv + e) // hd
        return 0 if gg >= kvh else gg

    def block(i, j, step):
        if mutation == "block without lrow":
            return (g.lcol[i, j] + step) % P
        return (g.lrow[i, j] + g.lcol[i, j] + step) % P

    def rms_local():
        return (x.reshape(P, P, lt, dt) ** 2).sum(-1)

    def rms_apply(ss, gain):
        scale = 1.0 / np.sqrt(ss * consts[..., :1] + consts[..., 1:2])  # (P, P, lt)
        return (x.reshape(P, P, lt, dt) * scale[..., None] * gain[:, :, None, :]).reshape(P, P, -1)

    def matmul(a, b, m, k, n):  # per core: a[m x k] @ b[k x n]
        return np.einsum("ijmk,ijkn->ijmn", a[..., :m * k].reshape(P, P, m, k),
                         b[..., :k * n].reshape(P, P, k, n)).reshape(P, P, -1)

    def stationary(mac, w, plen):  # start_stationary / stationary_step / stationary_joined
        arrived = None
        for step in range(P):
            prod = mac(w, step)[..., :plen]
            if step > 0 and mutation != "partial not added":
                prod = prod + arrived
            if step == P - 1:
                return prod
            w = g.shift(w, "y")
            arrived = g.shift(prod, "x")

    def cannon(mac, a, w, acc):  # start_cannon / cannon_step / arrive
        for step in range(P):
            acc = mac(a, w, acc, step)
            if step == P - 1:
                return acc
            a, w = g.shift(a, "x"), g.shift(w, "y")

    # phase 0-1: rmsnorm 1, QKV MeshGEMM (activation-stationary)
    h = rms_apply(all_reduce_x(rms_local()), f("norm1"))
    qkv = stationary(lambda w, s: matmul(h, w, lt, dt, W), f("wqkv"), lt * W)
    # phase 2: bias_rope_split
    qkv = qkv.reshape(P, P, lt, W) + f("bqkv")[:, :, None, :]
    rope = f("rope").reshape(P, P, 2, lt, ckv)
    for m in range(0, ckv, 2):
        c, s = rope[:, :, 0, :, m], rope[:, :, 1, :, m]
        pairs = [(cq + m, cq + m + 1)] + [(m * rep + r, (m + 1) * rep + r) for r in range(rep)]
        for i0, i1 in pairs:
            a, b = qkv[..., i0].copy(), qkv[..., i1].copy()
            qkv[..., i0], qkv[..., i1] = a * c - b * s, b * c + a * s
    amov = qkv[..., :cq].reshape(P, P, -1)
    kv = np.concatenate([qkv[..., cq:cq + ckv].reshape(P, P, -1),
                         qkv[..., cq + ckv:].reshape(P, P, -1)], -1)
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
                        flat[row] += kcol * q[i, j][a * cq + e * rep + r]
        return acc

    scores = cannon(scores_mac, amov, k, np.zeros((P, P, heads, lt, lt)))
    # phase 6: softmax_mask_scale_max
    qpos = g.lrow[..., None] * lt + np.arange(lt)  # (P, P, lt)
    key_block = g.lcol if mutation == "key block +lcol" else (P - g.lcol) % P
    kpos = key_block[..., None] * lt + np.arange(lt)
    masked = ((kpos[:, :, None, :] > qpos[..., None]) & bool(causal)) | (
        kpos[:, :, None, :] >= tokens)
    scores = np.where(masked[:, :, None], LOWEST, scores * consts[..., 2, None, None, None])
    hmax = all_reduce_x(np.where(masked[:, :, None], LOWEST, scores).max(-1), np.max)
    # phase 7: softmax_exp_sum
    scores = np.where(scores == LOWEST, 0.0, np.exp(scores - hmax[..., None]))
    hsum = all_reduce_x(scores.sum(-1))
    # phase 8: softmax_normalize, P x V (activation-stationary), pv_mac
    probs = scores / hsum[..., None]

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
                        out[i, j, ocol] += pcol * vv[i, j][t * ckv + e]
        return out

    o = stationary(pv_mac, v, lt * cq)
    # phase 9: O MeshGEMM (Cannon), then residual
    x = x + cannon(lambda a, w, acc, s: acc + matmul(a, w, lt, cq, dt), o, f("wo"),
                   np.zeros((P, P, lt * dt)))
    # phases 10-11: rmsnorm 2, gate|up (activation-stationary)
    h = rms_apply(all_reduce_x(rms_local()), f("norm2"))
    gu = stationary(lambda w, s: matmul(h, w, lt, dt, 2 * ft), f("wgu"), lt * 2 * ft)
    # phase 12: silu_times_up, down MeshGEMM (Cannon); phase 13: residual
    gu = gu.reshape(P, P, lt, 2 * ft)
    act = (gu[..., :ft] / (1 + np.exp(-gu[..., :ft])) * gu[..., ft:]).reshape(P, P, -1)
    x = x + cannon(lambda a, w, acc, s: acc + matmul(a, w, lt, ft, dt), act, f("wd"),
                   np.zeros((P, P, lt * dt)))
    return x.reshape(P, P, lt, dt)


CASES = [("tiny-llama", 4, 16), ("tiny-llama", 3, 10), ("tiny-llama", 5, 13),
         ("tiny-llama", 1, 6), ("no-gqa-bias", 4, 12)]


def _arch(name):
    if name == "no-gqa-bias":
        return replace(arch("tiny-llama"), kv_heads=4, qkv_bias=True)
    return arch(name)


@pytest.mark.parametrize("model,p,tokens", CASES)
def test_prefill_program_logic_on_launcher_inputs_matches_reference(model, p, tokens):
    a = _arch(model)
    sym, expected = prefill_inputs(a, p, tokens, seed=2)
    got = unpack_activations(emulate(sym, prefill_params(a, p, tokens)), a, tokens)
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
    got = unpack_activations(emulate(sym, prm), a, tokens)
    check = compare(got, expected, rtol=2e-2, atol=1e-3)
    assert check.passed, check
    # the same kernel with the mask on gives another layer: the switch is live
    masked = unpack_activations(emulate(sym, {**prm, "causal": 1}), a, tokens)
    assert not compare(masked, expected, rtol=2e-2, atol=1e-3).passed


@pytest.mark.parametrize("mutation", ["block without lrow", "partial not added",
                                      "last shear skipped", "key block +lcol"])
def test_prefill_emulation_catches_a_wrong_formula(mutation):
    a = arch("tiny-llama")
    sym, expected = prefill_inputs(a, 4, 16)
    got = unpack_activations(emulate(sym, prefill_params(a, 4, 16), mutation), a, 16)
    assert not compare(got, expected, rtol=2e-2, atol=1e-3).passed


@pytest.mark.parametrize("model,p,tokens", [("tiny-llama", 4, 16), ("llama3-8b", 720, 4096),
                                            ("qwen2-72b", 480, 4096)])
def test_program_memory_is_what_meshsim_plans(model, p, tokens):
    # Every fp16 array pe_program.csl declares (sizes from its own constant expressions,
    # evaluated with the kernel's params) against meshsim's PrefillLayout: the plan that
    # decides whether a grid fits 48 KB is the kernel's.
    import re
    from pathlib import Path

    from waferrepro.meshsim.prefill_layout import PrefillLayout

    text = (Path(__file__).resolve().parents[1] / "kernels" / "Prefill" / "pe_program.csl"
            ).read_text()
    env = {**prefill_params(arch(model), p, tokens), "max2": max}
    for name, expr in re.findall(r"^const (\w+): i16 = ([^;]+);", text, re.M):
        env[name] = eval(expr, {}, env)  # noqa: S307 - the kernel's own arithmetic
    arrays = re.findall(r"^var (\w+) = @zeros\(\[([^\]]+)\]f16\);", text, re.M)
    total = sum(eval(size, {}, env) for name, size in arrays if name != "scratch")  # noqa: S307
    lay = PrefillLayout(arch(model), p, tokens)
    assert total == lay.weight_elems_per_core() + lay.buffer_elems_per_core()


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

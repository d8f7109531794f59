"""MeshGEMM's and MeshGEMV's CSL programs emulated on their own routes: every transfer goes
where the router configurations of kernels/common/roles.csl send it (traced by
waferrepro.sdk.routes), and each core does what its program does with it (ring_shift.csl's
double buffers, line_tree.csl's chain steps and broadcast). The result must be A @ B and
x @ W. Without an SDK this ties the routing rules and the programs' buffer logic together;
the CSL spelling still needs a compiler.

Packed (the schedule preset's fp16_per_wavelet = 2, toolchain.kernel_params' `packed`): tiles
and vectors travel as pairs of fp16 per wavelet (routes.to_wavelets), an odd length padded by
one element as the kernels pad their transfer buffers; an odd length without that pad, or a
pair read the wrong way round, must fail."""

import numpy as np
import pytest

from waferrepro.host import group_size, pack_cannon, pad2d, to_tiles, unpack_cannon
from waferrepro.meshsim import make_inputs
from waferrepro.sdk import routes as cr
from waferrepro.sdk import toolchain

PACKING = [("full-model", 1), ("paper-kernels", 2)]  # (preset, fp16 per wavelet it implies)


class MeshGemmCores:
    """Every core's MeshGEMM memory and state, as kernels/MeshGEMM/pe_program.csl declares
    them (A0, A1, B0, B1, C, the buffer pointers, `flipped`), with whole-grid arrays
    (p, p, ...) standing for the p x p cores; transfers go over the traced ring routes."""

    def __init__(self, a_tiles, b_tiles, reset: bool = True, per_wavelet: int = 1,
                 swap: bool = False, pad: bool = True):
        self.p = a_tiles.shape[0]
        self.buf = {"A0": a_tiles.copy(), "A1": np.zeros_like(a_tiles),
                    "B0": b_tiles.copy(), "B1": np.zeros_like(b_tiles)}
        self.C = np.zeros(a_tiles.shape[:3] + (b_tiles.shape[3],))
        self.a_cur, self.a_next, self.b_cur, self.b_next = "A0", "A1", "B0", "B1"
        self.flipped = False
        self.reset = reset  # False: the program before issue 14 (no reset, P-1 shifts)
        # ring_shift.csl's `packed`, over pe_program.csl's A_WIRE/B_WIRE buffers (`pad`)
        self.wire = {"per_wavelet": per_wavelet, "swap": swap, "pad": pad}
        self.table = cr.RouteTable(self.p, self.p)
        cr.ring_routes(self.table, "x", "A")
        cr.ring_routes(self.table, "y", "B")

    def run(self):  # run() then begin_step()/arrive() until step == P
        if self.reset:
            self.C[...] = 0.0  # @fmovh(c_all, 0.0)
        steps = self.p if self.reset else self.p - 1
        if self.p == 1:
            self.C += self.buf["A0"] @ self.buf["B0"]
            return
        for step in range(self.p):
            self.C += self.buf[self.a_cur] @ self.buf[self.b_cur]  # local_mac
            if step == steps:
                break
            # both shifts on their traced routes, into the other buffers; arrive(): swap
            self.buf[self.a_next] = cr.ring_transfer(self.table, self.buf[self.a_cur], "x", "A",
                                                       **self.wire)
            self.buf[self.b_next] = cr.ring_transfer(self.table, self.buf[self.b_cur], "y", "B",
                                                       **self.wire)
            self.a_cur, self.a_next = self.a_next, self.a_cur
            self.b_cur, self.b_next = self.b_next, self.b_cur
            self.flipped = not self.flipped

    def launch(self, warmup: int, repeats: int):  # compute(): timer.launch, then finish()
        for _ in range(warmup + repeats):
            self.run()
        if self.reset:
            if self.flipped:  # finish(): tiles back into A0/B0
                self.buf["A0"], self.buf["B0"] = self.buf["A1"].copy(), self.buf["B1"].copy()
                self.flipped = False
            self.a_cur, self.a_next, self.b_cur, self.b_next = "A0", "A1", "B0", "B1"
        return self.C.copy()


def meshgemm_tiles(shape, p):
    """What kernels/MeshGEMM/run.py sends (pre-skewed, placed), in float64 for exact sums."""
    a, b = make_inputs(shape, seed=p)
    return a, b, tuple(t.astype(np.float64) for t in pack_cannon(a, b, p, interleaved=True))


@pytest.mark.parametrize("preset,per_wavelet", PACKING)
@pytest.mark.parametrize("p", [1, 2, 3, 4, 5, 6, 7])
def test_meshgemm_program_on_its_routes_computes_the_product_every_run(p, preset, per_wavelet):
    # Mt*Kt odd for p >= 2 (5*3): packed, the A tiles travel with their pad element
    a, b, (a_tiles, b_tiles) = meshgemm_tiles((4 * p + 1, 3 * p, 2 * p + 3), p)
    assert toolchain.kernel_params("MeshGEMM", a.shape[:1] + b.shape, p, p,
                                   preset)["packed"] == (per_wavelet == 2)
    cores = MeshGemmCores(a_tiles, b_tiles, per_wavelet=per_wavelet)
    expected = a.astype(np.float64) @ b
    first = cores.launch(0, 1)  # the launcher's checked launch, then the timed one
    np.testing.assert_allclose(unpack_cannon(first, a.shape[0], b.shape[1], interleaved=True),
                               expected, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(cores.launch(1, 3), first)
    np.testing.assert_array_equal(cores.launch(0, 2), first)


@pytest.mark.parametrize("p", [2, 3])
def test_meshgemm_without_reset_gives_a_different_second_run(p):
    # The program before issue 14 (C never cleared, tiles left one ring position short):
    # a second launch must differ, or the test above would not be testing the reset.
    a, b = make_inputs((2 * p, 2 * p, 2 * p), seed=p)
    a_tiles, b_tiles = (t.astype(np.float64) for t in pack_cannon(a, b, p, interleaved=True))
    cores = MeshGemmCores(a_tiles, b_tiles, reset=False)
    first = cores.launch(0, 1)
    np.testing.assert_allclose(unpack_cannon(first, 2 * p, 2 * p, interleaved=True),
                               a.astype(np.float64) @ b, rtol=1e-9, atol=1e-9)
    assert not np.allclose(cores.launch(0, 1), first)


@pytest.mark.parametrize("p", [2, 3])
def test_meshgemm_packed_mutations_are_caught(p):
    shape = (4 * p + 1, 3 * p, 2 * p + 3)
    a, b, (a_tiles, b_tiles) = meshgemm_tiles(shape, p)
    assert a_tiles[0, 0].size % 2 == 1  # Mt*Kt odd: needs the pad element
    with pytest.raises(ValueError, match="two fp16 per wavelet: the length must be even"):
        MeshGemmCores(a_tiles, b_tiles, per_wavelet=2, pad=False).launch(0, 1)
    swapped = MeshGemmCores(a_tiles, b_tiles, per_wavelet=2, swap=True).launch(0, 1)
    assert not np.allclose(unpack_cannon(swapped, shape[0], shape[2], interleaved=True),
                           a.astype(np.float64) @ b)


def column_all_reduce(partial, root: str, drop: str | None = None, per_wavelet: int = 1,
                      swap: bool = False, pad: bool = True):
    """line_tree.csl's all_reduce on every column of a w x h grid (partial[y, x] is core
    (x, y)'s vector), on the traced routes of the given tree form: each chain member, from the
    chain's far end inward, sends its vector plus what arrived (`relay`); a root adds what
    arrives from each side (`absorb`); the line's root broadcasts. `drop` ("-" or "+"): a
    mutated root that, given two sides, ignores that side's stream. Streams travel as
    wavelets of `per_wavelet` fp16 (line_tree.csl's `packed`, over MeshGEMV's NT_WIRE buffer:
    `pad`; `swap`: see routes.from_wavelets); the adds work on the unpacked values, as a
    16-bit SIMD @faddh on both halves."""
    def wire(v):  # one core's vector over the fabric and off it again
        sent = cr.to_wavelets(v[None, None], per_wavelet, pad)
        return cr.from_wavelets(sent, v.shape, swap)[0, 0]

    h, w = partial.shape[:2]
    table = cr.RouteTable(w, h)
    cr.tree_routes(table, "y", root=root)
    g = group_size(h, 2)
    roles = [cr.tree_role(y, h, g, root) for y in range(h)]
    top = cr.line_root(h, g, root)
    vec = partial.copy()
    for level in ("l1", "l2"):
        members = [y for y in range(h) if level == "l1" or roles[y].l1_root]

        def chain_root(y, level=level):
            return cr.head_position(y // g, h, g, root) if level == "l1" else top

        incoming = {}  # (row, side it arrives from) -> the stream, per column
        for y in sorted(members, key=lambda y: abs(y - chain_root(y)), reverse=True):
            role = roles[y]
            reads = {s: getattr(role, f"{level}_from_{n}")
                     for s, n in (("-", "minus"), ("+", "plus"))}
            # the program reads exactly the sides that stream in, on the colors they use
            assert {s for s in "-+" if (y, s) in incoming} == {s for s in "-+" if reads[s]}
            streams = {s: incoming.pop((y, s)) for s in "-+" if reads[s]}
            send = role.l1_send if level == "l1" else role.l2_send
            if send is None:  # the chain's root: absorb each side (both: one after the other)
                for side, stream in streams.items():
                    if not (drop == side and len(streams) == 2):
                        vec[y] += stream
                continue
            out = vec[y] + sum(streams.values())  # the far end: its own vector alone
            for x in range(w):
                dx, dy = cr.deliver(table, x, y, send)
                side = "-" if dy > y else "+"
                assert dx == x and getattr(roles[dy], f"{level}_from_"
                                           f"{'minus' if side == '-' else 'plus'}") == send
                incoming.setdefault((dy, side), np.zeros_like(vec[0]))[x] = wire(out[x])
        assert not incoming  # every stream was read
    if h > 1:
        for x in range(w):
            got = cr.trace(table, x, top, "bcast")
            assert set(got) == {(x, y) for y in range(h) if y != top}
            for dest in got:
                vec[dest[1], dest[0]] = wire(vec[top, x])
    return vec


def _gemv_partials(w, h, n=None):
    """Every core's local_gemv result (nt = ceil(n / w) values)."""
    k, n = 7 * h + 2, n or 5 * w + 1
    x, wm = make_inputs((1, k, n), seed=h)
    kt = -(-k // h)
    return np.einsum("ik,ijkn->ijn", pad2d(x.astype(np.float64), 1, kt * h).reshape(h, kt),
                     to_tiles(wm.astype(np.float64), h, w))  # local_gemv on each core


@pytest.mark.parametrize("preset,per_wavelet", PACKING)
@pytest.mark.parametrize("root", cr.TREE_ROOTS)
@pytest.mark.parametrize("w,h,n", [(1, 1, 5), (3, 1, None), (2, 2, 5), (2, 5, None),
                                   (4, 9, 13), (3, 17, None), (2, 40, 9)])
def test_meshgemv_program_on_its_routes_computes_the_column_sums(w, h, n, root, preset,
                                                                  per_wavelet):
    partial = _gemv_partials(w, h, n)  # nt odd for (1, 1, 5), (2, 2, 5), (2, 40, 9)
    assert toolchain.kernel_params("MeshGEMV", (1, 9, w * partial.shape[-1]), w, h,
                                   preset)["packed"] == (per_wavelet == 2)
    vec = column_all_reduce(partial, root, per_wavelet=per_wavelet)
    expected = partial.sum(axis=0)
    np.testing.assert_allclose(vec, np.broadcast_to(expected, vec.shape), rtol=1e-12)


@pytest.mark.parametrize("drop", ["-", "+"])
@pytest.mark.parametrize("h", [5, 9, 17])
def test_meshgemv_middle_root_dropping_a_side_is_caught(h, drop):
    # A middle root that reads only one of its two sides must give a wrong sum, or the test
    # above would not be testing the two-sided roots.
    partial = _gemv_partials(2, h)
    vec = column_all_reduce(partial, "middle", drop=drop)
    assert not np.allclose(vec, np.broadcast_to(partial.sum(axis=0), vec.shape))


@pytest.mark.parametrize("h", [5, 9])
def test_meshgemv_packed_mutations_are_caught(h):
    partial = _gemv_partials(3, h, n=7)  # nt = 3: odd, needs NT_WIRE's pad element
    assert partial.shape[-1] == 3
    with pytest.raises(ValueError, match="two fp16 per wavelet: the length must be even"):
        column_all_reduce(partial, "middle", per_wavelet=2, pad=False)
    vec = column_all_reduce(partial, "middle", per_wavelet=2, swap=True)
    assert not np.allclose(vec, np.broadcast_to(partial.sum(axis=0), vec.shape))

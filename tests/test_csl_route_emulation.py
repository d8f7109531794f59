"""MeshGEMM's and MeshGEMV's CSL programs emulated on their own routes: every transfer goes
where the router configurations of kernels/common/roles.csl send it (traced by
waferrepro.sdk.routes), and each core does what its program does with it (ring_shift.csl's
double buffers, line_tree.csl's chain steps and broadcast). The result must be A @ B and
x @ W. Without an SDK this ties the routing rules and the programs' buffer logic together;
the CSL spelling still needs a compiler.

Packed (the schedule preset's fp16_per_wavelet = 2, toolchain.kernel_params' `packed`): tiles
and vectors travel as pairs of fp16 per wavelet (routes.to_wavelets), an odd length padded by
one element as the kernels pad their transfer buffers; an odd length without that pad, or a
pair read the wrong way round, must fail.

Accumulate (the preset's `accumulate`, toolchain.kernel_params' `acc32`): under full-model
MeshGEMM's C and MeshGEMV's y are f32 (@fmachs) and MeshGEMV's tree adds f32 partial sums
(@fadds) that travel one per wavelet; under paper-kernels all of it is fp16 (@fmach, @faddh).
The precision tests hold values in the program's own element type, rounding every FMAC and
add, and check them as the launchers do (sdk.launch.accumulate_check); fp16 where the fp32
form is asked for must fail that check."""

import numpy as np
import pytest
from line_tree_emulation import line_all_reduce

from waferrepro.check import compare, tolerance
from waferrepro.host import pack_cannon, pad2d, to_tiles, unpack_cannon
from waferrepro.meshsim import make_inputs
from waferrepro.sdk import launch, toolchain
from waferrepro.sdk import routes as cr

PACKING = [("full-model", 1), ("paper-kernels", 2)]  # (preset, fp16 per wavelet it implies)


class MeshGemmCores:
    """Every core's MeshGEMM memory and state, as kernels/MeshGEMM/pe_program.csl declares
    them (A0, A1, B0, B1, C, the buffer pointers, `flipped`), with whole-grid arrays
    (p, p, ...) standing for the p x p cores; transfers go over the traced ring routes."""

    def __init__(self, a_tiles, b_tiles, reset: bool = True, per_wavelet: int = 1,
                 swap: bool = False, pad: bool = True, acc=None):
        self.p = a_tiles.shape[0]
        self.buf = {"A0": a_tiles.copy(), "A1": np.zeros_like(a_tiles),
                    "B0": b_tiles.copy(), "B1": np.zeros_like(b_tiles)}
        # C's element type (`acc32`: f32, @fmachs; else fp16, @fmach), every FMAC rounded to
        # it; None: float64, exact enough to test the data movement alone
        self.acc = acc
        self.C = np.zeros(a_tiles.shape[:3] + (b_tiles.shape[3],), dtype=acc or np.float64)
        self.a_cur, self.a_next, self.b_cur, self.b_next = "A0", "A1", "B0", "B1"
        self.flipped = False
        self.reset = reset  # False: the program before issue 14 (no reset, P-1 shifts)
        # ring_shift.csl's `packed`, over pe_program.csl's A_WIRE/B_WIRE buffers (`pad`)
        self.wire = {"per_wavelet": per_wavelet, "swap": swap, "pad": pad}
        self.table = cr.RouteTable(self.p, self.p)
        cr.ring_routes(self.table, "x", "A")
        cr.ring_routes(self.table, "y", "B")

    def local_mac(self, a, b):  # C[m, :] += A[m, k] * B[k, :], one FMAC per k
        if self.acc is None:
            self.C += a @ b
            return
        for k in range(a.shape[-1]):  # fp16 x fp16 is exact in float64: one rounding per FMAC
            self.C = (self.C + a[..., :, k:k + 1] * b[..., k:k + 1, :]).astype(self.acc)

    def run(self):  # run() then begin_step()/arrive() until step == P
        if self.reset:
            self.C[...] = 0.0  # @fmovh(c_all, 0.0)
        steps = self.p if self.reset else self.p - 1
        if self.p == 1:
            self.local_mac(self.buf["A0"], self.buf["B0"])
            return
        for step in range(self.p):
            self.local_mac(self.buf[self.a_cur], self.buf[self.b_cur])
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


def accumulate_form(params: dict):
    """The accumulator's element type a kernel holds (`acc32`: f32, else fp16) and MeshGEMV's
    tree packing: fp16 partial sums pack with the preset, f32 ones never (pe_program.csl's
    TREE_PACKED)."""
    acc = np.float32 if params["acc32"] else np.float16
    return acc, 2 if params["packed"] and not params["acc32"] else 1


def launcher_check(out, reference, params: dict, k: int):
    """What the launchers' check (sdk.launch.accumulate_check) says of a result."""
    how = launch.accumulate_check(params, k)
    return compare(out, reference, rtol=how["rtol"], atol=how["atol"])


@pytest.mark.parametrize("shape,p", [((6, 2048, 10), 2), ((9, 3072, 6), 3)])
def test_meshgemm_accumulates_in_its_presets_precision(shape, p):
    # K long enough that fp16 accumulation visibly loses precision: each preset's form passes
    # its launcher check, and the fp16 form fails the fp32 check by about 10x, while the f32
    # form is ~1e-6 off (a C left in fp16 under full-model would be caught).
    a, b, (a_tiles, b_tiles) = meshgemm_tiles(shape, p)
    reference = a.astype(np.float64) @ b
    errors = {}
    for preset in ("full-model", "paper-kernels"):
        params = toolchain.kernel_params("MeshGEMM", shape, p, p, preset)
        acc, _ = accumulate_form(params)
        c = MeshGemmCores(a_tiles, b_tiles, per_wavelet=2 if params["packed"] else 1,
                          acc=acc).launch(0, 1)
        assert c.dtype == acc
        out = unpack_cannon(c, shape[0], shape[2], interleaved=True)
        check = launcher_check(out, reference, params, shape[1])
        assert check.passed, preset
        errors[np.dtype(acc).name] = check.max_rel_err
        fp32_check = compare(out, reference, **tolerance("fp32", shape[1]))
        assert fp32_check.passed == (acc == np.float32)
    assert errors["float32"] < 1e-5 and errors["float16"] > 5e-3


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
                      swap: bool = False, pad: bool = True, acc=None, wire_dtype=None):
    """line_tree.csl's all_reduce on every column of a w x h grid (partial[y, x] is core
    (x, y)'s vector), on the traced routes of the given tree form: each chain member, from the
    chain's far end inward, sends its vector plus what arrived (`relay`); a root adds what
    arrives from each side (`absorb`); the line's root broadcasts. `drop` ("-" or "+"): a
    mutated root that, given two sides, ignores that side's stream. Streams travel as
    wavelets of `per_wavelet` fp16 (line_tree.csl's `packed`, over MeshGEMV's NT_WIRE buffer:
    `pad`; `swap`: see routes.from_wavelets); the adds work on the unpacked values, as a
    16-bit SIMD @faddh on both halves. `acc`: the element type the program holds and adds in
    (np.float32: line_tree's f32_values, @fadds; np.float16: @faddh), every add rounded to it;
    None: float64, exact enough to test the routing alone. `wire_dtype`: the values' type on
    the fabric (default `acc`; a wavelet carries 32 bits, so f32 values go one per wavelet)."""
    on_wire = wire_dtype or acc

    def wire(v):  # one core's vector over the fabric and off it again
        if on_wire is not None:
            if per_wavelet * np.dtype(on_wire).itemsize > 4:
                raise ValueError(f"{per_wavelet} x {np.dtype(on_wire).name} per wavelet: "
                                 "a wavelet carries 32 bits")
            v = v.astype(on_wire)
        sent = cr.to_wavelets(v[None, None], per_wavelet, pad)
        got = cr.from_wavelets(sent, v.shape, swap)[0, 0]
        return got if acc is None else got.astype(acc)

    def add(a, b):  # one @faddh / @fadds: rounded to the program's element type
        return a + b if acc is None else (a + b).astype(acc)

    h, w = partial.shape[:2]
    table = cr.RouteTable(w, h)
    cr.tree_routes(table, "y", root=root)
    vec = partial.copy() if acc is None else partial.astype(acc)
    return line_all_reduce(vec, table, "y", root, add, wire, drop=drop)


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


def _cancelling_partials(w: int, h: int, nt: int, offset: float):
    """f32 partial sums as @fmachs leaves them (random, plus +offset / -offset on alternate
    rows, h even: the common parts cancel in the column sum). Intermediate sums of that size
    beside a small result are where fp16 (spacing offset * 2^-10) loses digits fp32 keeps;
    with offset 0 an fp16 tree stays within the fp32 tolerance at these sizes, so the
    mutations below would go unseen."""
    rng = np.random.default_rng(h)
    signs = (-1.0) ** np.arange(h)
    return (rng.standard_normal((h, w, nt)) + offset * signs[:, None, None]).astype(np.float32)


@pytest.mark.parametrize("root", cr.TREE_ROOTS)
@pytest.mark.parametrize("h", [10, 40])
def test_meshgemv_fp32_tree_moves_f32_partials_and_adds_in_fp32(h, root):
    params = toolchain.kernel_params("MeshGEMV", (1, 64 * h, 24), 3, h, "full-model")
    acc, per_wavelet = accumulate_form(params)
    assert acc == np.float32 and per_wavelet == 1  # f32 partial sums, one per wavelet
    partial = _cancelling_partials(3, h, params["nt"], 64.0)
    expected = partial.astype(np.float64).sum(axis=0)

    def run(**form):
        vec = column_all_reduce(partial, root, per_wavelet=per_wavelet, **form)
        return launcher_check(vec, np.broadcast_to(expected, vec.shape), params, h)

    f32 = run(acc=np.float32)
    assert f32.passed and f32.max_rel_err < 1e-5
    wire16 = run(acc=np.float32, wire_dtype=np.float16)  # partials rounded to fp16 on the wire
    add16 = run(acc=np.float16)                          # @faddh instead of @fadds
    for mutant in (wire16, add16):
        assert not mutant.passed and mutant.max_rel_err > 5e-3  # 5x the fp32 tolerance
    with pytest.raises(ValueError, match="a wavelet carries 32 bits"):
        column_all_reduce(partial, root, per_wavelet=2, acc=np.float32)  # f32 packed: refused


@pytest.mark.parametrize("root", cr.TREE_ROOTS)
def test_meshgemv_fp16_tree_of_paper_kernels_packs_and_passes_its_check(root):
    h = 10
    params = toolchain.kernel_params("MeshGEMV", (1, 64 * h, 21), 3, h, "paper-kernels")
    acc, per_wavelet = accumulate_form(params)
    assert acc == np.float16 and per_wavelet == 2 and params["nt"] % 2 == 1  # padded
    partial = _cancelling_partials(3, h, params["nt"], 0.0).astype(np.float16)
    vec = column_all_reduce(partial, root, per_wavelet=per_wavelet, acc=acc)
    assert vec.dtype == np.float16
    expected = partial.astype(np.float64).sum(axis=0)
    assert launcher_check(vec, np.broadcast_to(expected, vec.shape), params, h).passed


class HeldMemory(launch.Session):
    """launch.Session over memcpy words held here instead of an SDK runtime: the launcher's
    puts are kept; a read returns what `kernel(held)` computes, as the kernel holds it, and
    must use the width it is held at (a 16-bit read of an f32 array would be garbage)."""

    def __init__(self, width: int, height: int, kernel):
        self.width, self.height, self.kernel, self.held = width, height, kernel, {}

    def _copy(self, direction, symbol, data, per_core, bits):
        if direction == "h2d":
            self.held[symbol] = launch.words_to_f16(data, (self.height, self.width, per_core))
            return
        value = self.kernel(self.held)[symbol].reshape(self.height, self.width, per_core)
        assert bits == 8 * value.dtype.itemsize, f"{symbol}: {bits}-bit read of {value.dtype}"
        data[...] = (np.ascontiguousarray(value).view(np.uint32).ravel() if bits == 32
                     else launch.f16_to_words(value))

    def run(self, warmup, repeats):
        return {"cycles_mean": 100.0, "cycles_max": 100, "cycles_per_run": [100] * repeats,
                "repeats": repeats, "warmup": warmup}

    def stop(self):
        pass


def _launch(monkeypatch, tmp_path, module, shape, grid, preset, kernel):
    """Run kernels/<module>/run.py's main() on HeldMemory with the preset's compile params."""
    import importlib.util
    import json
    import sys
    from pathlib import Path

    params = toolchain.kernel_params(module, shape, *grid, preset)
    (tmp_path / "out.json").write_text(json.dumps({"params": {k: str(v)
                                                              for k, v in params.items()}}))
    monkeypatch.setattr(sys, "path", list(sys.path))  # the launcher prepends its own paths
    monkeypatch.setattr(launch, "Session", lambda name, cmaddr, w, h: HeldMemory(w, h, kernel))
    monkeypatch.setattr(sys, "argv", ["run.py", "--name", str(tmp_path), "--shape",
                                      "x".join(map(str, shape)), "--repeats", "2",
                                      "--out-json", str(tmp_path / "result.json")])
    path = Path(__file__).resolve().parents[1] / "kernels" / module / "run.py"
    spec = importlib.util.spec_from_file_location(f"launcher_{module}", path)
    launcher = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launcher)
    rc = launcher.main()
    return rc, json.loads((tmp_path / "result.json").read_text()), params


@pytest.mark.parametrize("preset", ["full-model", "paper-kernels"])
def test_meshgemv_launcher_reads_y_as_held_and_checks_at_its_accumulate(monkeypatch, tmp_path,
                                                                       preset):
    shape, (w, h) = (1, 100, 24), (3, 5)
    params = toolchain.kernel_params("MeshGEMV", shape, w, h, preset)
    acc, per_wavelet = accumulate_form(params)
    kt, nt = params["kt"], params["nt"]

    def kernel(held):  # pe_program.csl's run(): local_gemv, then the tree on its routes
        wt = held["W"].reshape(h, w, kt, nt).astype(np.float64)
        x = held["x"].astype(np.float64)
        y = np.zeros((h, w, nt), dtype=acc)
        for k in range(kt):  # one @fmachs / @fmach per row of W
            y = (y + x[:, :, k:k + 1] * wt[:, :, k]).astype(acc)
        return {"y": column_all_reduce(y, "middle" if params["tree_middle"] else "edge",
                                       per_wavelet=per_wavelet, acc=acc)}

    rc, doc, _ = _launch(monkeypatch, tmp_path, "MeshGEMV", shape, (w, h), preset, kernel)
    assert rc == 0 and doc["check"]["passed"] and doc["rows_agree"]
    assert doc["timing"]["rerun_identical"]
    acc_name = "fp32" if params["acc32"] else "fp16"
    assert doc["check"]["rtol"] == tolerance(acc_name, shape[1])["rtol"]
    assert f"accumulates in {acc_name}" in doc["check"]["reference"]


@pytest.mark.parametrize("preset", ["full-model", "paper-kernels"])
def test_meshgemm_launcher_reads_c_as_held_and_checks_at_its_accumulate(monkeypatch, tmp_path,
                                                                       preset):
    shape, p = (9, 30, 15), 3
    params = toolchain.kernel_params("MeshGEMM", shape, p, p, preset)
    acc, _ = accumulate_form(params)
    mt, kt, nt = params["Mt"], params["Kt"], params["Nt"]

    def kernel(held):  # the launch's runs on the traced rings, C as the program holds it
        a = held["A"].reshape(p, p, mt, kt).astype(np.float64)
        b = held["B"].reshape(p, p, kt, nt).astype(np.float64)
        return {"C": MeshGemmCores(a, b, per_wavelet=2 if params["packed"] else 1,
                                   acc=acc).launch(0, 1)}

    rc, doc, _ = _launch(monkeypatch, tmp_path, "MeshGEMM", shape, (p, p), preset, kernel)
    assert rc == 0 and doc["check"]["passed"] and doc["timing"]["rerun_identical"]
    assert "accumulates in " + ("fp32" if params["acc32"] else "fp16") in doc["check"]["reference"]

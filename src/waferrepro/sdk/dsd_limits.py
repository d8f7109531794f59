"""Whether a CSL kernel can encode its DSDs for a parameter set, checked before `cslc` runs.

CSL documentation, "Data Structure Descriptors" (sdk.cerebras.ai/csl/language/dsds, SDK 1.4
and 2.x): a `mem1d_dsd`'s extent is a u16, its stride an i8 and its offset an i16. The kernels
compute lengths, offsets and array sizes in i16 (their params are i16 and `view()` takes an
i16 length), so a length or offset past 32767 cannot be written either. Every value below
is one the kernels encode, from the same formulas as their pe_program.csl (named after the
DSD or constant there); a parameter set that does not fit is refused with the limit named.

Packed fabric DSDs (`packed`: two fp16 per 32-bit wavelet, the authors' `simd_mode`) move
whole wavelets: the kernels pad an odd transfer buffer by one element (MeshGEMM's A_WIRE and
B_WIRE, MeshGEMV's NT_WIRE, Decode's SS_WIRE, HEADS_WIRE, SCORES_WIRE and DY_WIRE, Prefill's
*_WIRE), so the lengths checked here are those padded ones (`wire`); an unpadded odd length is
refused by the library's comptime asserts (common/ring_shift.csl, common/line_tree.csl) and by
their Python twin (sdk.routes.to_wavelets).

fp32 accumulate (`acc32`: MeshGEMM's C, MeshGEMV's y, Decode's partial sums and Prefill's
accumulators f32, kernels' @fmachs): DSD extents, fabric ones too, count f32 elements (a fabric
extent is a number of wavelets, one f32 each: CSL docs, "Data Structure Descriptors"), and f32
partial sums are never packed, so MeshGEMV's, Decode's and Prefill's tree extents are
unpadded. Offsets are kept in 16-bit words (`@increment_dsd_offset` converts its element count
with the element type "into number of words", same page), so an f32 offset counts two per
element here: the stricter reading of the i16 offset limit; likewise Prefill's one strided f32
window (query_col) counts its stride in words.
"""

from __future__ import annotations

STRIDE_MAX = 127        # mem1d_dsd stride: i8
OFFSET_MAX = 32767      # mem1d_dsd offset (and @increment_dsd_offset's argument): i16
LENGTH_MAX = 32767      # extent is u16, but the kernels compute it in i16
I16_MAX = 32767         # comptime sizes (array lengths, fabric DSD extents) held in i16

LIMITS = {"stride": (STRIDE_MAX, "mem1d_dsd stride is i8"),
          "offset": (OFFSET_MAX, "mem1d_dsd offset is i16"),
          "length": (LENGTH_MAX, "DSD extent u16, computed in i16 by the kernel"),
          "size": (I16_MAX, "i16 comptime size in the kernel")}


def wire(n: int, p: dict) -> int:
    """Elements a transfer of n fp16 moves: packed, padded to whole wavelets (even)."""
    return n + n % 2 if p.get("packed", 0) else n


def acc_words(p: dict) -> int:
    """16-bit words per accumulator element: 2 for f32 (`acc32`), 1 for fp16."""
    return 2 if p.get("acc32", 0) else 1


def tree_wire(n: int, p: dict) -> int:
    """Elements a tree of partial sums (MeshGEMV's, Decode's, Prefill's row all-reduces) moves
    per transfer of n: f32 ones (`acc32`) one per wavelet, unpadded; fp16 ones as any fp16
    transfer (`wire`)."""
    return n if p.get("acc32", 0) else wire(n, p)


def _meshgemm(p: dict) -> list[tuple[str, str, int]]:
    mt, kt, nt = p["Mt"], p["Kt"], p["Nt"]
    return [("c_row, b_row length Nt", "length", nt),
            ("c_all length Mt*Nt", "length", mt * nt),
            ("a_all / ring extent A_WIRE", "length", wire(mt * kt, p)),
            ("b_all / ring extent B_WIRE", "length", wire(kt * nt, p)),
            ("b_dsd offset (Kt-1)*Nt", "offset", (kt - 1) * nt),
            ("c_dsd offset 2*(Mt-1)*Nt words (f32 C)" if p.get("acc32", 0)
             else "c_dsd offset (Mt-1)*Nt", "offset", acc_words(p) * (mt - 1) * nt)]


def _meshgemv(p: dict) -> list[tuple[str, str, int]]:
    kt, nt = p["kt"], p["nt"]
    return [("y_dsd / tree extent NT_WIRE", "length", tree_wire(nt, p)),
            ("W size kt*nt", "size", kt * nt),
            ("row_dsd offset (kt-1)*nt", "offset", (kt - 1) * nt)]


def _decode(p: dict) -> list[tuple[str, str, int]]:
    dy, cq, ckv, cf, rep = p["dy"], p["cq"], p["ckv"], p["cf"], p["rep"]
    heads, cap = p["heads"], p["cap"]
    w = cq + 2 * ckv
    words = acc_words(p)  # scores and o are acc_t: their offsets and stride in 16-bit words
    f32 = " words (f32)" if p.get("acc32", 0) else ""
    # The scores are token-major (scores[t*heads + hd]): score_col walks one head's tokens at
    # stride heads; each step reduces n*heads <= heads*cap of them (scores_len, padded).
    return [("cache_col stride ckv", "stride", ckv),
            (f"score_col stride heads{f32}", "stride", words * heads),
            ("scores / xtree extent X_MAX = max(SCORES_WIRE, DY_WIRE)", "length",
             max(tree_wire(heads * cap, p), tree_wire(dy, p))),
            ("ytree extent Y_MAX = max(W, HEADS_WIRE, cq, 2cf)", "length",
             max(w, tree_wire(heads, p), cq, 2 * cf)),
            ("gemv row offset (dy-1)*W", "offset", (dy - 1) * w),
            ("gemv row offset (dy-1)*2cf", "offset", (dy - 1) * 2 * cf),
            ("gemv row offset (cq-1)*dy, (cf-1)*dy", "offset", (max(cq, cf) - 1) * dy),
            (f"score_col offset g*rep+r{f32}", "offset", words * (heads - 1)),
            ("pcol offset t*heads + g*rep (fp16 probabilities)", "offset",
             (cap - 1) * heads + heads - rep),
            (f"o offset e*rep{f32}", "offset", words * (ckv - 1) * rep),
            ("wqkv size dy*W", "size", dy * w), ("wgu size dy*2cf", "size", dy * 2 * cf),
            ("kcache size cap*ckv", "size", cap * ckv)]


def _prefill(p: dict) -> list[tuple[str, str, int]]:
    lt, dt, cq, ckv, ft, heads = p["lt"], p["dt"], p["cq"], p["ckv"], p["ft"], p["heads"]
    w = cq + 2 * ckv
    hl = heads * lt
    w_max = max(dt * w, cq * dt, dt * 2 * ft, wire(ft * dt, p))
    kv = 2 * lt * ckv
    x_ext = max(lt * max(w, 2 * ft), lt * cq, wire(lt * ft, p), kv)
    acc = acc_words(p)  # words per accumulator element (f32 under acc32)
    f32 = " words (f32)" if p.get("acc32", 0) else ""
    return [("feature_col stride ckv", "stride", ckv),
            (f"query_col stride cq{f32}", "stride", acc * cq),
            ("key_col stride lt", "stride", lt),
            ("scores size HL*lt", "size", hl * lt),
            ("W_MAX size", "size", w_max), ("X_EXT ring extent", "size", x_ext),
            ("Y_EXT ring extent", "size", max(w_max, kv)),
            ("xtree extent HL_WIRE", "length", tree_wire(hl, p)),
            ("matmul b_row offset (k-1)*n", "offset", max((dt - 1) * max(w, 2 * ft),
                                                          (max(cq, ft) - 1) * dt)),
            (f"matmul c_row offset (lt-1)*n{f32}", "offset",
             acc * (lt - 1) * max(w, 2 * ft, dt)),
            (f"scores row offset ((g*rep+r)*lt+a)*lt{f32}", "offset", acc * (hl - 1) * lt),
            (f"query_col offset e*rep+r{f32}", "offset", acc * (cq - 1)),
            ("key_col offset (g*rep+r)*lt*lt + t", "offset", hl * lt - 1),
            ("V half offset lt*ckv", "offset", lt * ckv)]


ENCODED = {"MeshGEMM": _meshgemm, "MeshGEMV": _meshgemv, "Decode": _decode,
           "Prefill": _prefill}


def encoded(module: str, params: dict) -> list[tuple[str, str, int]]:
    """(what, kind, value) of every stride, offset, length and i16 size the kernel encodes."""
    if module not in ENCODED:
        raise ValueError(f"no DSD limits known for module {module!r}")
    return ENCODED[module](params)


def check(module: str, params: dict) -> None:
    """Refuse a parameter set the kernel cannot encode; the message names every limit hit."""
    bad = [f"{what} = {value} > {LIMITS[kind][0]} ({LIMITS[kind][1]})"
           for what, kind, value in encoded(module, params) if value > LIMITS[kind][0]]
    if bad:
        raise ValueError(f"{module} cannot be compiled for {params}: " + "; ".join(bad)
                         + " (waferrepro.sdk.dsd_limits; CSL docs, Data Structure Descriptors)")

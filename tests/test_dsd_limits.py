"""The CSL kernels' DSD limits (waferrepro.sdk.dsd_limits), checked before cslc: the smoke
configurations fit, paper-size parameter sets are refused with the limit named, and the
refusal reaches `waferrepro sdk params` and the compile command."""

import pytest

from waferrepro import cli
from waferrepro.models import arch
from waferrepro.sdk import dsd_limits
from waferrepro.sdk import toolchain as sdk
from waferrepro.sdk.inputs import decode_params, prefill_params


@pytest.mark.parametrize("module,shape,grid", [
    ("MeshGEMM", (64, 64, 64), (2, 2)), ("MeshGEMM", (64, 64, 64), (3, 3)),
    ("MeshGEMM", (64, 64, 64), (4, 4)), ("MeshGEMV", (1, 64, 64), (4, 4)),
    ("MeshGEMV", (1, 64, 64), (5, 3)), ("MeshGEMV", (1, 100, 100), (4, 4)),
    ("MeshGEMV", (1, 100, 100), (5, 3))])
def test_sdk_smoke_kernels_fit(module, shape, grid):
    dsd_limits.check(module, sdk.kernel_params(module, shape, *grid, preset="full-model"))


def test_sdk_smoke_models_fit():
    a = arch("tiny-llama")
    dsd_limits.check("Prefill", prefill_params(a, 4, 16, preset="full-model"))
    dsd_limits.check("Prefill", prefill_params(a, 4, 16, preset="paper-kernels"))
    for kv in ("shift", "concat"):
        for preset in ("full-model", "paper-kernels"):
            dsd_limits.check("Decode", decode_params(a, 4, 3, 7, kv, preset=preset))


def test_paper_size_prefill_on_4x4_is_refused_naming_the_limit():
    params = prefill_params(arch("llama3-8b"), 4, 4096, preset="full-model")
    assert params["cq"] == 1024 and params["acc32"] == 1
    # full-model: query_col walks the f32 P x V output, its stride counted in 16-bit words
    refusal = r"query_col stride cq words \(f32\) = 2048 > 127 \(mem1d_dsd stride is i8\)"
    with pytest.raises(ValueError, match=refusal):
        dsd_limits.check("Prefill", params)
    with pytest.raises(ValueError, match=r"query_col stride cq = 1024 > 127"):
        dsd_limits.check("Prefill", {**params, "acc32": 0})
    spec = sdk.CompileSpec("Prefill", 4, 4, params)
    with pytest.raises(ValueError, match="stride is i8"):
        sdk.compile_command(spec, "simulator", "layout.csl", "out")


def test_each_limit_is_enforced_at_its_boundary():
    ok = {"width": 1, "height": 1, "kt": 1, "nt": 32767, "group": 1}
    dsd_limits.check("MeshGEMV", ok)
    with pytest.raises(ValueError, match="y_dsd / tree extent NT_WIRE = 32768"):
        dsd_limits.check("MeshGEMV", {**ok, "nt": 32768})
    dec = decode_params(arch("tiny-llama"), 4, 3, 7, "shift", preset="full-model")
    # token-major scores: score_col's stride is heads (fp16 partial sums; in words for f32)
    dsd_limits.check("Decode", {**dec, "heads": 127, "acc32": 0})
    with pytest.raises(ValueError, match="score_col stride heads = 128 > 127"):
        dsd_limits.check("Decode", {**dec, "heads": 128, "acc32": 0})
    # packed fp16 partial sums: the scores buffer and the longest scores all-reduce (a full
    # row, n = cap) are SCORES_WIRE (heads*cap padded to even); f32 ones (acc32) travel one
    # per wavelet, unpadded, whatever `packed` says
    odd = {**dec, "heads": 31, "cap": 1057, "ckv": 2, "acc32": 0}  # heads*cap = 32767
    dsd_limits.check("Decode", {**odd, "packed": 0})
    with pytest.raises(ValueError, match=r"X_MAX = max\(SCORES_WIRE, DY_WIRE\) = 32768 > 32767"):
        dsd_limits.check("Decode", {**odd, "packed": 1})
    f32 = dict((what, value) for what, _, value in
               dsd_limits.encoded("Decode", {**odd, "packed": 1, "acc32": 1}))
    assert f32["scores / xtree extent X_MAX = max(SCORES_WIRE, DY_WIRE)"] == 32767


def test_decode_f32_partial_sums_count_their_offsets_in_words():
    # Under acc32 scores and o are f32: score_col's stride and offset and o's offset take two
    # 16-bit words an element (MeshGEMM's C, Prefill's query_col reading), the fp16
    # probabilities' window one.
    dec = decode_params(arch("tiny-llama"), 4, 3, 7, "shift", preset="full-model")
    assert dec["acc32"] == 1
    f16, f32 = ({what.replace(" words (f32)", ""): value for what, _, value in
                 dsd_limits.encoded("Decode", {**dec, "acc32": acc})} for acc in (0, 1))
    for what in ("score_col stride heads", "score_col offset g*rep+r", "o offset e*rep"):
        assert f32[what] == 2 * f16[what] > 0, what
    probs = "pcol offset t*heads + g*rep (fp16 probabilities)"
    assert f32[probs] == f16[probs] == (dec["cap"] - 1) * dec["heads"] + dec["heads"] - dec["rep"]
    # 64 heads (qwen2-72b's) fit the i8 stride as fp16, not as f32 words
    wide = {**dec, "heads": 64}
    dsd_limits.check("Decode", {**wide, "acc32": 0})
    with pytest.raises(ValueError, match=r"score_col stride heads words \(f32\) = 128 > 127"):
        dsd_limits.check("Decode", wide)


def test_packed_prefill_is_checked_at_its_padded_lengths():
    # kernels/Prefill pads its odd lengths when packed (LT_WIRE, HL_WIRE, FD_WIRE, LF_WIRE):
    # the tree extent HL = heads * lt = 32767 fits unpacked, its wire length 32768 does not.
    prm = {**prefill_params(arch("tiny-llama"), 4, 16, preset="full-model"), "heads": 1,
           "lt": 32767}
    encoded = {what: value for what, _, value in dsd_limits.encoded("Prefill", prm)}
    assert encoded["xtree extent HL_WIRE"] == 32767
    packed = {what: value for what, _, value in
              dsd_limits.encoded("Prefill", {**prm, "packed": 1, "acc32": 0})}
    assert packed["xtree extent HL_WIRE"] == 32768
    with pytest.raises(ValueError, match="xtree extent HL_WIRE = 32768"):
        dsd_limits.check("Prefill", {**prm, "packed": 1, "acc32": 0})
    # f32 sums (acc32) travel one per wavelet, never padded (TREE_PACKED)
    f32 = {what: value for what, _, value in
           dsd_limits.encoded("Prefill", {**prm, "packed": 1, "acc32": 1})}
    assert f32["xtree extent HL_WIRE"] == 32767


def test_prefill_f32_accumulators_count_their_offsets_in_words():
    # acc32: the scores, the Cannon output's rows and the P x V output's columns are f32, so
    # their offsets (and query_col's stride) count two 16-bit words per element
    prm = prefill_params(arch("tiny-llama"), 4, 16, preset="full-model")
    f16, f32 = ({what.replace(" words (f32)", ""): value for what, _, value in
                 dsd_limits.encoded("Prefill", {**prm, "acc32": acc})} for acc in (0, 1))
    for what in ("query_col stride cq", "matmul c_row offset (lt-1)*n",
                 "scores row offset ((g*rep+r)*lt+a)*lt", "query_col offset e*rep+r"):
        assert f32[what] == 2 * f16[what] > 0, what
    assert f32["key_col offset (g*rep+r)*lt*lt + t"] == f16["key_col offset (g*rep+r)*lt*lt + t"]


def test_sdk_params_refuses_what_the_kernel_cannot_encode(capsys):
    rc = cli.main(["sdk", "params", "--system", "Prefill", "--cores", "4x4", "--model",
                   "llama3-8b", "--input-len", "4096"])
    assert rc == 1 and "mem1d_dsd stride is i8" in capsys.readouterr().err
    assert cli.main(["sdk", "params", "--system", "Prefill", "--cores", "4x4", "--model",
                     "tiny-llama", "--input-len", "16"]) == 0

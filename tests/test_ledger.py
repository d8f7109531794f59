"""The ledger of the authors' kernels (waferrepro.ledger) against what meshsim charges under
the paper-kernels preset: every charged construct's count, on small configurations, equals
the count from the authors' loop bounds (each formula cites its line in ledger.py)."""

import math

import pytest

from waferrepro import ledger, meshsim, presets
from waferrepro.hardware import WSE2, WSE3
from waferrepro.meshsim.decode import decode_layer
from waferrepro.meshsim.decode_layout import DecodeLayout, KVCache
from waferrepro.meshsim.prefill import prefill_layer
from waferrepro.meshsim.prefill_layout import PrefillLayout
from waferrepro.models import arch

PRESET = "paper-kernels"
HW = presets.hardware(WSE2, PRESET)


def charged(ops: dict, kernel: str, dims: ledger.Dims) -> None:
    want = ledger.expected(kernel, dims)
    got = {k: ops.get(k, 0) for k in want}
    assert got == want, f"{kernel} at {dims}: meshsim charged {got}, the ledger says {want}"


HW3 = presets.hardware(WSE3, PRESET)


@pytest.mark.parametrize("hw", [HW, HW3], ids=["wse2", "wse3"])
@pytest.mark.parametrize("p,shape", [(4, (32, 48, 64)), (6, (30, 60, 42)), (5, (17, 23, 29)),
                                     (16, (16, 128, 48)), (16, (128, 16, 16))])
def test_meshgemm_counts(hw, p, shape):
    """Both chips run one program (MeshGEMM/WSE-3 at 7122d0f = WSE-2 at 2cd13b5 but for its
    ids); the authors' benchmark shapes include Mt = 1 (M = P), still their GEMM loop."""
    run = meshsim.simulate("MeshGEMM", shape, p, p, hw, False,
                           kernel=presets.kernel("MeshGEMM", PRESET)).run
    mt, kt, nt = (math.ceil(v / p) for v in shape)
    charged(run.fabric.timeline.ops(), "MeshGEMM", ledger.Dims(P=p, Mt=mt, Kt=kt, Nt=nt))


@pytest.mark.parametrize("hw", [HW, HW3], ids=["wse2", "wse3"])
@pytest.mark.parametrize("p,shape,group_num", [(4, (1, 64, 48), None), (8, (1, 100, 36), None),
                                               (16, (1, 128, 16), 2), (16, (1, 16, 48), 8),
                                               (80, (1, 160, 640), 4)])
def test_meshgemv_counts(hw, p, shape, group_num):
    run = meshsim.simulate("MeshGEMV", shape, p, p, hw, False,
                           kernel=presets.kernel("MeshGEMV", PRESET, group_num)).run
    ops = run.fabric.timeline.ops()
    charged(ops, "MeshGEMV", ledger.Dims(P=p, Mt=math.ceil(shape[1] / p),
                                         Nt=math.ceil(shape[2] / p),
                                         G=run.params["group_num"]))


@pytest.mark.parametrize("model,p,context", [("tiny-llama", 4, 9), ("llama3-8b", 128, 1000)])
def test_decode_counts(model, p, context):
    run = presets.decode_run(arch(model), "shift", PRESET)
    lay = DecodeLayout.on(HW, run.arch, p, p)
    cache = KVCache(lay.rows_tokens(context, run.kv))
    fab, _ = decode_layer(HW, run.arch, p, p, cache, context, run.kv, 2,
                          tree_root=run.tree_root)
    assert lay.dy == lay.cq  # one head of hidden width: the authors' d
    s = int(lay.rows_tokens(context + 1, run.kv).max())
    charged(fab.timeline.ops(), "Decode", ledger.Dims(P=p, d=lay.dy, s=s, f=lay.cf))


@pytest.mark.parametrize("model,p,tokens", [("tiny-llama", 4, 16), ("llama3-8b", 240, 960)])
def test_prefill_counts(model, p, tokens):
    run = presets.prefill_run(arch(model), PRESET)
    levels, root = run.row_tree
    fab, _ = prefill_layer(HW, run.arch, p, tokens, tree_levels=levels, causal=run.causal,
                           tree_root=root)
    lay = PrefillLayout.on(HW, run.arch, p, tokens)
    assert lay.dt == lay.cq == lay.ckv
    charged(fab.timeline.ops(), "Prefill", ledger.Dims(P=p, d=lay.dt, s=lay.lt, f=lay.ft))


def test_vector_form_charges_no_authors_constructs():
    """full-model keeps its own loop order: no @map elements, scalar loops or tasks."""
    hw = presets.hardware(WSE2, "full-model")
    run = meshsim.simulate("MeshGEMM", (32, 48, 64), 4, 4, hw, False,
                           kernel=presets.kernel("MeshGEMM", "full-model")).run
    ops = run.fabric.timeline.ops()
    assert not {"map_element", "scalar_iteration", "task"} & set(ops)
    assert ops  # it still says what it issued: DSD operations


def test_every_entry_cites_its_source():
    for kernel, entries in ledger.KERNELS.items():
        for e in entries:
            assert e.source and e.what and e.cost, (kernel, e)


def _metrics(record):
    return {m["metric"]: m["value"] for m in record["metrics"]}


@pytest.mark.parametrize("job", ["MeshGEMM", "MeshGEMV", "SUMMA", "decode", "prefill"])
def test_functional_runs_match_numpy_and_the_cycle_model_on_the_calibrated_profile(job):
    """Under paper-kernels on the calibrated profile, a functional run passes its NumPy check
    and gives the cycle model's cycles."""
    from waferrepro.hardware_profiles import get_hardware
    from waferrepro.jobs.meshsim import run_decode, run_meshsim, run_prefill

    hw = get_hardware("wse2")
    assert hw.calibration

    def run(mode):
        if job in ("MeshGEMM", "MeshGEMV", "SUMMA"):
            shape = "1x96x64" if job == "MeshGEMV" else "48x40x32"
            return run_meshsim(job, shape, "4x4", hw, mode, preset=PRESET)
        if job == "decode":
            return run_decode("tiny-llama", "4x4", 9, 3, "shift", hw, mode, preset=PRESET)
        return run_prefill("tiny-llama", "4x4", 16, hw, mode, preset=PRESET)

    functional, cycles = run("functional"), run("cycle-model")
    assert functional["check"]["performed"] and functional["check"]["passed"]
    f, c = _metrics(functional), _metrics(cycles)
    assert f["cycles"] == c["cycles"] and f["cycles"] > 0
    if job == "SUMMA":  # the authors' program (ledger.SUMMA), its efficiency a share
        assert functional["what"]["params"]["schedule"]["summa_form"] == "authors"
        assert 0 < f["compute_efficiency"] <= 1
    assert ("calibrated on results/reference/training.csv, "
            "results/reference/training-wse3.csv") in functional["note"]


# --- SUMMA (issue 23): the authors' program at upstream 0a0487b, ledger.SUMMA ---------------

@pytest.mark.parametrize("p,shape", [(4, (32, 48, 64)), (6, (30, 60, 42)), (5, (17, 23, 29)),
                                     (4, (4, 40, 24))])
def test_summa_counts(p, shape):
    run = meshsim.simulate("SUMMA", shape, p, p, HW, False,
                           kernel=presets.kernel("SUMMA", PRESET)).run
    assert run.params["form"] == "authors"
    mt, kt, nt = (math.ceil(v / p) for v in shape)
    charged(run.fabric.timeline.ops(), "SUMMA", ledger.Dims(P=p, Mt=mt, Kt=kt, Nt=nt))


def test_summa_ledger_cites_the_summa_commit():
    assert ledger.SUMMA_COMMIT == "0a0487b" and ledger.KERNELS["SUMMA"] is ledger.SUMMA
    assert all(e.source.startswith(("SU:", "SL:")) for e in ledger.SUMMA)
    # Kt*Nt @fmach per step and one @map element each: the authors' loop, not a vector form
    want = ledger.expected("SUMMA", ledger.Dims(P=3, Mt=2, Kt=5, Nt=7))
    assert want["dsd:fmach"] == want["map_element"] == 3 * 5 * 7 and want["task"] == 9

"""Schedule presets: both run every kernel correctly; the paper's kernels' options do what
they claim."""

from dataclasses import replace

import numpy as np
import pytest

from waferrepro import check, presets, records, tables
from waferrepro.hardware import WSE2
from waferrepro.jobs.meshsim import run_meshsim
from waferrepro.meshsim import SYSTEMS, make_inputs, simulate


@pytest.mark.parametrize("preset", sorted(presets.PRESETS))
@pytest.mark.parametrize("system", sorted(SYSTEMS))
@pytest.mark.parametrize("p", [5, 8])
def test_every_kernel_matches_numpy_under_every_preset(preset, system, p):
    shape = (1, 300, 200) if "GEMV" in system else (40, 56, 24)
    hw = presets.hardware(WSE2, preset)
    out = simulate(system, shape, p, p, hw, True, kernel=presets.kernel(system, preset))
    assert out.check.passed
    model = simulate(system, shape, p, p, hw, False, kernel=presets.kernel(system, preset))
    assert model.run.cycles == out.run.cycles  # the cycle model runs the same schedule


def test_middle_roots_about_halve_the_tree_and_broadcast_hops():
    def comm(preset):
        run = simulate("MeshGEMV", (1, 16384, 16384), 720, 720, WSE2, False,
                       kernel=presets.kernel("MeshGEMV", preset)).run
        return run.fabric.timeline.breakdown()["latency"]
    ratio = comm("paper-kernels") / comm("full-model")
    assert 0.4 < ratio < 0.6


def test_decode_follows_the_presets_tree_root():
    # Decode's all-reduces take the preset's roots (the authors' Decode: every reduction a
    # two-tree); the record lists the option; the cycle model runs what the record says.
    from waferrepro.jobs.meshsim import run_decode
    from waferrepro.model_metrics import decode_metrics
    from waferrepro.models import arch

    assert "Decode" in presets.APPLIES["tree_root"]
    assert [presets.tree_root(p) for p in ("paper-kernels", "full-model")] == ["authors", "edge"]
    hw = presets.hardware(WSE2, "paper-kernels")
    a = presets.attention_arch(arch("llama3-8b"), "paper-kernels")
    latency = {root: decode_metrics(hw, a, 360, 360, 256, 4, "static", tree_root=root)[0]
               ["cycles_latency"][0] for root in ("edge", "middle", "authors")}
    # a middle root halves the hops; the authors' (20 groups on 360, not ours 19) about so
    assert 0.4 < latency["middle"] / latency["edge"] < 0.6
    assert 0.4 < latency["authors"] / latency["edge"] < 0.6
    rec = run_decode("tiny-llama", "7x6", 7, 2, "shift", WSE2, "functional",
                     preset="paper-kernels")
    assert rec["what"]["params"]["schedule"]["tree_root"] == "authors"
    assert rec["check"]["performed"] and rec["check"]["passed"]
    full = run_decode("tiny-llama", "7x6", 7, 2, "shift", WSE2, "cycle-model",
                      preset="full-model")
    assert full["what"]["params"]["schedule"]["tree_root"] == "edge"


def test_prefill_row_all_reduces_follow_the_preset():
    # paper-kernels: one chain per side of the whole row into its middle (the authors'
    # mv_allreduce_add_x / _max_x); full-model: our two-level edge tree. Only the row
    # all-reduces' cycles change; the record lists both options; functional runs pass.
    from waferrepro.jobs.meshsim import run_end_to_end, run_prefill
    from waferrepro.meshsim.prefill import prefill_layer
    from waferrepro.models import arch

    assert "Prefill" in presets.APPLIES["tree_root"]
    assert presets.APPLIES["prefill_row_levels"] == ("Prefill",)
    assert presets.prefill_row_tree("paper-kernels") == (1, "authors")
    assert presets.prefill_row_tree("full-model") == (2, "edge")
    hw = presets.hardware(WSE2, "paper-kernels")
    a = presets.attention_arch(arch("llama3-8b"), "paper-kernels")
    labels = {tree: prefill_layer(hw, a, 360, 4096, tree_levels=tree[0], causal=False,
                                  tree_root=tree[1])[0].timeline.by_label()
              for tree in ((2, "edge"), (1, "authors"))}
    ours, authors = labels[(2, "edge")], labels[(1, "authors")]
    changed = {k for k in ours if ours[k] != authors[k]}
    assert changed == {"rmsnorm 1: all-reduce (x)", "rmsnorm 2: all-reduce (x)",
                       "softmax: max all-reduce (x)", "softmax: sum all-reduce (x)"}
    for preset in ("paper-kernels", "full-model"):
        rec = run_prefill("tiny-llama", "5x5", 23, presets.hardware(WSE2, preset), "functional",
                          preset=preset)
        schedule = rec["what"]["params"]["schedule"]
        assert (schedule["prefill_row_levels"], schedule["tree_root"]) == \
            presets.prefill_row_tree(preset)
        assert rec["check"]["performed"] and rec["check"]["passed"]
    e2e = run_end_to_end("tiny-llama", "4x4", "4x4", 16, 2, WSE2, "functional",
                         preset="paper-kernels")
    assert e2e["check"]["passed"] and e2e["what"]["params"]["schedule"]["prefill_row_levels"] == 1


def test_prefill_middle_root_sits_one_off_the_authors_for_even_rows_at_the_same_cost():
    # our CSL's middle root of an even row is P/2 - 1, the authors' P/2 (meshsim's "authors"
    # form): the mirror image (sides of P/2 - 1 and P/2 members either way), so the chain's
    # far member, the root's two receives and the broadcast's reach are the same.
    from waferrepro.meshsim.comm import tree_plan, tree_root

    for p in (4, 360):
        assert tree_root(p, 1, "middle") == p // 2 - 1
        assert tree_root(p, 1, "authors") == p // 2
        (group,) = tree_plan(p, 1, "middle")[0]
        r, authors = tree_root(p, 1, "middle"), p // 2
        assert sorted([r - group[0], group[-1] - r]) == \
            sorted([authors - group[0], group[-1] - authors])
    assert tree_root(5, 1, "middle") == 5 // 2  # odd rows: the same core


def test_device_skew_is_timed_and_packing_halves_fp16_wavelets():
    full = simulate("MeshGEMM", (2048,) * 3, 240, 240, WSE2, False,
                    kernel=presets.kernel("MeshGEMM", "full-model")).run
    paper = simulate("MeshGEMM", (2048,) * 3, 240, 240, presets.hardware(WSE2, "paper-kernels"),
                     False, kernel=presets.kernel("MeshGEMM", "paper-kernels")).run
    skew = paper.fabric.timeline.by_label()["A pre-skew round on the device (x)"]
    assert skew > 0 and not {k for k in full.fabric.timeline.by_label() if "pre-skew" in k}
    assert presets.hardware(WSE2, "paper-kernels").fp16_per_wavelet == 2


def test_records_and_tables_name_the_preset(tmp_path):
    rec = run_meshsim("MeshGEMV", "1x512x512", "8x8", WSE2, "functional", preset="paper-kernels")
    assert rec["what"]["preset"] == "paper-kernels"
    assert rec["what"]["params"]["schedule"]["tree_root"] == "authors"
    table = tables.build("t", [records.write(rec, tmp_path / "r.json")])
    assert set(table["preset"]) == {"paper-kernels"}


def _kernel_run(system, shape, p, accumulate, functional=False, preset="paper-kernels"):
    hw = replace(presets.hardware(WSE2, preset), accumulate=accumulate)
    return simulate(system, shape, p, p, hw, functional, kernel=presets.kernel(system, preset))


def test_presets_pick_the_accumulate_precision_of_their_kernels():
    assert presets.hardware(WSE2, "paper-kernels").mac_instruction == "fmach"  # as their CSL
    assert presets.hardware(WSE2, "full-model").mac_instruction == "fmachs"


def test_accumulate_sets_the_mac_width_partial_transfers_and_accumulator_bytes():
    gemm = {acc: _kernel_run("MeshGEMM", (2048,) * 3, 256, acc).run for acc in ("fp16", "fp32")}
    matmul = {acc: r.fabric.timeline.breakdown()["matmul"] for acc, r in gemm.items()}
    assert matmul["fp16"] / matmul["fp32"] == pytest.approx(WSE2.simd_fmachs / WSE2.simd_fmach)
    assert gemm["fp16"].fabric.buffers["C (fp16 accumulator)"] * 2 == \
        gemm["fp32"].fabric.buffers["C (fp32 accumulator)"]
    # MeshGEMV's partial sums: fp16 ones pack two per wavelet under paper-kernels.
    gemv = {acc: _kernel_run("MeshGEMV", (1, 16384, 16384), 512, acc).run
            for acc in ("fp16", "fp32")}
    moved = {acc: r.fabric.timeline.breakdown()["transfer"] for acc, r in gemv.items()}
    assert moved["fp16"] * 2 == pytest.approx(moved["fp32"])


def test_fp16_accumulation_changes_the_numerics_and_needs_its_own_tolerance():
    # Mutation test: fp16-accumulated numerics pass their derived bound but fail fp32's
    # tolerance at K=1024; fp32 numerics are orders of magnitude closer to the reference.
    shape = (16, 1024, 16)
    a, b = make_inputs(shape, 0)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    fp16 = _kernel_run("MeshGEMM", shape, 4, "fp16", functional=True)
    fp32 = _kernel_run("MeshGEMM", shape, 4, "fp32", functional=True)
    assert fp16.check.passed and fp16.check.rtol == check.tolerance("fp16", 1024)["rtol"]
    assert not check.compare(fp16.run.output, ref, **check.tolerance("fp32", 1024)).passed
    assert fp32.check.max_rel_err * 100 < fp16.check.max_rel_err


def test_records_name_the_accumulate_instruction():
    rec = run_meshsim("MeshGEMV", "1x512x512", "8x8", WSE2, "functional", preset="paper-kernels")
    assert rec["what"]["params"]["schedule"]["accumulate"] == "fp16"
    assert "@fmach: fp16 accumulate" in rec["note"]
    rec = run_meshsim("MeshGEMV", "1x512x512", "8x8", WSE2, "cycle-model", preset="full-model")
    assert "@fmachs: fp32 accumulate" in rec["note"]


def test_a_user_override_wins_even_at_the_nominal_value():
    """fp32 and one fp16 per wavelet are WSE-2's nominal values; set by the user, the
    paper-kernels preset must keep them (it used to compare with the nominal, and lost them)."""
    from waferrepro import presets
    from waferrepro.hardware_profiles import get_hardware

    hw = presets.hardware(get_hardware("wse2", {"accumulate": "fp32", "fp16_per_wavelet": 1}),
                          "paper-kernels")
    assert (hw.accumulate, hw.fp16_per_wavelet) == ("fp32", 1)
    assert "user_set" not in hw.as_dict()  # records carry hardware facts only

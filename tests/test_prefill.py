from dataclasses import replace

import numpy as np
import pytest

from waferrepro.check import NumericMismatch, require_close
from waferrepro.hardware import WSE2
from waferrepro.hardware_profiles import get_hardware
from waferrepro.meshsim.prefill import prefill_layer
from waferrepro.meshsim.prefill_layout import PrefillLayout, pack_weights
from waferrepro.models import arch
from waferrepro.reference_layer import layer, random_weights

# Numerics on grids too small to hold even the tiny model in 48 KB per core: more SRAM.
BIG_SRAM = get_hardware("wse2", {"sram_bytes_per_core": 1 << 22})


def _run(a, p, tokens, seed=0, hw=WSE2, row_tree=(2, "edge")):
    w = random_weights(a, seed)
    x = np.random.default_rng(seed + 1).standard_normal((tokens, a.hidden)).astype(np.float16)
    ref, _, _ = layer(x, w, a, np.arange(tokens))
    levels, root = row_tree
    fab, out = prefill_layer(hw, a, p, tokens, pack_weights(PrefillLayout(a, p, tokens), w), x,
                             tree_levels=levels, tree_root=root)
    require_close(out, ref, f"prefill on {p}x{p}")
    cycle_fab, none = prefill_layer(hw, a, p, tokens, tree_levels=levels, tree_root=root)
    assert none is None and cycle_fab.timeline.total == fab.timeline.total
    return fab


@pytest.mark.parametrize("p,tokens,hw", [(4, 16, WSE2), (5, 23, WSE2), (8, 40, WSE2),
                                         (3, 10, BIG_SRAM), (1, 6, BIG_SRAM)])
def test_prefill_layer_matches_reference(p, tokens, hw):
    _run(arch("tiny-llama"), p, tokens, hw=hw)


@pytest.mark.parametrize("p,tokens", [(4, 16), (5, 23)])
def test_prefill_one_level_middle_row_tree_matches_reference(p, tokens):
    # the authors' row all-reduce (presets.prefill_row_tree under paper-kernels)
    _run(arch("tiny-llama"), p, tokens, row_tree=(1, "middle"))


def test_prefill_plan_too_big_for_sram():
    from waferrepro.meshsim.fabric import PlanError
    with pytest.raises(PlanError, match="needs"):
        prefill_layer(WSE2, arch("tiny-llama"), 2, 16)


def test_prefill_bias_no_gqa():
    _run(replace(arch("tiny-llama"), kv_heads=4, qkv_bias=True), 4, 12)


def test_prefill_without_causal_mask_is_caught(monkeypatch):
    import waferrepro.meshsim.prefill as pf

    real_where = np.where
    monkeypatch.setattr(pf.np, "where",
                        lambda m, a, b: b if np.ndim(m) == 5 else real_where(m, a, b))
    with pytest.raises(NumericMismatch):
        _run(arch("tiny-llama"), 4, 16)


def test_prefill_and_end_to_end_records():
    from waferrepro import records
    from waferrepro.jobs.meshsim import run_end_to_end, run_prefill

    rec = run_prefill("tiny-llama", "4x4", 16, WSE2, "functional")
    records.validate(rec)
    assert rec["check"]["passed"] and rec["what"]["module"] == "Prefill"
    m = {x["metric"]: x["value"] for x in rec["metrics"]}
    assert m["prefill_tpr_tokens_per_s"] == pytest.approx(16 / (m["ttft_ms"] / 1e3))
    e2e = run_end_to_end("llama3-8b", "660x660", "360x360", 2048, 128, WSE2, "cycle-model")
    records.validate(e2e)
    m = {x["metric"]: x["value"] for x in e2e["metrics"]}
    # TPR end to end = output tokens / (prefill time + decode time)
    assert m["e2e_tpr_tokens_per_s"] == pytest.approx(128 / (m["latency_ms"] / 1e3))
    assert m["latency_ms"] == pytest.approx(m["ttft_ms"] + 128 * m["tpot_ms"])
    assert "does not fit" not in e2e["note"] or "wafer" in e2e["note"]


def test_models_that_do_not_fit_one_wafer_say_so():
    from waferrepro.jobs.meshsim import run_prefill

    rec = run_prefill("qwen2-72b", "720x720", 4096, WSE2, "cycle-model")
    assert "does not fit on one wse2 wafer" in rec["note"]
    m = {x["metric"]: x["value"] for x in rec["metrics"]}
    assert m["fits_one_wafer"] == 0.0


def test_prefill_kv_shears_are_needed(monkeypatch):
    # K|V must reach the scores' placement by all three shears; one in the wrong direction
    # scrambles which keys meet which queries.
    import waferrepro.meshsim.prefill as pf

    monkeypatch.setattr(pf, "KV_SHEARS", (("y", 1), ("x", 1), ("y", 1)))
    with pytest.raises(NumericMismatch):
        _run(arch("tiny-llama"), 4, 16)


def test_prefill_stationary_weights_placement_is_needed(monkeypatch):
    import waferrepro.meshsim.prefill_layout as layout

    monkeypatch.setattr(layout, "stationary_placement", layout.column_skewed)  # Cannon's
    with pytest.raises(NumericMismatch):
        _run(arch("tiny-llama"), 4, 16)


def test_prefill_has_no_transpose_and_no_activation_skew():
    # Only ring shifts and row all-reduces: the communication a CSL can route statically.
    fab = prefill_layer(WSE2, arch("tiny-llama"), 4, 16)[0]
    labels = " ".join(fab.timeline.by_label())
    assert "transpose" not in labels and "skew" not in labels
    assert sum("shear" in k for k in fab.timeline.by_label()) == 3


@pytest.mark.parametrize("p,tokens", [(4, 16), (5, 23)])
def test_prefill_twin_charges_the_weights_going_home(p, tokens):
    # As kernels/Prefill: each weight GEMM shifts its weight in every one of its p steps
    # (the last beside the last compute), odd p copies each weight out of the shared receive
    # buffer; the moving activations (K in the scores, V in P x V) stay p-1 shifts.
    steps = prefill_layer(WSE2, arch("tiny-llama"), p, tokens)[0].timeline.steps
    labels = [s.label for s in steps]
    for gemm in ("O MeshGEMM", "down MeshGEMM"):
        assert f"{gemm}: last step (compute || B home)" in labels
    assert "scores Cannon: last step (compute)" in labels
    for gemm in ("QKV MeshGEMM", "gate|up MeshGEMM"):
        loop = [s for s in steps if s.label == f"{gemm}: step (compute || W and partial shifts)"]
        # W (dt x width) outweighs the partial (lt x width): the last step moves W too
        assert len(loop) == p and float(loop[-1].comm) == float(loop[0].comm) > 0
    copies = [label for label in labels if "weights home (odd p" in label]
    assert len(copies) == (4 if p % 2 else 0)

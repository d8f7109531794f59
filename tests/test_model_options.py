"""The model-level schedule options (presets: attention_heads, causal_mask, kv_cache): each
changes what it should, and the functional checks match the NumPy reference under both
presets; a reference and a kernel that disagree on an option fail the check."""

from dataclasses import replace

import numpy as np
import pytest

from waferrepro import presets
from waferrepro.check import NumericMismatch, require_close, tolerance
from waferrepro.hardware import WSE2
from waferrepro.jobs.meshsim import (
    check_decode_functional,
    check_prefill_functional,
    run_decode,
    run_prefill,
)
from waferrepro.meshsim.decode import decode_layer
from waferrepro.meshsim.decode_layout import DecodeLayout, KVCache
from waferrepro.meshsim.prefill import prefill_layer
from waferrepro.meshsim.prefill_layout import PrefillLayout, pack_weights
from waferrepro.model_metrics import decode_metrics
from waferrepro.models import arch
from waferrepro.reference_layer import layer, random_weights

BOTH = sorted(presets.PRESETS)


def test_presets_take_the_authors_choices_and_ours():
    assert {k: presets.options("paper-kernels")[k]
            for k in ("attention_heads", "causal_mask", "kv_cache")} == {
        "attention_heads": "one", "causal_mask": False, "kv_cache": "static"}
    assert {k: presets.options("full-model")[k]
            for k in ("attention_heads", "causal_mask", "kv_cache")} == {
        "attention_heads": "model", "causal_mask": True, "kv_cache": "shift"}
    for option in ("attention_heads", "causal_mask", "kv_cache"):
        assert set(presets.APPLIES[option]) <= {"Decode", "Prefill"}


def test_one_head_is_the_whole_hidden_dimension():
    a = arch("llama3-8b")
    assert presets.attention_arch(a, "full-model") == a
    one = presets.attention_arch(a, "paper-kernels")
    assert (one.heads, one.kv_heads, one.head_dim) == (1, 1, a.hidden)
    assert one.q_dim == one.kv_dim == a.hidden  # K and V of full hidden width
    # GQA's K/V are narrower: one head holds 4x the K/V per token on llama3-8b.
    assert DecodeLayout(one, 420, 420).kv_elems_per_token() > \
        DecodeLayout(a, 420, 420).kv_elems_per_token()


def test_kv_mode_maps_only_the_shift_experiment():
    assert presets.kv_mode("shift", "paper-kernels") == "static"
    assert presets.kv_mode("shift", "full-model") == "shift"
    assert presets.kv_mode("concat", "paper-kernels") == "concat"


def test_static_cache_drops_the_shift_and_keeps_capacity():
    a, p = arch("llama3-8b"), 420
    lay = DecodeLayout(a, p, p)
    t = 4096 + 5  # a step whose new token grows a row other than row 0: shift moves tokens
    assert t % p != 0
    runs = {mode: decode_layer(WSE2, a, p, p, KVCache(lay.rows_tokens(t, mode)), t, mode)[0]
            for mode in ("shift", "static")}
    labels = {mode: {s.label for s in fab.timeline.steps} for mode, fab in runs.items()}
    assert "KV shift (y)" in labels["shift"] and "KV shift (y)" not in labels["static"]
    assert labels["shift"] - labels["static"] == {"KV shift (y)"}
    assert runs["static"].timeline.total < runs["shift"].timeline.total
    assert "KV shift along y" not in runs["static"].colors
    # Same tokens per row, so the same memory and capacity (Table 5).
    assert (lay.rows_tokens(t, "static") == lay.rows_tokens(t, "shift")).all()
    assert lay.max_context(WSE2.sram_bytes_per_core, "static") == \
        lay.max_context(WSE2.sram_bytes_per_core, "shift")
    shift, _ = decode_metrics(WSE2, a, p, p, 4096, 16, "shift")
    static, _ = decode_metrics(WSE2, a, p, p, 4096, 16, "static")
    assert static["cycles_per_layer"][0] < shift["cycles_per_layer"][0]
    assert static["bytes_per_core"] == shift["bytes_per_core"]


def test_one_head_changes_decode_and_prefill_cycles():
    a = arch("llama3-8b")
    one = presets.attention_arch(a, "paper-kernels")
    lay = DecodeLayout(a, 420, 420)
    heads = decode_layer(WSE2, a, 420, 420, KVCache(lay.rows_tokens(4096, "shift")), 4096)[0]
    single = decode_layer(WSE2, one, 420, 420, KVCache(lay.rows_tokens(4096, "shift")), 4096)[0]
    assert heads.timeline.total != single.timeline.total
    assert prefill_layer(WSE2, a, 480, 4096)[0].timeline.total != \
        prefill_layer(WSE2, one, 480, 4096)[0].timeline.total


def test_causal_mask_changes_numerics_not_cycles():
    a, p, tokens = arch("tiny-llama"), 4, 16
    w = random_weights(a)
    x = np.random.default_rng(1).standard_normal((tokens, a.hidden)).astype(np.float16)
    packed = pack_weights(PrefillLayout(a, p, tokens), w)
    masked_fab, masked = prefill_layer(WSE2, a, p, tokens, packed, x, causal=True)
    open_fab, unmasked = prefill_layer(WSE2, a, p, tokens, packed, x, causal=False)
    assert masked_fab.timeline.total == open_fab.timeline.total
    # The last token sees the whole prompt either way; earlier ones differ.
    np.testing.assert_allclose(masked[-1], unmasked[-1], rtol=1e-5, atol=1e-5)
    assert not np.allclose(masked[0], unmasked[0], rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("preset", BOTH)
@pytest.mark.parametrize("px,py", [(4, 4), (5, 3), (7, 6)])
def test_decode_functional_under_both_presets(preset, px, py):
    # 5 and more cores along a line: middle and edge roots differ (paper-kernels: middle)
    hw = presets.hardware(WSE2, preset)
    run = presets.decode_run(arch("tiny-llama"), "shift", preset)
    result = check_decode_functional(hw, run.arch, px, py, 7, run.kv, steps=4,
                                     tree_root=run.tree_root)
    assert result.passed


@pytest.mark.parametrize("preset", BOTH)
@pytest.mark.parametrize("p,tokens", [(4, 16), (5, 13)])
def test_prefill_functional_under_both_presets(preset, p, tokens):
    hw = presets.hardware(WSE2, preset)
    run = presets.prefill_run(arch("tiny-llama"), preset)
    assert check_prefill_functional(hw, run.arch, p, tokens, causal=run.causal,
                                    row_tree=run.row_tree).passed


def _prefill_against(ref_arch, kernel_arch, ref_causal, kernel_causal, tokens=16, p=4):
    w = random_weights(ref_arch)
    x = np.random.default_rng(1).standard_normal((tokens, ref_arch.hidden)).astype(np.float16)
    ref, _, _ = layer(x, w, ref_arch, np.arange(tokens), causal=ref_causal)
    _, out = prefill_layer(WSE2, kernel_arch, p, tokens,
                           pack_weights(PrefillLayout(kernel_arch, p, tokens), w), x,
                           causal=kernel_causal)
    return require_close(out, ref, "mutation", **tolerance(WSE2.accumulate, tokens))


def test_mutation_mask_in_reference_not_in_kernel_fails():
    a = arch("tiny-llama")
    assert _prefill_against(a, a, True, True).passed
    with pytest.raises(NumericMismatch):
        _prefill_against(a, a, True, False)
    with pytest.raises(NumericMismatch):
        _prefill_against(a, a, False, True)


def test_mutation_heads_in_reference_one_head_in_kernel_fails():
    # Multi-head attention, so both forms have the same weight shapes.
    a = replace(arch("tiny-llama"), kv_heads=arch("tiny-llama").heads)
    one = replace(a, heads=1, kv_heads=1, head_dim=a.hidden)
    assert _prefill_against(one, one, True, True).passed
    with pytest.raises(NumericMismatch):
        _prefill_against(a, one, True, True)


@pytest.mark.parametrize("preset", BOTH)
def test_records_list_the_options_that_apply(preset):
    dec = run_decode("tiny-llama", "4x4", 7, 2, "shift", WSE2, "functional", preset=preset)
    pre = run_prefill("tiny-llama", "4x4", 16, WSE2, "functional", preset=preset)
    opts = presets.options(preset)
    for rec in (dec, pre):
        assert rec["check"]["performed"] and rec["check"]["passed"]
    dec_schedule = dec["what"]["params"]["schedule"]
    pre_schedule = pre["what"]["params"]["schedule"]
    assert dec_schedule["attention_heads"] == pre_schedule["attention_heads"] == \
        opts["attention_heads"]
    assert dec_schedule["kv_cache"] == opts["kv_cache"] and "causal_mask" not in dec_schedule
    assert pre_schedule["causal_mask"] == opts["causal_mask"] and "kv_cache" not in pre_schedule


def test_kv_capacity_follows_the_heads_and_not_the_cache_mode():
    from waferrepro.jobs.meshsim import run_kv_capacity

    def tokens(preset):
        rec = run_kv_capacity("llama3-8b", "360x360", "shift", WSE2, preset)
        assert rec["what"]["params"]["schedule"]["attention_heads"] == \
            presets.options(preset)["attention_heads"]
        return {m["metric"]: m["value"] for m in rec["metrics"]}["max_decode_len_tokens"]

    # One head: wider K/V per token but one head's scores per token instead of 32.
    a = arch("llama3-8b")
    one = presets.attention_arch(a, "paper-kernels")
    lay_heads = DecodeLayout(presets.attention_arch(a, "full-model"), 360, 360)
    lay_one = DecodeLayout(one, 360, 360)
    assert lay_one.kv_elems_per_token() > lay_heads.kv_elems_per_token()
    assert tokens("paper-kernels") != tokens("full-model")

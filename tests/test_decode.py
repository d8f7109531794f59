from dataclasses import replace

import numpy as np
import pytest

from waferrepro.check import require_close
from waferrepro.hardware import WSE2
from waferrepro.meshsim.decode import decode_layer
from waferrepro.meshsim.decode_layout import DecodeLayout, KVCache, pack_kv_cache, pack_weights
from waferrepro.models import arch
from waferrepro.reference_layer import layer, random_weights


def _run(a, px, py, T, mode, steps=1, seed=0):
    """Prefill T tokens with the reference, then decode `steps` tokens on the mesh."""
    w = random_weights(a, seed)
    x = np.random.default_rng(seed + 1).standard_normal((T + steps, a.hidden)).astype(np.float16)
    full, k, v = layer(x, w, a, np.arange(T + steps))
    lay = DecodeLayout(a, px, py)
    cap = T + steps
    cache = pack_kv_cache(lay, k[:T], v[:T], mode, cap)
    hw = pack_weights(lay, w)
    for t in range(T, T + steps):
        fab, out = decode_layer(WSE2, a, px, py, cache, t, mode, weights=hw, x=x[t], cap=cap)
        require_close(out, full[t], f"decode step {t}")
        cycle_fab, none = decode_layer(WSE2, a, px, py, KVCache(lay.rows_tokens(t, mode)), t,
                                       mode, cap=cap)
        assert none is None and cycle_fab.timeline.total == fab.timeline.total
    return cache


@pytest.mark.parametrize("mode", ["shift", "concat"])
@pytest.mark.parametrize("px,py", [(4, 4), (3, 5), (8, 2)])
def test_decode_layer_matches_reference(mode, px, py):
    cache = _run(arch("tiny-llama"), px, py, T=7, mode=mode, steps=3)
    counts = cache.counts
    if mode == "shift":
        assert counts.max() - counts.min() <= 1 and counts.sum() == 10
    else:
        assert counts[-1] == 10 and counts[:-1].sum() == 0


def test_decode_with_qkv_bias_and_no_gqa():
    a = replace(arch("tiny-llama"), kv_heads=4, qkv_bias=True)
    _run(a, 4, 4, T=5, mode="shift", steps=2)


def test_decode_first_token_from_empty_cache():
    _run(arch("tiny-llama"), 4, 4, T=0, mode="shift", steps=6)


def test_shift_spreads_attention_work_concat_does_not():
    a = arch("llama3-8b")
    shift, _ = decode_layer(WSE2, a, 420, 420, KVCache(DecodeLayout(a, 420, 420).rows_tokens(
        4096, "shift")), 4096, "shift")
    concat, _ = decode_layer(WSE2, a, 420, 420, KVCache(DecodeLayout(a, 420, 420).rows_tokens(
        200, "concat")), 200, "concat", cap=201)
    assert shift.timeline.by_label()["scores (local)"] < concat.timeline.by_label()[
        "scores (local)"]


def test_wrong_decode_kernels_are_caught(monkeypatch):
    import waferrepro.meshsim.decode as d
    from waferrepro.check import NumericMismatch

    monkeypatch.setattr(d, "_rotate", lambda v, c, s: v)  # RoPE forgotten
    with pytest.raises(NumericMismatch):
        _run(arch("tiny-llama"), 4, 4, T=7, mode="shift", steps=1)
    monkeypatch.undo()
    # KV shift that moves nothing: the passed-down token is lost or duplicated.
    monkeypatch.setattr(d, "neighbour_shift",
                        lambda fab, data, axis, elems, direction=1: (data, 0.0))
    with pytest.raises(NumericMismatch):
        _run(arch("tiny-llama"), 4, 4, T=7, mode="shift", steps=3)


@pytest.mark.parametrize("model, grid", [("llama3-8b", 420), ("llama2-13b", 375)])
@pytest.mark.parametrize("mode", ["shift", "concat"])
def test_reported_kv_capacity_is_what_decode_layer_accepts(model, grid, mode):
    """Table 5's capacity and decode records' max_decode_len_tokens are the longest context
    the decode plan itself fits: one more cached token must be refused (issue 12)."""
    from waferrepro.jobs.meshsim import run_kv_capacity
    from waferrepro.meshsim.fabric import PlanError
    from waferrepro.model_metrics import decode_metrics

    a = arch(model)
    lay = DecodeLayout(a, grid, grid)
    rec = run_kv_capacity(model, f"{grid}x{grid}", mode, WSE2, "full-model")
    cap = int(next(m["value"] for m in rec["metrics"] if m["metric"] == "max_decode_len_tokens"))
    assert cap > 0
    # A step at context cap - 1 leaves cap tokens cached: accepted; at cap, refused.
    decode_layer(WSE2, a, grid, grid, KVCache(lay.rows_tokens(cap - 1, mode)), cap - 1, mode)
    with pytest.raises(PlanError, match="per-core memory"):
        decode_layer(WSE2, a, grid, grid, KVCache(lay.rows_tokens(cap, mode)), cap, mode)
    metrics, _ = decode_metrics(WSE2, a, grid, grid, 128, 1, mode)
    assert metrics["max_decode_len_tokens"][0] == cap - 128

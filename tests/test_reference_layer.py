import json

import numpy as np
import pytest

from waferrepro.models import MODELS, arch, write_hf_config
from waferrepro.reference_layer import apply_rope, layer, random_weights, rope_cos_sin


@pytest.mark.parametrize("model,billions", [("llama3-8b", 8.03), ("llama2-13b", 13.02),
                                            ("codellama-34b", 33.74), ("qwen2-72b", 72.71)])
def test_registry_parameter_counts_match_published_sizes(model, billions):
    assert arch(model).params / 1e9 == pytest.approx(billions, abs=0.01)


def test_hf_config_written(tmp_path):
    path = write_hf_config("qwen2-72b", tmp_path / "qwen")
    cfg = json.loads(path.read_text())
    assert cfg == MODELS["qwen2-72b"] and cfg["num_key_value_heads"] == 8
    with pytest.raises(ValueError, match="unknown model"):
        write_hf_config("gpt-5", tmp_path)


def test_rope_preserves_norm_and_relative_position():
    a = arch("tiny-llama")
    rng = np.random.default_rng(0)
    q, k = rng.standard_normal((1, a.head_dim)), rng.standard_normal((1, a.head_dim))
    dots = []
    for shift in (0, 5):
        cq, sq = rope_cos_sin([7 + shift], a.head_dim, a.rope_theta)
        ck, sk = rope_cos_sin([3 + shift], a.head_dim, a.rope_theta)
        rq, rk = apply_rope(q, cq, sq, a.head_dim), apply_rope(k, ck, sk, a.head_dim)
        assert np.linalg.norm(rq) == pytest.approx(np.linalg.norm(q))
        dots.append(float((rq @ rk.T)[0, 0]))
    assert dots[0] == pytest.approx(dots[1])


@pytest.mark.parametrize("model", ["tiny-llama"])
def test_decode_with_cache_equals_prefill_row(model):
    """Causal mask and cache: decoding token t reproduces row t of the full prefill."""
    a = arch(model)
    w = random_weights(a, seed=1)
    x = np.random.default_rng(2).standard_normal((9, a.hidden)).astype(np.float16)
    full, k, v = layer(x, w, a, np.arange(9))
    step, k8, v8 = layer(x[8:9], w, a, [8], k[:8], v[:8], np.arange(8))
    np.testing.assert_allclose(step, full[8:9], rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(k8, k[8:9], rtol=1e-12)
    # Without the mask the first row would see later tokens: check the mask matters.
    first, _, _ = layer(x[:1], w, a, [0])
    np.testing.assert_allclose(first, full[:1], rtol=1e-10, atol=1e-10)


def test_gqa_bias_model_runs():
    a = arch("tiny-llama")
    from dataclasses import replace
    a = replace(a, qkv_bias=True)
    w = random_weights(a)
    out, _, _ = layer(np.ones((3, a.hidden)), w, a, np.arange(3))
    assert out.shape == (3, a.hidden) and np.isfinite(out).all()

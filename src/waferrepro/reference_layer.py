"""Plain NumPy reference of one decoder layer (LLaMA/Qwen2 family), the numeric ground truth.

Row-vector convention: y = x @ W. Per-head attention with grouped KV heads (GQA), RoPE in
Hugging Face's rotate-half form, causal mask, SwiGLU FFN, pre-norm residuals. Computed in
float64 from fp16 weights; nothing is folded or omitted. The schedule presets' layer options
are expressed here too: one head is an Arch with heads = kv_heads = 1 and head_dim = hidden
(presets.attention_arch), and `causal=False` drops the mask (the authors' Prefill).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .models import Arch


@dataclass
class LayerWeights:
    wq: np.ndarray  # [hidden, q_dim]
    wk: np.ndarray  # [hidden, kv_dim]
    wv: np.ndarray  # [hidden, kv_dim]
    wo: np.ndarray  # [q_dim, hidden]
    wg: np.ndarray  # [hidden, ffn]
    wu: np.ndarray  # [hidden, ffn]
    wd: np.ndarray  # [ffn, hidden]
    norm1: np.ndarray  # [hidden]
    norm2: np.ndarray  # [hidden]
    bq: np.ndarray | None = None
    bk: np.ndarray | None = None
    bv: np.ndarray | None = None


def random_weights(a: Arch, seed: int = 0) -> LayerWeights:
    """fp16 weights scaled like a trained layer's (unit-variance activations stay bounded)."""
    rng = np.random.default_rng(seed)

    def mat(rows, cols):
        return (rng.standard_normal((rows, cols)) / np.sqrt(rows)).astype(np.float16)

    def vec(n, scale=0.1):
        return (rng.standard_normal(n) * scale).astype(np.float16)

    return LayerWeights(
        wq=mat(a.hidden, a.q_dim), wk=mat(a.hidden, a.kv_dim), wv=mat(a.hidden, a.kv_dim),
        wo=mat(a.q_dim, a.hidden), wg=mat(a.hidden, a.ffn), wu=mat(a.hidden, a.ffn),
        wd=mat(a.ffn, a.hidden), norm1=(1 + vec(a.hidden)).astype(np.float16),
        norm2=(1 + vec(a.hidden)).astype(np.float16),
        bq=vec(a.q_dim) if a.qkv_bias else None, bk=vec(a.kv_dim) if a.qkv_bias else None,
        bv=vec(a.kv_dim) if a.qkv_bias else None)


def rms_norm(x, weight, eps):
    x = np.asarray(x, dtype=np.float64)
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight


def rope_cos_sin(positions, head_dim: int, theta: float):
    inv_freq = theta ** (-np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    angles = np.outer(np.asarray(positions, dtype=np.float64), inv_freq)  # [L, hd/2]
    return np.cos(angles), np.sin(angles)


def apply_rope(x, cos, sin, head_dim: int):
    """Rotate-half RoPE on x [L, n_heads*head_dim] at the positions of cos/sin [L, hd/2]."""
    L = x.shape[0]
    h = x.reshape(L, -1, head_dim)
    first, second = h[..., : head_dim // 2], h[..., head_dim // 2:]
    c, s = cos[:, None, :], sin[:, None, :]
    return np.concatenate([first * c - second * s, second * c + first * s], axis=-1).reshape(L, -1)


def silu(x):
    return x / (1.0 + np.exp(-x))


def attention(q, k, v, a: Arch, q_positions, k_positions, causal: bool = True):
    """GQA attention, causal unless told; q [Lq, q_dim], k/v [Lk, kv_dim] (k rotated)."""
    rep = a.heads // a.kv_heads
    Lq, Lk = q.shape[0], k.shape[0]
    qh = q.reshape(Lq, a.heads, a.head_dim)
    kh = np.repeat(k.reshape(Lk, a.kv_heads, a.head_dim), rep, axis=1)
    vh = np.repeat(v.reshape(Lk, a.kv_heads, a.head_dim), rep, axis=1)
    scores = np.einsum("qhd,khd->hqk", qh, kh) / np.sqrt(a.head_dim)
    if causal:
        mask = np.asarray(k_positions)[None, :] > np.asarray(q_positions)[:, None]
        scores = np.where(mask[None], -np.inf, scores)
    scores -= scores.max(axis=-1, keepdims=True)
    p = np.exp(scores)
    p /= p.sum(axis=-1, keepdims=True)
    return np.einsum("hqk,khd->qhd", p, vh).reshape(Lq, a.q_dim)


def layer(x, w: LayerWeights, a: Arch, positions, k_cache=None, v_cache=None,
          cache_positions=None, causal: bool = True):
    """One decoder layer on tokens x [L, hidden] at `positions`.

    With a cache (k rotated, v) of earlier tokens, attends to cache + new tokens (decode).
    Returns (output [L, hidden], k_new [L, kv_dim] rotated, v_new [L, kv_dim]).
    """
    f = lambda m: np.asarray(m, dtype=np.float64)  # noqa: E731
    x = f(x)
    h = rms_norm(x, f(w.norm1), a.eps)
    q, k, v = h @ f(w.wq), h @ f(w.wk), h @ f(w.wv)
    if w.bq is not None:
        q, k, v = q + f(w.bq), k + f(w.bk), v + f(w.bv)
    cos, sin = rope_cos_sin(positions, a.head_dim, a.rope_theta)
    q, k = apply_rope(q, cos, sin, a.head_dim), apply_rope(k, cos, sin, a.head_dim)
    if k_cache is not None:
        k_all, v_all = np.vstack([f(k_cache), k]), np.vstack([f(v_cache), v])
        k_pos = np.concatenate([np.asarray(cache_positions), np.asarray(positions)])
    else:
        k_all, v_all, k_pos = k, v, np.asarray(positions)
    x = x + attention(q, k_all, v_all, a, positions, k_pos, causal) @ f(w.wo)
    h = rms_norm(x, f(w.norm2), a.eps)
    x = x + (silu(h @ f(w.wg)) * (h @ f(w.wu))) @ f(w.wd)
    return x, k, v

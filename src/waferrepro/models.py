"""The model registry: one source of truth for the architectures the paper evaluates.

Entries are Hugging Face `config.json` dicts (the baselines write them to disk and load them
with dummy weights, so nothing is downloaded). Values are those of the public model cards'
config.json files (meta-llama/Meta-Llama-3-8B, meta-llama/Llama-2-13b-hf,
codellama/CodeLlama-34b-hf, Qwen/Qwen2-72B). On the wafer everything is fp16.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


def _llama(hidden, layers, heads, kv_heads, ffn, vocab, theta, eps, max_pos, dtype, **extra):
    return {"architectures": ["LlamaForCausalLM"], "model_type": "llama",
            "hidden_size": hidden, "num_hidden_layers": layers,
            "num_attention_heads": heads, "num_key_value_heads": kv_heads,
            "head_dim": hidden // heads, "intermediate_size": ffn, "vocab_size": vocab,
            "rope_theta": theta, "rms_norm_eps": eps, "max_position_embeddings": max_pos,
            "hidden_act": "silu", "attention_bias": False, "tie_word_embeddings": False,
            "torch_dtype": dtype, "bos_token_id": 1, "eos_token_id": 2, **extra}


MODELS: dict[str, dict] = {
    "llama3-8b": _llama(4096, 32, 32, 8, 14336, 128256, 500000.0, 1e-5, 8192, "bfloat16",
                        bos_token_id=128000, eos_token_id=128001),
    "llama2-13b": _llama(5120, 40, 40, 40, 13824, 32000, 10000.0, 1e-5, 4096, "float16"),
    "codellama-34b": _llama(8192, 48, 64, 8, 22016, 32000, 1000000.0, 1e-5, 16384, "bfloat16"),
    "qwen2-72b": {**_llama(8192, 80, 64, 8, 29568, 152064, 1000000.0, 1e-6, 32768, "bfloat16",
                           bos_token_id=151643, eos_token_id=151643),
                  "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
                  # Qwen2 has biases on the q/k/v projections (not on o, gate, up, down).
                  "attention_bias": True},
    # Tiny model of the same family for numeric tests (head_dim 32: vLLM's CPU attention needs
    # head_dim in {32, 64, 80, 96, 112, 128, ...}).
    "tiny-llama": _llama(128, 2, 4, 2, 256, 512, 10000.0, 1e-5, 2048, "float16"),
}


@dataclass(frozen=True)
class Arch:
    """The dimensions the kernels need, read from a registry entry."""
    name: str
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn: int
    vocab: int
    rope_theta: float
    eps: float
    qkv_bias: bool

    @property
    def q_dim(self) -> int:
        return self.heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    @property
    def layer_params(self) -> int:
        attn = self.hidden * (self.q_dim + 2 * self.kv_dim) + self.q_dim * self.hidden
        bias = (self.q_dim + 2 * self.kv_dim) if self.qkv_bias else 0
        return attn + bias + 3 * self.hidden * self.ffn + 2 * self.hidden  # + 2 RMSNorm weights

    @property
    def params(self) -> int:
        return self.layers * self.layer_params + 2 * self.vocab * self.hidden + self.hidden


def arch(model_id: str) -> Arch:
    try:
        c = MODELS[model_id]
    except KeyError:
        raise ValueError(f"unknown model {model_id!r}; known: {sorted(MODELS)}") from None
    return Arch(model_id, c["hidden_size"], c["num_hidden_layers"], c["num_attention_heads"],
                c["num_key_value_heads"], c["head_dim"], c["intermediate_size"],
                c["vocab_size"], c["rope_theta"], c["rms_norm_eps"], c["attention_bias"])


def write_hf_config(model_id: str, directory: str | Path) -> Path:
    """Write `config.json` for `model_id` into `directory` (for dummy-weight engines)."""
    if model_id not in MODELS:
        raise ValueError(f"unknown model {model_id!r}; known: {sorted(MODELS)}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.json"
    path.write_text(json.dumps(MODELS[model_id], indent=2) + "\n")
    return path

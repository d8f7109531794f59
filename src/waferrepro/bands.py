"""Bands of simulated numbers: the calibration's band, and the assumptions' range.

- Calibrated hardware (hardware.Hardware.calibration set, waferrepro.calibration): a headline
  metric's `low` and `high` are value x exp(-+w), w the chip's band from the calibration (how
  far a point the fit did not see was off, as an RMS log error: WSE-2's leave-one-out, WSE-3's
  leave-one-grid-out): the band.
- The assumptions' range (`range_low`, `range_high`; on nominal hardware also `low`, `high`):
  every assumption of the hardware description (hardware.ASSUMPTION_BOUNDS) set to the bound
  that makes runs faster, then to the bound that makes them slower, the run's cycle model
  evaluated at both corners (no data; the same schedule): the smallest and largest of the
  value and the two corners. A sensitivity, not a confidence interval: it spans 3-4x.
Values a user set through `hardware_overrides` are kept, not swept: they are the user's data.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Callable, Collection

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
              recompute: Callable[[Hardware], dict[str, tuple[float, str]]],
              banded: Collection[str] = HEADLINE, ranges: bool = True) -> list[dict]:
    """Set `low` and `high` on the `banded` entries (default: the headline metrics) of a
    record's metric list, and `range_low`, `range_high` from `recompute(hardware) ->
    {metric: (value, unit)}` at the two corners. `ranges=False`: no range where the band
    does not need it (calibrated hardware), so no corner is evaluated."""
    wanted = [m for m in metrics if m["metric"] in banded]
    if not wanted:
        return metrics
    ranges = ranges or not hw.calibration
    at = [recompute(h) for h in corners(hw).values()] if ranges else []
    w = hw.band_log_half_width if hw.calibration else 0.0
    for m in wanted:
        if ranges:
            values = [m["value"]] + [float(c[m["metric"]][0]) for c in at if m["metric"] in c]
            m["range_low"], m["range_high"] = min(values), max(values)
        if hw.calibration:
            m["low"], m["high"] = m["value"] * math.exp(-w), m["value"] * math.exp(w)
        else:
            m["low"], m["high"] = m["range_low"], m["range_high"]
    return metrics

"""What one simulated kernel run returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .fabric import Fabric, Timeline


@dataclass
class KernelRun:
    system: str
    shape: tuple[int, int, int]  # M, K, N
    px: int
    py: int
    useful_flops: float
    fabric: Fabric
    output: np.ndarray | None = None  # the result matrix, functional mode only
    params: dict = field(default_factory=dict)

    @property
    def cycles(self) -> float:
        return self.fabric.timeline.total

    def metrics(self) -> dict[str, tuple[float, str]]:
        """Raw and derived numbers, named by the table contract's metric vocabulary."""
        hw, tl = self.fabric.hw, self.fabric.timeline
        cycles = tl.total
        peak = self.fabric.cores * hw.peak_flops_per_core_per_cycle * cycles
        return {
            "cycles": (cycles, "cycles"),
            "compute_cycles": (tl.compute, "cycles"),
            "comm_cycles": (tl.comm_exposed, "cycles"),
            "comm_hidden_cycles": (tl.comm_hidden, "cycles"),
            "latency_ms": (cycles / hw.clock_hz * 1e3, "ms"),
            "compute_efficiency": (compute_efficiency(tl), "fraction"),
            # Exposed (not overlapped) communication cycles / total cycles (Fig. 10).
            "comm_share": (tl.comm_exposed / cycles if cycles else 0.0, "fraction"),
            "utilization": (self.useful_flops / peak if peak else 0.0, "fraction"),
            "tflops": (self.useful_flops / (cycles / hw.clock_hz) / 1e12 if cycles else 0.0,
                       "TFLOP/s"),
            # The whole system's power for the kernel's time (as the paper forms its ratios).
            "energy_j": (cycles / hw.clock_hz * hw.system_power_w, "J/run"),
            "bytes_per_core": (float(self.fabric.bytes_per_core), "bytes"),
            "colors_per_core": (float(sum(self.fabric.colors.values())), "colors"),
            **breakdown_metrics(tl.breakdown()),
        }


def compute_efficiency(tl: Timeline) -> float:
    """Compute efficiency as the paper's Figure 9 reads it (OSDI '25 §7.2, p. 12, "Scaling
    core count"): the share of the kernel's cycles that is computation, i.e. everything but
    the communication on the critical path (Fig. 9's shaded areas, Timeline.comm_critical),
    over the total. Computation includes the cores' fixed overheads (the next paragraph puts
    "function calls and logic checks" in the per-core computation cost); it is not FLOP/s
    over peak (that is `utilization`). Before issue 23 this metric was arithmetic cycles
    (matmul + element-wise) over the total, still `compute_cycles / cycles`."""
    return (tl.total - tl.comm_critical) / tl.total if tl.total else 0.0


def breakdown_metrics(breakdown: dict[str, float], scale: float = 1.0) -> dict:
    """cycles_<cause> metrics from a Timeline.breakdown(), times `scale` (e.g. layers)."""
    return {f"cycles_{cause}": (v * scale, "cycles") for cause, v in breakdown.items()}

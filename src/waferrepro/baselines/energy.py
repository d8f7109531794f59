"""GPU energy from NVML's total-energy counter (millijoules since driver load).

The counter updates every few tens of milliseconds, so a measurement window must be much
longer than that: the kernel is repeated until the window is at least `min_window_s`
(default 1 s) and the energy divided by the repetitions. A counter that goes backwards (driver
reload, reset) invalidates the window, which is then measured again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable


class EnergyUnavailable(RuntimeError):
    pass


@dataclass
class EnergyWindow:
    joules: float
    seconds: float
    repeats: int

    @property
    def joules_per_repeat(self) -> float:
        return self.joules / self.repeats

    @property
    def mean_power_w(self) -> float:
        return self.joules / self.seconds


def nvml_counter(device_index: int = 0) -> Callable[[], float]:
    """A function returning the device's total energy in joules (NVML, via nvidia-ml-py)."""
    try:
        import pynvml
    except ImportError as exc:
        raise EnergyUnavailable("nvidia-ml-py is not installed: pip install -e '.[gpu]'") from exc
    try:
        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(device_index)
        pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
    except pynvml.NVMLError as exc:
        raise EnergyUnavailable(f"NVML energy counter unavailable: {exc}") from exc
    return lambda: pynvml.nvmlDeviceGetTotalEnergyConsumption(handle) / 1000.0


def measure(run_once: Callable[[], None], sync: Callable[[], None], counter: Callable[[], float],
            min_window_s: float = 1.0, max_attempts: int = 3,
            clock: Callable[[], float] = time.perf_counter) -> EnergyWindow:
    """Repeat `run_once` until at least `min_window_s` has passed and return the energy."""
    for _ in range(max_attempts):
        sync()
        e0, t0, repeats = counter(), clock(), 0
        while True:
            run_once()
            repeats += 1
            if clock() - t0 >= min_window_s:
                sync()
                if clock() - t0 >= min_window_s:
                    break
        e1, t1 = counter(), clock()
        if e1 >= e0:
            return EnergyWindow(e1 - e0, t1 - t0, repeats)
    raise EnergyUnavailable(f"energy counter went backwards in {max_attempts} windows in a row")

"""Simulator throughput (a benchmark, not a test: these machines are shared and noisy).

    .venv/bin/python benchmarks/bench_meshsim.py

Prints, for functional runs, core-steps per second (cores x schedule steps simulated per wall
second, data moved and checked) and, for the cycle model at paper scale, calls per second.
SUMMA runs 1792 at 32x32 because 2048 does not fit its 7 tiles per core in 48 KB.
Targets from the simulator issue: functional 32x32 grids at 2K shapes within seconds; cycle
model at 750x750 and 32K shapes under a second per call.
"""

from __future__ import annotations

import argparse
import functools
import time

from waferrepro.hardware import WSE2
from waferrepro.meshsim import simulate


def _best_of(fn, repeat):
    best = float("inf")
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    print("functional (data moved on the virtual grid, checked against NumPy)")
    print(f"{'system':<11} {'shape':>16} {'grid':>7} {'wall s':>8} {'steps':>6} "
          f"{'core-steps/s':>13}")
    for system, shape, p in [("MeshGEMM", (2048, 2048, 2048), 32),
                             ("Cannon", (2048, 2048, 2048), 32),
                             ("SUMMA", (1792, 1792, 1792), 32), ("MeshGEMV", (1, 2048, 2048), 32),
                             ("chain-GEMV", (1, 2048, 2048), 32)]:
        job = functools.partial(simulate, system, shape, p, p, WSE2, functional=True)
        secs, out = _best_of(job, args.repeat)
        steps = len(out.run.fabric.timeline.steps)
        print(f"{system:<11} {'x'.join(map(str, shape)):>16} {p}x{p:<4} {secs:8.3f} {steps:6d} "
              f"{p * p * steps / secs:13.3g}")

    print("\ncycle model (no data), paper scale")
    print(f"{'system':<11} {'shape':>18} {'grid':>8} {'s/call':>8} {'calls/s':>8}")
    for system, shape in [("MeshGEMM", (32768, 32768, 32768)), ("Cannon", (32768, 32768, 32768)),
                          ("SUMMA", (32768, 32768, 32768)), ("MeshGEMV", (1, 32768, 32768)),
                          ("chain-GEMV", (1, 32768, 32768))]:
        job = functools.partial(simulate, system, shape, 750, 750, WSE2, functional=False)
        secs, _ = _best_of(job, args.repeat)
        print(f"{system:<11} {'x'.join(map(str, shape)):>18} {'750x750':>8} {secs:8.4f} "
              f"{1 / secs:8.1f}")


if __name__ == "__main__":
    main()

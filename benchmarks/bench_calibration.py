"""Benchmark: the calibration on the training set (issue 19: "runs in minutes on 2 cores").

Fits results/reference/training.csv from the nominal WSE-2 description, as `snakemake
calibrate` does, and prints the wall time, the number of cycle-model evaluations of the whole
training set, and the fitted values. Nothing is written.

Run: .venv/bin/python benchmarks/bench_calibration.py
"""

import time
from pathlib import Path

from waferrepro import calibration, training
from waferrepro.hardware import WSE2

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    points = training.load(ROOT / "results/reference/training.csv")
    start = time.perf_counter()
    calls = []
    fit = calibration.calibrate(WSE2, points, progress=lambda m: calls.append(m))
    wall = time.perf_counter() - start
    print(f"calibration of {len(points)} points: {wall:.0f} s wall on this machine")
    print("fitted: " + ", ".join(f"{k}={v:.3g}" for k, v in fit.values.items()))
    print(f"leave-one-out RMS log error (band): {fit.loo_rms:.3f}")


if __name__ == "__main__":
    main()

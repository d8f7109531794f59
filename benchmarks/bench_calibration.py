"""Benchmark: the joint calibration on both training files (issue 23: "with about 350
training points the fit must still take minutes on 2 cores").

Fits results/reference/training.csv (WSE-2) and results/reference/training-wse3.csv (WSE-3)
from the nominal descriptions, as `snakemake calibrate` does, with its held-out refits
(leave-one-out, leave-one-grid-out, zero-shot), and prints the wall time of each part, how many
times the points were simulated (form builds: the fit itself evaluates counts x prices, no
simulation) and the fitted values. Nothing is written.

Run: .venv/bin/python benchmarks/bench_calibration.py
"""

import time
from pathlib import Path

from waferrepro import calibration, training

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    points = training.load_all([ROOT / p for p in training.TRAINING_FILES])
    marks = [("start", time.perf_counter())]

    def progress(message: str) -> None:
        marks.append((message, time.perf_counter()))

    fit = calibration.calibrate(points, progress=progress)
    wall = marks[-1][1] - marks[0][1]
    for (_, before), (message, at) in zip(marks, marks[1:], strict=False):
        print(f"{at - before:7.1f} s  {message}")
    print(f"calibration of {len(points)} points: {wall:.0f} s wall on this machine, "
          f"{fit.rebuilds} form builds (simulations of every point)")
    print("fitted: " + ", ".join(f"{k}={fit.values[k]:.3g}" for k in fit.names))
    print("bands (log): " + ", ".join(f"{c} {b['log_half_width']:.3f}"
                                      for c, b in fit.bands().items()))


if __name__ == "__main__":
    main()

"""Hardware-sweep throughput (a benchmark, not a test: these machines are shared and noisy).

    .venv/bin/python benchmarks/bench_sweep.py --variants 1000 --workers 2

Sweeps N hardware variants (every assumption of hardware.ASSUMPTION_BOUNDS drawn uniformly
within its bounds) through the decode and prefill jobs of the paper config's table4 and table3
(models x grids) in one process per worker (waferrepro.sweep), and prints variants per second
and the wall time, with and without the sweep's cost cache (--compare, on a few variants).
The issue's target: a 1,000-variant sweep of these tables in minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import yaml

from waferrepro.experiments import jobs_for
from waferrepro.hardware_profiles import get_hardware
from waferrepro.sweep import random_variants, sweep

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--variants", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--config", default=str(REPO / "config/config.yaml"))
    parser.add_argument("--compare", type=int, default=0,
                        help="also time this many variants without the cost cache")
    args = parser.parse_args()

    config = yaml.safe_load(Path(args.config).read_text())
    preset = config.get("schedule_preset", "full-model")
    hw = get_hardware(config.get("hardware", "wse2"), config.get("hardware_overrides"))
    jobs = [job for exp in ("table4", "table3") for job in jobs_for(config, exp, "meshsim")
            if type(job).__name__ in ("DecodeJob", "PrefillJob")]
    print(f"{len(jobs)} jobs (table4 decode, table3 prefill), preset {preset}, "
          f"{args.workers} worker(s)")
    runs = [("cached", args.variants, True)]
    if args.compare:
        runs.append(("plain", args.compare, False))
    for label, n, cache in runs:
        variants = random_variants(hw, n, seed=0)
        t0 = time.perf_counter()
        frame = sweep(variants, jobs, preset, workers=args.workers, cache=cache)
        wall = time.perf_counter() - t0
        done = frame["value"].notna().sum()
        print(f"{label:>6}: {n} variants x {len(jobs)} jobs in {wall:.1f} s: "
              f"{n / wall:.2f} variants/s, {n * len(jobs) / wall:.1f} evaluations/s "
              f"({done} values, {len(frame) - done} missing); "
              f"1,000 variants: ~{1000 / (n / wall) / 60:.1f} min")


if __name__ == "__main__":
    main()

"""How the CSL kernels are timed: warm-up and repeat counts, and the statistics over repeats.

Every kernel (kernels/common/sync_timer.csl) runs `warmup` untimed and `repeats` timed runs per
launch, each from a reset state, and stamps each timed run's begin and end on every core; the
cores' counters are aligned by the sync wavelet's reference stamps (x + y hops from (0,0)).

Defaults are the authors' (MeshInfra/WaferLLM @2cd13b5, the launch_*.py scripts):
WSE-2 10 + 100 everywhere; WSE-3 5 + 50 (MeshGEMM, Decode; their MeshGEMV uses 10 + 100);
simulator 1 + 5 (MeshGEMM; their MeshGEMV and Decode use 1 + 10, Prefill 1 + 3). One place,
overridable by `sdk.warmup` / `sdk.repeats` in the config (config.schema.yaml).
"""

from __future__ import annotations

import numpy as np

# backend -> (warm-up runs, timed runs)
AUTHORS_RUNS = {"sdk-sim": (1, 5), "wse2": (10, 100), "wse3": (5, 50)}
# Timed runs a launch can stamp: sync_timer.csl's MAX_RUNS (a test keeps them equal).
MAX_TIMED_RUNS = 100
# Words of time_buf per core: the reference stamp, then begin and end of each timed run.
STAMP_WORDS = 3 + 6 * MAX_TIMED_RUNS


def runs_for(backend: str, warmup: int | None = None, repeats: int | None = None
             ) -> tuple[int, int]:
    """(warm-up, repeats) for a backend: the config's values where given, else the authors'."""
    if backend not in AUTHORS_RUNS:
        raise ValueError(f"no timing defaults for backend {backend!r}")
    w0, r0 = AUTHORS_RUNS[backend]
    w = w0 if warmup is None else int(warmup)
    r = r0 if repeats is None else int(repeats)
    if w < 0 or not 1 <= r <= MAX_TIMED_RUNS:
        raise ValueError(f"warm-up {w} must be >= 0 and repeats {r} in 1..{MAX_TIMED_RUNS} "
                         "(the kernels stamp at most that many runs: sync_timer.csl MAX_RUNS)")
    if w + r > 32767:
        raise ValueError("warm-up + repeats must fit the kernels' i16 run counter")
    return w, r


def u48(words) -> np.ndarray:
    """The `<time>` module's 48-bit timestamp from its three 16-bit words (low word first)."""
    w = np.asarray(words, dtype=np.int64) & 0xFFFF
    return w[..., 0] | (w[..., 1] << 16) | (w[..., 2] << 32)


def run_statistics(time_buf: np.ndarray, repeats: int) -> dict:
    """Cycles of each timed run and their mean and max, from every core's time_buf.

    time_buf: (height, width, STAMP_WORDS) 16-bit words. A run lasts from the earliest
    aligned begin to the latest aligned end over the cores. The headline is the mean over
    runs; `span_mean` is the authors' "Max cycle count" (earliest begin of the first run to
    latest end of the last, divided by the runs) and `core_mean` their "Mean cycle count"
    (per core, first begin to last end, averaged over cores and divided by the runs).
    """
    t = np.asarray(time_buf)
    h, w = t.shape[:2]
    if t.shape[2] < 3 + 6 * repeats:
        raise ValueError(f"time_buf holds {(t.shape[2] - 3) // 6} runs, {repeats} asked for")
    hops = np.add.outer(np.arange(h), np.arange(w))
    offset = u48(t[..., 0:3]) - hops  # each core's counter minus core (0,0)'s
    begins = np.stack([u48(t[..., 3 + 6 * r: 6 + 6 * r]) for r in range(repeats)]) - offset
    ends = np.stack([u48(t[..., 6 + 6 * r: 9 + 6 * r]) for r in range(repeats)]) - offset
    per_run = [int(ends[r].max() - begins[r].min()) for r in range(repeats)]
    if min(per_run) <= 0:
        raise ValueError(f"timestamps out of order: per-run cycles {per_run}")
    return {"cycles_mean": float(np.mean(per_run)), "cycles_max": int(max(per_run)),
            "cycles_per_run": per_run, "repeats": repeats,
            "span_mean": float((ends[-1].max() - begins[0].min()) / repeats),
            "core_mean": float(np.mean(ends[-1] - begins[0]) / repeats)}


def describe(timing: dict | None) -> str:
    """The note's words for how a launcher's cycles were taken."""
    if not timing:
        return "one run"
    return (f"mean of {timing['repeats']} timed runs after {timing['warmup']} warm-up "
            f"(max {timing['cycles_max']}; every run in what.params.timing)")

"""The cycle model's fast path, for sweeps (waferrepro.sweep): many hardware variants of one
job in one process.

A cycle-model run spends most of its time recomputing the same communication costs (a
MeshGEMM loop asks for the same ring shift's cost p times) and keeping p identical steps.
Inside `enabled()`:
- the cost functions decorated with `pure_cost` (comm's flow, ring-shift and tree costs,
  pure in (hardware, grid, arguments) when no data moves) are memoized on their arguments;
  the memo is cleared by the caller after every evaluation (one hardware);
- Timeline.add folds a step identical to one of the last two (a loop's steps, or a loop
  alternating two kinds of step) into that step's `repeat` (the same total, breakdown and
  cycles per label, up to float rounding of a sum vs a product; nothing reads the order).
Outside it nothing changes. The sweep checks the fast path against a plain run of every job's
first variant, so a cost function that stops being pure fails loudly.
"""

from __future__ import annotations

import contextlib
import functools

import numpy as np

_memo: dict | None = None  # the active memo, or None: the fast path is off


def _key(value):
    if isinstance(value, np.ndarray):
        return (value.dtype.str, value.shape, value.tobytes())
    return value


def pure_cost(fn):
    """Memoize `fn(fab, ...)` while the fast path is on and the fabric moves no data."""
    @functools.wraps(fn)
    def cached(fab, *args, **kwargs):
        if _memo is None or fab.functional:  # data moves: not a pure cost
            return fn(fab, *args, **kwargs)
        key = (fn.__name__, id(fab.hw), fab.px, fab.py, tuple(_key(a) for a in args),
               tuple(sorted((k, _key(v)) for k, v in kwargs.items())))
        try:
            return _memo[key]
        except KeyError:
            out = _memo[key] = fn(fab, *args, **kwargs)
            return out
    return cached


def coalescing() -> bool:
    """Whether Timeline.add folds identical consecutive steps (the fast path is on)."""
    return _memo is not None


@contextlib.contextmanager
def enabled():
    """Turn the fast path on; yields the memo (a dict: clear it after each evaluation, whose
    fabrics share one hardware)."""
    global _memo
    outer, _memo = _memo, {}
    try:
        yield _memo
    finally:
        _memo = outer

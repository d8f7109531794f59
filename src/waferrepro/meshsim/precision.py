"""Functional numerics at the run's accumulate precision (hardware.ACCUMULATE).

Tiles stay float32 arrays; under fp16 accumulation every accumulator value is rounded to
float16 as the hardware would store it (fp32 accumulation leaves float32's own rounding).
Granularity emulated, against the hardware's rounding after every FMAC:
- GEMM and GEMV kernels (`mac`): per FMAC. The CSL's @fmach (@fmachs under fp32) streams
  c[m, :] += a[m, k] * b[k, :] one k at a time; we do the same and round c after each k. The
  product of two fp16 values is exact in float32, so this is one rounding per FMAC, as a fused
  multiply-add (up to rare double-rounding ties, float32 then float16).
  Prefill's plain GEMMs go through the same `mac`.
- Per-head products (prefill's scores and P x V: gemm.py's loops with a `head_mac`) and
  decode's local products: coarser, the accumulator is rounded after each step's local
  product (computed in float32) and after every partial-sum add; the hardware also rounds
  inside the local product, so these err somewhat less than the device would.
- Tree and chain reductions (comm.tree_reduce): one rounding per partial-sum add, as @faddh.
"""

from __future__ import annotations

import numpy as np

from ..hardware import Hardware


def fp16_accumulate(hw: Hardware) -> bool:
    return hw.accumulate == "fp16"


def rounded(hw: Hardware, x):
    """`x` as the accumulator holds it: rounded to float16 under fp16 accumulation."""
    if x is None or not fp16_accumulate(hw):
        return x
    return np.asarray(x, dtype=np.float32).astype(np.float16).astype(np.float32)


def mac(hw: Hardware, c: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
    """c += a @ b in place (batched over leading axes), rounded per FMAC under fp16."""
    if not fp16_accumulate(hw):
        c += a @ b
        return
    for k in range(a.shape[-1]):
        c[...] = rounded(hw, c + a[..., :, k:k + 1] * b[..., k:k + 1, :])


def add(hw: Hardware, x, y):
    """x + y, one partial-sum add (@faddh or @fadds)."""
    return rounded(hw, x + y)


def sum_along(hw: Hardware, data: np.ndarray, axis: int) -> np.ndarray:
    """Sum along `axis` (keeping it) as a chain of partial-sum adds."""
    if not fp16_accumulate(hw):
        return data.sum(axis=axis, keepdims=True)
    parts = np.split(data, data.shape[axis], axis=axis)
    total = rounded(hw, parts[0])
    for part in parts[1:]:
        total = add(hw, total, part)
    return total

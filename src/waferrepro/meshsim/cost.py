"""Cycles with their causes: what a step of a schedule spends its time on.

A `Cost` is a float (so schedules add, compare and take maxima of costs as before) that also
carries its split by cause. The causes (CAUSES) are the ones a breakdown reports:
- matmul:      multiply-accumulate instructions (@fmach or @fmachs, ...)
- elementwise: other arithmetic (adds, scales, the polynomial steps of a transcendental)
- transfer:    wavelets streamed over a link (bandwidth: wavelets x link load)
- latency:     hop, ramp and relay latency of a message's first wavelet
- fixed:       per-operation and per-step costs of a program (DSD start-up, task activation,
               sync, route switch)
- wait:        cores idle on the critical path for no cause above, e.g. a double-buffered
               transfer that outlasts the compute it overlaps (derived by Timeline.breakdown)
"""

from __future__ import annotations

CAUSES = ("matmul", "elementwise", "transfer", "latency", "fixed", "wait")


class Cost(float):
    """Cycles (the float value) with `parts`: {cause: cycles} summing to the value."""

    parts: dict

    def __new__(cls, parts: dict | None = None, **kw):
        merged = {k: float(v) for k, v in {**(parts or {}), **kw}.items() if v}
        unknown = set(merged) - set(CAUSES)
        if unknown:
            raise ValueError(f"unknown cost cause(s) {sorted(unknown)}; known: {CAUSES}")
        obj = super().__new__(cls, sum(merged.values()))
        obj.parts = merged
        return obj

    @classmethod
    def of(cls, value, cause: str) -> "Cost":
        """`value` as a Cost; a plain number is charged to `cause`."""
        return value if isinstance(value, Cost) else cls({cause: float(value)})

    def __add__(self, other):
        if isinstance(other, Cost):
            out = dict(self.parts)
            for k, v in other.parts.items():
                out[k] = out.get(k, 0.0) + v
            return Cost(out)
        if other == 0:
            return self
        return float(self) + other

    __radd__ = __add__

    def __mul__(self, n):
        if isinstance(n, (int, float)) and not isinstance(n, Cost):
            return Cost({k: v * n for k, v in self.parts.items()})
        return float(self) * n

    __rmul__ = __mul__

    def __repr__(self) -> str:
        return f"Cost({float(self):g}, {self.parts})"


ZERO = Cost()

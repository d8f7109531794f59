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

A Cost may also carry `ops`: how many of each program construct (CONSTRUCTS) it charges, so a
timeline can say what it priced (Timeline.ops: the ledger's counts, tested against the
authors' loop bounds in tests/test_ledger.py). Sums add them; a multiple scales them.
"""

from __future__ import annotations

CAUSES = ("matmul", "elementwise", "transfer", "latency", "fixed", "wait")
# The constructs a compute cost counts (hardware.Hardware prices each): a vector DSD operation
# by instruction ("dsd:fmach", ...), a @map element, a scalar loop iteration, a scalar op (a
# transcendental or division counts as transcendental_ops of them), a task activation.
CONSTRUCTS = ("dsd", "map_element", "scalar_iteration", "scalar_op", "task")


class Cost(float):
    """Cycles (the float value) with `parts`: {cause: cycles} summing to the value."""

    parts: dict
    ops: dict

    def __new__(cls, parts: dict | None = None, *, ops: dict | None = None, **kw):
        merged = {k: float(v) for k, v in {**(parts or {}), **kw}.items() if v}
        unknown = set(merged) - set(CAUSES)
        if unknown:
            raise ValueError(f"unknown cost cause(s) {sorted(unknown)}; known: {CAUSES}")
        bad = {k for k in (ops or {}) if k.split(":")[0] not in CONSTRUCTS}
        if bad:
            raise ValueError(f"unknown construct(s) {sorted(bad)}; known: {CONSTRUCTS}")
        obj = super().__new__(cls, sum(merged.values()))
        obj.parts = merged
        obj.ops = {k: v for k, v in (ops or {}).items() if v}
        return obj

    @classmethod
    def of(cls, value, cause: str) -> "Cost":
        """`value` as a Cost; a plain number is charged to `cause`."""
        return value if isinstance(value, Cost) else cls({cause: float(value)})

    def __add__(self, other):
        if isinstance(other, Cost):
            return Cost(_sum(self.parts, other.parts), ops=_sum(self.ops, other.ops))
        if other == 0:
            return self
        return float(self) + other

    __radd__ = __add__

    def __mul__(self, n):
        if isinstance(n, (int, float)) and not isinstance(n, Cost):
            return Cost({k: v * n for k, v in self.parts.items()},
                        ops={k: v * n for k, v in self.ops.items()})
        return float(self) * n

    __rmul__ = __mul__

    def __repr__(self) -> str:
        return f"Cost({float(self):g}, {self.parts})"


def _sum(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0) + v
    return out


ZERO = Cost()

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

And it carries its cycles as counts x prices, by cause (`by_cause`: {cause: {monomial:
count}}; `terms` merges the causes), where a monomial is a hardware field
("map_element_cycles"), a product of fields ("scalar_op_cycles*transcendental_ops") or ""
(cycles no price changes: SIMD runs, wavelets on a link). Each cause's value is its terms'
`price` (costs are built by `priced`, so both agree by construction); sums add terms,
multiples scale them, and max() keeps the larger operand's. The calibration
evaluates a timeline's terms at other prices without re-simulating it (meshsim.form). Where a
count itself depends on a price (a ceil over transcendental_ops), the terms are its local
linear form: exact at the hardware it was built on. A Cost made from a bare number has
unknown terms (None): the form of a timeline holding one fails loudly.
"""

from __future__ import annotations

CAUSES = ("matmul", "elementwise", "transfer", "latency", "fixed", "wait")
# The constructs a cost counts (hardware.Hardware prices each): a vector DSD operation by
# instruction ("dsd:fmach", ...), a @map's start and its elements, a scalar loop iteration, a
# scalar op (a transcendental or division counts as transcendental_ops of them), a descriptor
# instruction, a task activation, the set-up of a fabric (send) DSD operation.
CONSTRUCTS = ("dsd", "map", "map_element", "scalar_iteration", "scalar_op", "descriptor_op",
              "task", "fabric_dsd")


class Cost(float):
    """Cycles (the float value) with `parts`: {cause: cycles} summing to the value."""

    parts: dict
    ops: dict
    by_cause: dict | None

    def __new__(cls, parts: dict | None = None, *, ops: dict | None = None,
                by_cause: dict | None = None, **kw):
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
        if by_cause is None:
            obj.by_cause = None if merged else {}
        else:
            # a cause whose cycles are 0 at these prices keeps its terms (bank conflicts at a
            # factor of 1 cost nothing, yet their count must reach the calibration)
            obj.by_cause = {c: {m: float(v) for m, v in t.items() if v}
                            for c, t in by_cause.items() if any(t.values())}
        return obj

    @property
    def terms(self) -> dict | None:
        """The cycles as {monomial: count} over all causes (None: unknown)."""
        if self.by_cause is None:
            return None
        out: dict = {}
        for t in self.by_cause.values():
            out = _sum(out, t)
        return out

    @classmethod
    def of(cls, value, cause: str) -> "Cost":
        """`value` as a Cost; a plain number is charged to `cause`."""
        return value if isinstance(value, Cost) else cls({cause: float(value)})

    def __add__(self, other):
        if isinstance(other, Cost):
            by_cause = None
            if self.by_cause is not None and other.by_cause is not None:
                by_cause = {c: _sum(self.by_cause.get(c, {}), other.by_cause.get(c, {}))
                            for c in {*self.by_cause, *other.by_cause}}
            return Cost(_sum(self.parts, other.parts), ops=_sum(self.ops, other.ops),
                        by_cause=by_cause)
        if other == 0:
            return self
        return float(self) + other

    __radd__ = __add__

    def __mul__(self, n):
        if isinstance(n, (int, float)) and not isinstance(n, Cost):
            return Cost({k: v * n for k, v in self.parts.items()},
                        ops={k: v * n for k, v in self.ops.items()},
                        by_cause=None if self.by_cause is None
                        else {c: {m: v * n for m, v in t.items()}
                              for c, t in self.by_cause.items()})
        return float(self) * n

    __rmul__ = __mul__

    def __repr__(self) -> str:
        return f"Cost({float(self):g}, {self.parts})"


def _sum(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0) + v
    return out


def monomial(hw, name: str) -> float:
    """The value of a monomial of `terms` on `hw` ("" is 1)."""
    value = 1.0
    for field in filter(None, name.split("*")):
        value *= float(getattr(hw, field))
    return value


def price(hw, terms: dict) -> float:
    """Cycles of `terms` ({monomial: count}) at the prices of `hw`."""
    return sum(count * monomial(hw, m) for m, count in terms.items())


def priced(hw, *, ops: dict | None = None, **by_cause: dict) -> Cost:
    """A Cost from its counts x prices by cause, e.g. priced(hw, fixed={"map_element_cycles":
    n}, matmul={"": run}): each cause's cycles are its terms' price on `hw`."""
    return Cost({cause: price(hw, t) for cause, t in by_cause.items()}, ops=ops,
                by_cause=by_cause)


def without(hw, cost: Cost, *causes: str) -> Cost:
    """`cost` less its `causes` (e.g. a shift's wire without its DSD set-up, which the
    authors' code pays where it launches the shift)."""
    if cost.by_cause is None:
        raise ValueError("a cost of unknown terms cannot be split")
    return priced(hw, **{c: t for c, t in cost.by_cause.items() if c not in causes})


def times_price(hw, cost: Cost, field: str) -> Cost:
    """`cost` multiplied by the price `field` of `hw` (a fraction such as
    reduce_chain_exposed): each monomial gains the factor."""
    if cost.by_cause is None:
        raise ValueError("a cost of unknown terms cannot be re-priced")
    return priced(hw, ops={k: v * getattr(hw, field) for k, v in cost.ops.items()},
                  **{c: {"*".join(filter(None, (m, field))): v for m, v in t.items()}
                     for c, t in cost.by_cause.items()})


ZERO = Cost()

"""Counts x prices: a timeline's cycles as a function of the hardware's prices.

Every cost meshsim charges is built from counts of constructs times their prices
(cost.priced: a @map element times map_element_cycles, hops times hop_latency_cycles, ...),
and a timeline adds its steps, each the larger of its compute and its transfer where the step
overlaps them. A `Form` keeps exactly that: per step its repeat, whether it overlaps, and the
terms of its compute, its transfer and its fixed costs. Evaluated at other prices it gives
the cycles the timeline would have, without simulating again, and its Jacobian is the counts
of the branch each max takes: the calibration (waferrepro.calibration) fits on forms.

What a form cannot see: a max inside one cost (the larger of two shifts, the farthest of a
tree's chains) keeps the branch it took where it was built, and a count that depends on a
price is linear around it (cost.Cost). The calibration therefore rebuilds the forms at its
solution until they agree with a fresh simulation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .cost import Cost, price
from .fabric import Timeline


class FormError(ValueError):
    """A timeline holds a cost whose counts x prices are unknown (a bare number)."""


@dataclass(frozen=True)
class Form:
    """Per step: repeat, overlap, and the terms ({monomial: count}) of compute, comm, fixed."""
    repeat: tuple[float, ...]
    overlap: tuple[bool, ...]
    compute: tuple[dict, ...]
    comm: tuple[dict, ...]
    fixed: tuple[dict, ...]

    @classmethod
    def of(cls, timeline: Timeline, what: str = "timeline") -> "Form":
        rows = []
        for step in timeline.steps:
            terms = [_terms(c, f"{what}, step {step.label!r}")
                     for c in (step.compute, step.comm, step.fixed)]
            rows.append((float(step.repeat), bool(step.overlap), *terms))
        return cls.from_rows(rows)

    @classmethod
    def from_rows(cls, rows) -> "Form":
        cols = list(zip(*rows, strict=True)) if rows else [(), (), (), (), ()]
        return cls(*(tuple(c) for c in cols))

    def rows(self):
        return zip(self.repeat, self.overlap, self.compute, self.comm, self.fixed, strict=True)

    def scaled(self, weight: float) -> "Form":
        """The form of `weight` times the cycles (a decode step's share of the tokens)."""
        return Form.from_rows((r * weight, o, c, m, f) for r, o, c, m, f in self.rows())

    def __add__(self, other: "Form") -> "Form":
        return Form.from_rows([*self.rows(), *other.rows()])

    def monomials(self) -> set[str]:
        return {m for terms in (*self.compute, *self.comm, *self.fixed) for m in terms}

    def value(self, hw) -> float:
        """The cycles at the prices of `hw` (a Hardware, or any object with the fields)."""
        total = 0.0
        for r, o, c, m, f in self.rows():
            c, m, f = price(hw, c), price(hw, m), price(hw, f)
            total += r * ((max(c, m) if o else c + m) + f)
        return total


def _terms(cost: Cost, where: str) -> dict:
    terms = cost.terms
    if terms is None:
        raise FormError(f"{where}: a cost of {float(cost):g} cycles carries no counts x prices "
                        "(built from a bare number, not cost.priced)")
    return terms


class Compiled:
    """Many forms (one per point) on one monomial basis, for fast evaluation and Jacobians
    in the prices `names` (the other fields stay at `hw`'s values)."""

    def __init__(self, forms: list[Form], names: list[str], hw):
        self.names = list(names)
        basis = sorted(set().union(*(f.monomials() for f in forms)) if forms else set())
        self.basis = basis
        col = {m: i for i, m in enumerate(basis)}
        self.fields = [tuple(filter(None, m.split("*"))) for m in basis]
        self.fixed_values = {n: float(getattr(hw, n)) for fs in self.fields for n in fs}
        rows = [(k, *row) for k, f in enumerate(forms) for row in f.rows()]
        n, b = len(rows), len(basis)
        self.point = np.array([r[0] for r in rows], dtype=int)
        self.repeat = np.array([r[1] for r in rows], dtype=float)
        self.overlap = np.array([r[2] for r in rows], dtype=bool)
        self.n_points = len(forms)
        mats = []
        for j in (3, 4, 5):
            mat = np.zeros((n, b))
            for i, r in enumerate(rows):
                for m, c in r[j].items():
                    mat[i, col[m]] += c
            mats.append(mat)
        self.C, self.M, self.F = mats

    def _basis_values(self, x) -> tuple[np.ndarray, np.ndarray]:
        """The basis monomials' values at prices x, and their derivatives in each name."""
        values = dict(self.fixed_values)
        values.update(zip(self.names, map(float, x), strict=True))
        v = np.array([np.prod([values[f] for f in fs]) if fs else 1.0 for fs in self.fields])
        dv = np.zeros((len(self.basis), len(self.names)))
        for i, fs in enumerate(self.fields):
            for j, name in enumerate(self.names):
                if name in fs:
                    rest = list(fs)
                    rest.remove(name)
                    dv[i, j] = np.prod([values[f] for f in rest]) if rest else 1.0
        return v, dv

    def evaluate(self, x) -> tuple[np.ndarray, np.ndarray]:
        """(cycles per point, d cycles / d price per point and name) at prices x."""
        v, dv = self._basis_values(x)
        c, m, f = self.C @ v, self.M @ v, self.F @ v
        step = np.where(self.overlap, np.maximum(c, m), c + m) + f
        active = np.where((self.overlap & (m > c))[:, None], self.M,
                          np.where(self.overlap[:, None], self.C, self.C + self.M)) + self.F
        cycles = np.bincount(self.point, weights=self.repeat * step, minlength=self.n_points)
        rows = (self.repeat[:, None] * active) @ dv
        grad = np.zeros((self.n_points, len(self.names)))
        np.add.at(grad, self.point, rows)
        return cycles, grad

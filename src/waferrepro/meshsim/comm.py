"""Communication primitives: a functional effect on per-core tiles and a cycle cost.

Every primitive acts on all lines of the grid along one axis at once ("x": along a row, "y":
along a column); lines do not share links, so the cost of one line is the cost of the step.
`data` has shape (py, px, ...) in functional mode and is None in cycle-model mode; costs are
computed from the plan only, so both modes agree.

Cost model (PLMR, ARCHITECTURE.md): a message of n wavelets over d hops costs
    n * link_load (transfer) + d * hop_latency + 2 * ramp_latency (latency) + dsd_startup (fixed)
(streamed at one wavelet per cycle per link; link_load > 1 when flows share a directed link;
fp16 values fp16_per_wavelet to a wavelet, fp32 ones one each). Reductions carry partial
sums at the run's accumulate width (hw.acc_bits) unless told otherwise.
A core that relays and adds in a pipelined chain adds 2 * ramp_latency + 1 cycles per member,
the form of Luczynski et al. (HPDC 2024): (2*T_R + 1) per unit distance; each tree level and
the turn from reduce to broadcast switch routes (route_switch_cycles, fixed).
"""

from __future__ import annotations

import numpy as np

from ..host import group_size, logical_index, ring_order
from .cost import ZERO, Cost
from .fabric import Fabric
from .fastpath import pure_cost
from .precision import sum_along

_AXIS = {"y": 0, "x": 1}


@pure_cost
def _flows_cost(fab: Fabric, src: np.ndarray, dst: np.ndarray, elems: int,
                bits: int = 16) -> Cost:
    """Cycles for simultaneous point-to-point flows src[f] -> dst[f] along one line."""
    hw = fab.hw
    moving = src != dst
    if not moving.any():
        return ZERO
    src, dst = src[moving], dst[moving]
    n_links = int(max(src.max(), dst.max())) + 1
    load = 0
    for direction in (1, -1):  # eastward/southward flows, then westward/northward
        sel = np.sign(dst - src) == direction
        if not sel.any():
            continue
        lo = np.minimum(src[sel], dst[sel])
        hi = np.maximum(src[sel], dst[sel])
        diff = np.zeros(n_links + 1, dtype=np.int64)
        np.add.at(diff, lo, 1)
        np.add.at(diff, hi, -1)
        load = max(load, int(np.cumsum(diff).max()))
    dist = int(np.abs(dst - src).max())
    return Cost(transfer=fab.wavelets(elems, bits) * load,
                latency=dist * hw.hop_latency_cycles + 2 * hw.ramp_latency_cycles) \
        + fab.message_fixed()


def permute(fab: Fabric, data, axis: str, dest: np.ndarray, elems: int, bits: int = 16):
    """Every core at position p along the axis sends its tile to position dest[p]."""
    src = np.arange(len(dest))
    cycles = _flows_cost(fab, src, dest, elems, bits)
    if data is None:
        return None, cycles
    moved = np.empty_like(data)
    ax = _AXIS[axis]
    idx_dst = [slice(None)] * data.ndim
    idx_dst[ax] = dest
    moved[tuple(idx_dst)] = data
    return moved, cycles


@pure_cost
def ring_shift(fab: Fabric, data, axis: str, elems: int, interleaved: bool, bits: int = 16):
    """Shift tiles one step backwards around a logical ring (ring index l -> l-1).

    The ring is embedded in the physical line either plainly (closing hop of p-1) or
    interleaved (MeshGEMM: every hop at most two).
    """
    p = fab.line_length(axis)
    order = ring_order(p, interleaved)
    lidx = logical_index(order)
    dest = order[(lidx - 1) % p]
    return permute(fab, data, axis, dest, elems, bits)


def neighbour_shift(fab: Fabric, data, axis: str, elems: int, direction: int = 1,
                    bits: int = 16):
    """Shift tiles to the next core along the axis (no wrap); the first core receives zeros."""
    p = fab.line_length(axis)
    src = np.arange(p - 1) if direction > 0 else np.arange(1, p)
    dst = src + direction
    cycles = _flows_cost(fab, src, dst, elems, bits)
    if data is None:
        return None, cycles
    moved = np.zeros_like(data)
    ax = _AXIS[axis]
    take = [slice(None)] * data.ndim
    put = [slice(None)] * data.ndim
    take[ax], put[ax] = src, dst
    moved[tuple(put)] = data[tuple(take)]
    return moved, cycles


def broadcast(fab: Fabric, data, axis: str, root, elems: int, bits: int = 16):
    """Multicast the tile at position `root` to every core of the line (router pass-through).

    `root` may be an int or, in functional mode, an array giving each line its own root.
    """
    hw = fab.hw
    p = fab.line_length(axis)
    roots = np.atleast_1d(root)
    dist = int(max(np.max(roots), p - 1 - np.min(roots)))
    cycles = ZERO if p == 1 else Cost(
        transfer=fab.wavelets(elems, bits),
        latency=dist * hw.hop_latency_cycles + 2 * hw.ramp_latency_cycles) + fab.message_fixed()
    if data is None:
        return None, cycles
    ax = _AXIS[axis]
    picked = np.take(data, [int(root)], axis=ax) if np.ndim(root) == 0 else None
    if picked is None:
        raise NotImplementedError("per-line roots are only supported in cycle-model mode")
    return np.broadcast_to(picked, data.shape).copy(), cycles


TREE_ROOTS = ("edge", "middle")


def tree_plan(p: int, levels: int, root: str = "edge") -> list[list[np.ndarray]]:
    """The groups of each level of a `levels`-level tree over positions 0..p-1: level 1
    groups g neighbouring positions, each later level groups the previous level's roots g at
    a time (g = ceil(p ** (1/levels))). A group's root is its first member ("edge": one-way
    chains, Cerebras's GEMV example and our first kernels) or its middle member ("middle":
    both halves chain towards it at once, as the authors' MeshGEMV does)."""
    if root not in TREE_ROOTS:
        raise ValueError(f"tree root must be one of {TREE_ROOTS}, got {root!r}")
    g = group_size(p, levels)
    heads, plan = np.arange(p), []
    while len(heads) > 1:
        groups = [heads[i:i + g] for i in range(0, len(heads), g)]
        plan.append(groups)
        heads = np.array([group_root(grp, root) for grp in groups])
    return plan


def group_root(group: np.ndarray, root: str) -> int:
    return int(group[0] if root == "edge" else group[(len(group) - 1) // 2])


def tree_root(p: int, levels: int, root: str = "edge") -> int:
    """Where a line's tree leaves its result."""
    plan = tree_plan(p, levels, root)
    return group_root(plan[-1][0], root) if plan else 0


@pure_cost
def tree_reduce(fab: Fabric, data, axis: str, elems: int, levels: int, op: str = "sum",
                bits: int | None = None, root: str = "edge"):
    """Sum (or, with op="max", take the maximum of) the tiles of each line into its tree's
    root (tree_plan, tree_root) through a `levels`-level tree of chains.

    levels=1 is the plain chain reduction (Cerebras's GEMV example); the paper's MeshGEMV
    uses levels=2. Per level, a chain's far member reaches the root after one relay per
    member and its hops; a middle root takes its two sides' streams one after the other (two
    DSD ops, as the authors' kernel does), so it pays twice the wavelets. Returns (data,
    cycles, levels actually used).
    """
    if op not in ("sum", "max"):
        raise ValueError(f"tree_reduce op must be 'sum' or 'max', got {op!r}")
    hw = fab.hw
    bits = bits or hw.acc_bits
    ax = _AXIS[axis]
    relay = 2 * hw.ramp_latency_cycles + 1
    cycles = ZERO
    plan = tree_plan(fab.line_length(axis), levels, root)
    for groups in plan:
        latency, sides = 0.0, 1
        for group in groups:
            r = group_root(group, root)
            for side in (group[group < r], group[group > r]):
                if len(side):
                    far = int(np.max(np.abs(side - r)))
                    latency = max(latency, len(side) * relay + far * hw.hop_latency_cycles)
            sides = max(sides, int((group < r).any()) + int((group > r).any()))
        # Each level: its own routes (a switch) and one receive per side at the root.
        cycles += Cost(transfer=sides * fab.wavelets(elems, bits), latency=latency,
                       fixed=hw.route_switch_cycles) + fab.message_fixed() * sides
        if data is not None:
            for group in groups:
                r = group_root(group, root)
                head = [slice(None)] * data.ndim
                head[ax] = slice(r, r + 1)
                part = np.take(data, group, axis=ax)
                data[tuple(head)] = (part.max(axis=ax, keepdims=True) if op == "max"
                                     else sum_along(hw, part, ax))
    return data, cycles, len(plan)


def all_reduce(fab: Fabric, data, axis: str, elems: int, levels: int = 2, op: str = "sum",
               bits: int | None = None, root: str = "edge"):
    """Tree reduce into the tree's root, then broadcast back along the line.

    Returns (data, reduce cycles + broadcast cycles, levels used).
    """
    bits = bits or fab.hw.acc_bits
    data, cycles, used = tree_reduce(fab, data, axis, elems, levels, op, bits, root)
    at = tree_root(fab.line_length(axis), levels, root)
    data, bcast = broadcast(fab, data, axis, at, elems, bits)
    return data, cycles + route_switch(fab, axis) + bcast, used


def route_switch(fab: Fabric, axis: str) -> Cost:
    """Turning a line's routes from the reduce to the broadcast (line_tree.csl does it in
    every kernel that all-reduces); none on a line of one."""
    return Cost(fixed=fab.hw.route_switch_cycles) if fab.line_length(axis) > 1 else ZERO


def shear(fab: Fabric, data, axis: str, amounts, elems: int, interleaved: bool,
          bits: int = 16, both_ways: bool = False):
    """Rotate each line along `axis` by its own number of ring positions (ring index
    m -> m - amounts[l], l the line's logical index) as successive ring shifts, in which only
    the lines with steps left take part: the form a CSL can route on the ring's static colors.

    axis="y" moves tiles along columns (amounts per logical column), "x" along rows (per
    logical row). Cost: max(amounts) ring shifts (lines run in parallel on their own links);
    with `both_ways` each line turns the shorter way round (reverse shifts on their own
    colors), max(min(a, p - a)) shifts.
    """
    p = fab.line_length(axis)
    n_lines = fab.line_length("y" if axis == "x" else "x")
    amounts = np.asarray(amounts, dtype=np.int64) % p
    if amounts.shape != (n_lines,):
        raise ValueError(f"shear along {axis} needs one amount per line ({n_lines})")
    steps = int(amounts.max()) if amounts.size else 0
    _, one = ring_shift(fab, None, axis, elems, interleaved, bits)
    charged = int(np.minimum(amounts, p - amounts).max()) if both_ways and amounts.size else steps
    if data is None:
        return None, charged * one
    data = data.copy()
    line_lidx = logical_index(ring_order(n_lines, interleaved))
    left = amounts[line_lidx]  # per physical line
    for t in range(steps):
        moved, _ = ring_shift(fab, data, axis, elems, interleaved)
        sel = left > t
        if axis == "x":
            data[sel] = moved[sel]
        else:
            data[:, sel] = moved[:, sel]
    return data, charged * one


def pipelined_broadcast(fab: Fabric, data, axis: str, root: int, lead_hops: int, elems: int,
                        bits: int = 16):
    """Multicast the tile at position `root` to every core of the line, as `broadcast`, but
    as one of a sweep of multicasts with no barrier between them (the authors' SUMMA: each
    core posts its next receive when its own compute ends, each root sends when its own
    compute ends). Receivers near the previous root are served first, so the stream's hops
    along the line overlap the previous step's and only `lead_hops` of them (how far the
    critical path moves per step, the caller's geometry) are exposed, plus the two ramps.
    The far end's hops come due where the sweep jumps back (the caller passes that jump)."""
    hw = fab.hw
    if fab.line_length(axis) == 1:
        return (None if data is None else data.copy()), ZERO
    cycles = Cost(transfer=fab.wavelets(elems, bits),
                  latency=lead_hops * hw.hop_latency_cycles + 2 * hw.ramp_latency_cycles) \
        + fab.message_fixed()
    moved, _ = broadcast(fab, data, axis, root, elems, bits)
    return moved, cycles

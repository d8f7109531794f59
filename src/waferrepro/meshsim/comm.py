"""Communication primitives: a functional effect on per-core tiles and a cycle cost.

Every primitive acts on all lines of the grid along one axis at once ("x": along a row, "y":
along a column); lines do not share links, so the cost of one line is the cost of the step.
`data` has shape (py, px, ...) in functional mode and is None in cycle-model mode; costs are
computed from the plan only, so both modes agree.

Cost model (PLMR, ARCHITECTURE.md): a message of n wavelets over d hops costs
    n * link_load (transfer) + d * hop_latency + 2 * ramp_latency (latency)
    + fabric_dsd_startup (fixed: the sending DSD operation's set-up)
(streamed at one wavelet per cycle per link; link_load > 1 when flows share a directed link;
fp16 values fp16_per_wavelet to a wavelet, fp32 ones one each). Reductions carry partial
sums at the run's accumulate width (hw.acc_bits) unless told otherwise.
A core that relays and adds in a pipelined chain delays the stream by relay_cycles (ramp in,
the DSD pipeline, ramp out: Luczynski et al., HPDC 2024, write it 2*T_R + 1). Our kernels
switch routes at each tree level and from reduce to broadcast (route_switch_cycles, fixed);
the authors' use a color per phase and switch nothing.
Every cost is built by cost.priced (counts x prices), so meshsim.form can re-price it.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..host import group_size, logical_index, ring_order
from .cost import ZERO, Cost, priced
from .fabric import Fabric, PlanError
from .fastpath import pure_cost
from .precision import sum_along

_AXIS = {"y": 0, "x": 1}


@pure_cost
def _flows_cost(fab: Fabric, src: np.ndarray, dst: np.ndarray, elems: int,
                bits: int = 16) -> Cost:
    """Cycles for simultaneous point-to-point flows src[f] -> dst[f] along one line."""
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
    return message(fab, fab.wavelets(elems, bits) * load, dist)


def message(fab: Fabric, wavelets: float, hops: int, relays: int = 0) -> Cost:
    """A message's cycles: its wavelets on the busiest link, the first wavelet's hops, the two
    ramps (out of the sender, into the receiver), `relays` cores that relay and add on the
    way, and the sending DSD operation's set-up."""
    return priced(fab.hw, transfer={"": wavelets},
                  latency={"hop_latency_cycles": hops, "ramp_latency_cycles": 2,
                           "relay_cycles": relays}) + fab.message_fixed()


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
    p = fab.line_length(axis)
    roots = np.atleast_1d(root)
    dist = int(max(np.max(roots), p - 1 - np.min(roots)))
    cycles = ZERO if p == 1 else message(fab, fab.wavelets(elems, bits), dist)
    if data is None:
        return None, cycles
    ax = _AXIS[axis]
    picked = np.take(data, [int(root)], axis=ax) if np.ndim(root) == 0 else None
    if picked is None:
        raise NotImplementedError("per-line roots are only supported in cycle-model mode")
    return np.broadcast_to(picked, data.shape).copy(), cycles


TREE_ROOTS = ("edge", "middle", "authors")


def authors_group_num(p: int) -> int | None:
    """The authors' group count for a two-level tree over p cores: the divisor of p nearest
    sqrt(p) with at least two groups of at least two (their Decode configs: 20 groups on 420
    and 540, 22 on 660, 24 on 720); None where p has none."""
    fits = _group_nums(p)
    return min(fits, key=lambda g: (abs(g - math.sqrt(p)), g)) if fits else None


def _group_nums(p: int) -> list[int]:
    """The group counts the authors' MeshGEMV can run on a line of p cores: divisors of p
    giving at least two groups of at least two."""
    return [g for g in range(2, p // 2 + 1) if p % g == 0]


# The systems that take the authors' group_num (MeshGEMV's two-level tree).
GROUP_NUM_SYSTEMS = ("MeshGEMV",)


def group_num_problem(value, p: int | None = None, system: str = "MeshGEMV") -> str | None:
    """Why `value` cannot be the authors' group_num of `system` on a reduction line of `p`
    cores (None: it can, or it is None: the root form's groups). Their kernel needs an integer
    >= 2 with p % group_num == 0 and pe_num_group = p // group_num >= 2 (run_wse3.sh; 1 or p
    deadlock). The one rule: the kernels raise PlanError with it, waferrepro.validate a
    ValidationError."""
    if value is None:
        return None
    if system not in GROUP_NUM_SYSTEMS:
        return (f"{value!r} is not allowed for {system}: group_num is the authors' MeshGEMV "
                f"parameter (its two-level tree's groups); only "
                f"{', '.join(GROUP_NUM_SYSTEMS)} takes one")
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 2:
        return f"{value!r} is not allowed; give an integer >= 2 (the authors' MeshGEMV group_num)"
    if p is not None and (p % value or p // value < 2):
        allowed = _group_nums(p)
        return (f"{value} does not fit a reduction line of {p} cores: the authors' MeshGEMV "
                "needs P % group_num == 0 and pe_num_group = P // group_num >= 2; allowed for "
                f"P = {p}: {', '.join(map(str, allowed)) or 'none'}")
    return None


def check_group_num(p: int | None, group_num, system: str = "MeshGEMV") -> None:
    """group_num_problem as a PlanError."""
    why = group_num_problem(group_num, p, system)
    if why:
        raise PlanError(f"group_num: {why}")


def tree_plan(p: int, levels: int, root: str = "edge",
              group_num: int | None = None) -> list[list[np.ndarray]]:
    """The groups of each level of a `levels`-level tree over positions 0..p-1: level 1
    groups g neighbouring positions, each later level groups the previous level's roots g at
    a time (g = ceil(p ** (1/levels))). A group's root is its first member ("edge": one-way
    chains, Cerebras's GEMV example and our first kernels), its middle member rounded down
    ("middle": both halves chain towards it, our CSL's roles.csl) or rounded up ("authors":
    the authors' MeshGEMV, Decode and Prefill, root = pe_num_group // 2; run_wse3.sh).
    `group_num` (two levels): p // group_num cores per level-1 group and one level-2 group of
    their roots, as the authors' pe_num_group; the authors' root form takes
    authors_group_num(p) where none is given."""
    if root not in TREE_ROOTS:
        raise ValueError(f"tree root must be one of {TREE_ROOTS}, got {root!r}")
    if group_num is None and root == "authors" and levels == 2:
        group_num = authors_group_num(p)
    if group_num is not None:
        if levels != 2:
            raise PlanError(f"group_num applies to a two-level tree, not {levels} levels")
        check_group_num(p, group_num)
        level1 = [np.arange(i, i + p // group_num) for i in range(0, p, p // group_num)]
        return [level1, [np.array([group_root(grp, root) for grp in level1])]]
    g = group_size(p, levels)
    heads, plan = np.arange(p), []
    while len(heads) > 1:
        groups = [heads[i:i + g] for i in range(0, len(heads), g)]
        plan.append(groups)
        heads = np.array([group_root(grp, root) for grp in groups])
    return plan


def group_root(group: np.ndarray, root: str) -> int:
    at = {"edge": 0, "middle": (len(group) - 1) // 2, "authors": len(group) // 2}[root]
    return int(group[at])


def tree_root(p: int, levels: int, root: str = "edge", group_num: int | None = None) -> int:
    """Where a line's tree leaves its result."""
    plan = tree_plan(p, levels, root, group_num)
    return group_root(plan[-1][0], root) if plan else 0


@pure_cost
def tree_reduce(fab: Fabric, data, axis: str, elems: int, levels: int, op: str = "sum",
                bits: int | None = None, root: str = "edge", group_num: int | None = None):
    """Sum (or, with op="max", take the maximum of) the tiles of each line into its tree's
    root (tree_plan, tree_root) through a `levels`-level tree of chains.

    levels=1 is the plain chain reduction (Cerebras's GEMV example); the paper's MeshGEMV
    uses levels=2. Per level, the farthest member of each side streams to its root over its
    hops, relayed (and added) by every member between. A root with members on both sides
    takes their streams one after the other, as the authors' kernels do (two blocking
    receive-adds, the tail side's first: up_recv before down_recv): the head side's stream
    waits in the fabric until the root, done with the tail's wavelets, has set up its second
    DSD operation. Returns (data, cycles, levels used).
    """
    if op not in ("sum", "max"):
        raise ValueError(f"tree_reduce op must be 'sum' or 'max', got {op!r}")
    hw = fab.hw
    bits = bits or hw.acc_bits
    ax = _AXIS[axis]
    cycles = ZERO
    stream = priced(hw, transfer={"": fab.wavelets(elems, bits)})
    plan = tree_plan(fab.line_length(axis), levels, root, group_num)
    for groups in plan:
        level = ZERO
        for group in groups:
            r = group_root(group, root)
            # the tail side (after the root) first, then the head side
            arrive = [message(fab, 0, int(np.max(np.abs(side - r))), relays=len(side) - 1)
                      for side in (group[group > r], group[group < r]) if len(side)]
            if not arrive:  # a group of one: nothing to reduce
                continue
            done = arrive[0] + stream
            if len(arrive) == 2:
                # the root's second receive-add is set up once its first is done; its set-up
                # is counted in full, exact when the tail's stream outlasts the head side's
                # extra latency, else at most one set-up over (the counts stay the same at
                # any prices, so the ledger can state them)
                done = max(done, arrive[1]) + fab.message_fixed() + stream
            level = max(level, done)
        # our kernels switch routes at each level
        switch = ZERO if hw.authors_loops else fab.route_switches(1)
        cycles += level + switch
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
               bits: int | None = None, root: str = "edge", group_num: int | None = None):
    """Tree reduce into the tree's root, then broadcast back along the line.

    Returns (data, reduce cycles + broadcast cycles, levels used).
    """
    bits = bits or fab.hw.acc_bits
    data, cycles, used = tree_reduce(fab, data, axis, elems, levels, op, bits, root, group_num)
    at = tree_root(fab.line_length(axis), levels, root, group_num)
    data, bcast = broadcast(fab, data, axis, at, elems, bits)
    return data, cycles + route_switch(fab, axis) + bcast, used


def route_switch(fab: Fabric, axis: str) -> Cost:
    """Turning a line's routes from the reduce to the broadcast (line_tree.csl does it in
    every kernel that all-reduces); none on a line of one, none in the authors' kernels (a
    color per phase)."""
    if fab.line_length(axis) == 1 or fab.hw.authors_loops:
        return ZERO
    return fab.route_switches(1)


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
    if fab.line_length(axis) == 1:
        return (None if data is None else data.copy()), ZERO
    cycles = message(fab, fab.wavelets(elems, bits), lead_hops)
    moved, _ = broadcast(fab, data, axis, root, elems, bits)
    return moved, cycles

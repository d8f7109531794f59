"""The static routes of the CSL kernels, router by router, and a tracer that checks them.

The CSL programs decide in `kernels/common/roles.csl` which color each core sends on, which it
receives on and which it only passes through its router. This module is their Python twin:
the same rules (`ring_role`, `tree_role`, `neighbour_role`, `sync_role`), turned into
per-router color configurations (`RouteTable`) and checked by following wavelets from their senders
(`trace`). Without an SDK this is how we know the routes deliver every flow where the
algorithm needs it, to nobody else, never off the kernel's rectangle, and that no router is
given two configurations for one color (cslc rejects that, and the hardware would misroute).
What it cannot tell: whether cslc accepts the CSL spelling of these rules.

Directions: "+" is EAST along a row (x) and SOUTH along a column (y); "-" is WEST / NORTH.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..host import group_size

# Our CSL's tree roots (roles.csl): a group's first member or its middle rounded down. The
# authors' form (meshsim.comm: the middle rounded up, their group count) is meshsim's only;
# the SDK toolchain runs "middle" for it (kernels/README).
TREE_ROOTS = ("edge", "middle")


def csl_root(root: str) -> str:
    """The root form our CSL runs for meshsim's tree root `root` (the authors' as "middle")."""
    return "edge" if root == "edge" else "middle"


def tree_middle(root: str) -> int:
    """layout.csl's `tree_middle` parameter for meshsim's tree root `root`."""
    return int(csl_root(root) == "middle")

RAMP = "RAMP"
_STEP = {"EAST": (1, 0), "WEST": (-1, 0), "SOUTH": (0, 1), "NORTH": (0, -1)}
_OPPOSITE = {"EAST": "WEST", "WEST": "EAST", "SOUTH": "NORTH", "NORTH": "SOUTH"}


def direction(axis: str, sign: str) -> str:
    """The router port for one step along an axis: x+ EAST, x- WEST, y+ SOUTH, y- NORTH."""
    return {("x", "+"): "EAST", ("x", "-"): "WEST",
            ("y", "+"): "SOUTH", ("y", "-"): "NORTH"}[(axis, sign)]


class RouteConflict(ValueError):
    """Two configurations for one color on one router, or a wavelet that goes astray."""


@dataclass
class RouteTable:
    """Color configurations of a width x height rectangle: (x, y) -> color -> (rx, tx)."""

    width: int
    height: int
    routes: dict = field(default_factory=dict)

    def set(self, x: int, y: int, color: str, rx, tx) -> None:
        per_pe = self.routes.setdefault((x, y), {})
        if color in per_pe:
            raise RouteConflict(f"PE ({x},{y}): color {color} configured twice "
                                f"({per_pe[color]} and {(frozenset(rx), frozenset(tx))})")
        per_pe[color] = (frozenset(rx), frozenset(tx))

    def colors(self) -> set:
        return {c for per_pe in self.routes.values() for c in per_pe}


def trace(table: RouteTable, x: int, y: int, color: str) -> dict:
    """Follow a wavelet sent from the ramp of (x, y) on `color`; return {PE: hops} of every
    core whose ramp it reaches. Raises RouteConflict if it leaves the rectangle, reaches a
    router not configured to accept it from that side, or loops."""
    delivered: dict = {}
    frontier = [((x, y), RAMP, 0)]
    seen = set()
    while frontier:
        (cx, cy), came_from, hops = frontier.pop()
        if ((cx, cy), came_from) in seen:
            raise RouteConflict(f"color {color} loops through PE ({cx},{cy})")
        seen.add(((cx, cy), came_from))
        if not (0 <= cx < table.width and 0 <= cy < table.height):
            raise RouteConflict(f"color {color} from ({x},{y}) leaves the rectangle at "
                                f"({cx},{cy})")
        config = table.routes.get((cx, cy), {}).get(color)
        if config is None or came_from not in config[0]:
            raise RouteConflict(f"color {color} from ({x},{y}) reaches PE ({cx},{cy}) from "
                                f"{came_from}, which its router does not accept")
        for out in config[1]:
            if out == RAMP:
                if hops == 0:
                    raise RouteConflict(f"PE ({cx},{cy}) sends color {color} to itself")
                delivered[(cx, cy)] = hops
            else:
                dx, dy = _STEP[out]
                frontier.append(((cx + dx, cy + dy), _OPPOSITE[out], hops + 1))
    return delivered


def deliver(table: RouteTable, x: int, y: int, color: str) -> tuple[int, int]:
    """The one core a point-to-point flow from (x, y) on `color` reaches."""
    got = trace(table, x, y, color)
    if len(got) != 1:
        raise RouteConflict(f"{color} from ({x},{y}) reaches {sorted(got)}, not one core")
    return next(iter(got))


# ------------------------------------------------------------------ interleaved ring shift
@dataclass(frozen=True)
class RingRole:
    """One core's part in MeshGEMM's ring shift along one line (kernels/common/ring_shift.csl).

    Colors are indices 0..3 into the line's four: 0/1 carry the flows going "-" (even
    senders, two hops), 2/3 the flows going "+" (odd senders, two hops); each family
    alternates between its two colors so that no router both receives and sends on one.
    """

    send_sign: str  # "+" or "-"
    send_color: int
    recv_sign: str  # the side the incoming tile arrives from
    recv_color: int
    pass_color: int | None  # a flow crossing this router without stopping
    pass_sign: str | None  # the way the crossing flow travels


def _ceil_half(q: int) -> int:
    return (q + 1) // 2


def _ring_sender(q: int, p: int) -> tuple[str, int]:
    """(direction, color index) of the tile core q sends in a ring shift l -> l-1.

    Ring order 0, 2, 4, ..., 5, 3, 1 (host.ring_order): evens send two hops "-", odds two hops
    "+", and three cores send one hop: 0 to 1, and at the far end the core that turns the
    ring around (p-1 to p-2 when p is even, p-2 to p-1 when p is odd).
    """
    if q % 2 == 0 and q > 0:
        sign = "-"
    elif q == 0:
        sign = "+"
    elif q == p - 1:  # odd and last: p even, the turnaround goes back one hop
        sign = "-"
    else:
        sign = "+"
    color = _ceil_half(q) % 2 if sign == "-" else 2 + (_ceil_half(q) + 1) % 2
    return sign, color


def _largest_odd(p: int) -> int:
    return p - 1 if p % 2 == 0 else p - 2


def ring_index(q: int, p: int) -> int:
    """Logical ring index of physical position q, in closed form as roles.csl computes it
    (the tests hold it to host.logical_index(host.ring_order(p, True)))."""
    return q // 2 if q % 2 == 0 else (p + 1) // 2 + (_largest_odd(p) - q) // 2


def ring_position(i: int, p: int) -> int:
    """Physical position of logical ring index i (inverse of ring_index)."""
    evens = (p + 1) // 2
    return 2 * i if i < evens else _largest_odd(p) - 2 * (i - evens)


def ring_role(q: int, p: int) -> RingRole | None:
    """What core q of a line of p does in the interleaved ring shift (None when p == 1)."""
    if p == 1:
        return None
    send_sign, send_color = _ring_sender(q, p)
    src = ring_position((ring_index(q, p) + 1) % p, p)  # whose tile q receives (l+1 -> l)
    _, recv_color = _ring_sender(src, p)
    recv_sign = "+" if src > q else "-"
    pass_color = pass_sign = None
    if q % 2 == 1 and q <= p - 2:
        # an even sender q+1 goes two hops "-" through q
        pass_color, pass_sign = _ring_sender(q + 1, p)[1], "-"
    elif q % 2 == 0 and 2 <= q <= p - 2:
        # an odd sender q-1 goes two hops "+" through q
        pass_color, pass_sign = _ring_sender(q - 1, p)[1], "+"
    return RingRole(send_sign, send_color, recv_sign, recv_color, pass_color, pass_sign)


def ring_routes(table: RouteTable, axis: str, prefix: str) -> None:
    """Add the ring-shift routes of every line along `axis` to the table."""
    p = table.width if axis == "x" else table.height
    lines = table.height if axis == "x" else table.width
    for line in range(lines):
        for q in range(p):
            role = ring_role(q, p)
            if role is None:
                continue
            x, y = (q, line) if axis == "x" else (line, q)
            table.set(x, y, f"{prefix}{role.send_color}", {RAMP},
                      {direction(axis, role.send_sign)})
            table.set(x, y, f"{prefix}{role.recv_color}",
                      {direction(axis, role.recv_sign)}, {RAMP})
            if role.pass_color is not None:
                back = "-" if role.pass_sign == "+" else "+"
                table.set(x, y, f"{prefix}{role.pass_color}", {direction(axis, back)},
                          {direction(axis, role.pass_sign)})


# ---------------------------------------------------------------- wavelets (packing)
PACKED_RULE = "a packed fabric DSD moves two fp16 per wavelet: the length must be even"


def to_wavelets(tiles, per_wavelet: int = 1, pad: bool = True):
    """Per-core tiles (indexed [y][x], any tile shape) as the fabric carries them: each
    core's values flattened and grouped `per_wavelet` to a 32-bit wavelet (1: one fp16 in
    a wavelet; 2: a pair, the first value in the low half, as a 16-bit SIMD fabric DSD).
    Packed, an odd length takes one zero pad element, as the kernels pad their transfer
    buffers (MeshGEMM's A_WIRE/B_WIRE, MeshGEMV's NT_WIRE); `pad=False` is a kernel without
    that pad, refused as the library's comptime asserts refuse it."""
    if per_wavelet not in (1, 2):
        raise ValueError(f"fp16 per wavelet is 1 or 2, got {per_wavelet}")
    flat = tiles.reshape(tiles.shape[:2] + (-1,))
    odd = flat.shape[-1] % per_wavelet
    if odd and not pad:
        raise ValueError(f"{flat.shape[-1]} values: {PACKED_RULE}")
    if odd:
        flat = np.concatenate([flat, np.zeros(flat.shape[:2] + (1,), flat.dtype)], axis=-1)
    return flat.reshape(tiles.shape[:2] + (-1, per_wavelet))


def from_wavelets(wavelets, tile_shape: tuple, swap: bool = False):
    """Unpack received wavelets into per-core tiles of `tile_shape` (dropping a pad element);
    `swap` reads each pair's halves the wrong way round (a mutation the emulation tests must
    catch)."""
    w = wavelets[..., ::-1] if swap else wavelets
    flat = w.reshape(wavelets.shape[:2] + (-1,))[..., :int(np.prod(tile_shape, dtype=int))]
    return flat.reshape(wavelets.shape[:2] + tuple(tile_shape))


def ring_transfer(table: RouteTable, tiles, axis: str, prefix: str, lines=None,
                  per_wavelet: int = 1, swap: bool = False, pad: bool = True):
    """What one ring shift does to per-core tiles (indexed [y][x]) on the table's routes:
    each core's tile goes wherever its send color is routed, that core must read the color,
    and every core of a line taking part receives exactly one tile (ring_shift.csl's shift on
    every core). `lines`: per line along the other axis, whether it takes part (the rest keep
    their tiles). `per_wavelet`: fp16 per wavelet (ring_shift.csl's `packed`); the tiles
    travel as wavelets (to_wavelets, with `pad`) and are unpacked on arrival (`swap`: see
    from_wavelets). Returns the new tiles."""
    p = table.width if axis == "x" else table.height
    sent = to_wavelets(tiles, per_wavelet, pad)  # unpadded odd: refused, ring or not
    if (per_wavelet != 1 or swap) and p > 1:
        got = from_wavelets(ring_transfer(table, sent, axis, prefix, lines), tiles.shape[2:],
                            swap)
        for i, part in enumerate(lines if lines is not None else ()):
            if not part:  # a line that does not take part keeps its own tiles
                idx = (i, slice(None)) if axis == "x" else (slice(None), i)
                got[idx] = tiles[idx]
        return got
    out = tiles.copy()
    if p == 1:
        return out
    received = set()
    for y in range(table.height):
        for x in range(table.width):
            if lines is not None and not lines[y if axis == "x" else x]:
                continue
            color = ring_role(x if axis == "x" else y, p).send_color
            dx, dy = deliver(table, x, y, f"{prefix}{color}")
            if ring_role(dx if axis == "x" else dy, p).recv_color != color:
                raise RouteConflict(f"({dx},{dy}) does not read {prefix}{color}")
            if (dx, dy) in received:
                raise RouteConflict(f"({dx},{dy}) receives two tiles in one {axis} shift")
            received.add((dx, dy))
            out[dy, dx] = tiles[y, x]
    n_lines = table.height if axis == "x" else table.width
    taking_part = n_lines if lines is None else int(sum(bool(v) for v in lines))
    if len(received) != taking_part * p:
        raise RouteConflict(f"a {axis} shift left {taking_part * p - len(received)} cores "
                            "without a tile")
    return out


# ------------------------------------------------------- two-level line tree + broadcast


@dataclass(frozen=True)
class TreeRole:
    """One core's part in a line's all-reduce into the line's root and the broadcast back
    (kernels/common/line_tree.csl; fields as roles.csl's tree_role). Colors: l1a/l1b,
    l2a/l2b, bcast. "minus" is toward position 0, "plus" away from it."""

    single: bool  # a line of one
    is_root: bool  # the line's root: the level-2 root and the broadcast's source
    l1_root: bool  # its group's root, a head
    l1_send: str | None  # level 1 (not a group root): its color and direction
    l1_send_sign: str | None
    l1_from_minus: str | None  # the color a level-1 stream arrives on from the minus side
    l1_from_plus: str | None
    l2_send: str | None  # level 2 (heads but the root)
    l2_send_sign: str | None
    l2_from_minus: str | None
    l2_from_plus: str | None
    l2_through: str | None  # not a head: the level-2 color crossing this router
    through_sign: str | None
    bc_from: str | None  # not the root: the side the broadcast arrives from ("-"/"+")
    bc_on: tuple  # the sides the broadcast leaves this router toward


def _root_offset(length: int, root: str) -> int:
    """A group's root, from its first member (meshsim.comm.group_root's rule)."""
    if root not in TREE_ROOTS:
        raise ValueError(f"tree root must be one of {TREE_ROOTS}, got {root!r}")
    return (length - 1) // 2 if root == "middle" else 0


def head_position(h: int, p: int, group: int, root: str) -> int:
    """Position of group h's root (head h) on a line of p positions."""
    first = h * group
    return first + _root_offset(min(group, p - first), root)


def line_root(p: int, group: int, root: str) -> int:
    """Where the line's tree leaves its result (roles.csl's rule, in closed form; the tests
    hold it to meshsim.comm.tree_root)."""
    n_heads = -(-p // group)
    return head_position(_root_offset(n_heads, root), p, group, root)


def _color(i: int, r: int, level: str) -> str:
    """Color of chain member i of a chain rooted at r: b just before the root, a just after,
    alternating outward (no router receives and sends on one color; a middle root takes its
    two sides on different colors)."""
    a = (r - i) % 2 == 0 if i < r else (i - r + 1) % 2 == 0
    return f"{level}{'a' if a else 'b'}"


def tree_role(q: int, p: int, group: int, root: str = "edge") -> TreeRole:
    h = q // group
    first, last = h * group, min(h * group + group, p) - 1
    r = head_position(h, p, group, root)
    n_heads = -(-p // group)
    hr = _root_offset(n_heads, root)
    top = line_root(p, group, root)
    seg = h - 1 if q < r and h > 0 else h if q > r and h + 1 < n_heads else None
    through = sign = None
    if seg is not None:  # the level-2 flow between heads seg and seg + 1 crosses q's router
        through, sign = ((_color(seg, hr, "l2"), "+") if seg + 1 <= hr
                         else (_color(seg + 1, hr, "l2"), "-"))
    head = q == r
    bc_on = tuple(s for s, ok in (("-", q <= top and q > 0), ("+", q >= top and q + 1 < p))
                  if ok)
    return TreeRole(
        single=p == 1, is_root=q == top, l1_root=head,
        l1_send=None if head else _color(q, r, "l1"),
        l1_send_sign=None if head else ("+" if q < r else "-"),
        l1_from_minus=_color(q - 1, r, "l1") if first < q <= r else None,
        l1_from_plus=_color(q + 1, r, "l1") if r <= q < last else None,
        l2_send=_color(h, hr, "l2") if head and q != top else None,
        l2_send_sign=("+" if h < hr else "-") if head and q != top else None,
        l2_from_minus=_color(h - 1, hr, "l2") if head and 0 < h <= hr else None,
        l2_from_plus=_color(h + 1, hr, "l2") if head and hr <= h < n_heads - 1 else None,
        l2_through=None if head else through, through_sign=None if head else sign,
        bc_from=None if q == top else ("+" if q < top else "-"), bc_on=bc_on)


def tree_routes(table: RouteTable, axis: str = "y", prefix: str = "",
                root: str = "edge", group: int | None = None) -> None:
    """The line tree's routes (kernels/common/line_tree.csl) for every line along `axis`
    ("y": each column, "x": each row), with edge or middle roots, in groups of `group` (the
    layout's group size; default host.group_size(p, 2), two levels). A group of the whole
    line is one level: a single chain per side, no level-2 flow (Prefill's row tree under
    paper-kernels, its params' gx = P)."""
    p = table.height if axis == "y" else table.width
    lines = table.width if axis == "y" else table.height
    g = group or group_size(p, 2)
    for line in range(lines):
        for q in range(p):
            x, y = (line, q) if axis == "y" else (q, line)
            r = tree_role(q, p, g, root)

            def put(color, rx, tx, x=x, y=y):
                table.set(x, y, prefix + color, rx, tx)

            def d(sign):
                return direction(axis, sign)

            if r.l1_send is not None:
                put(r.l1_send, {RAMP}, {d(r.l1_send_sign)})
            if r.l1_from_minus is not None:
                put(r.l1_from_minus, {d("-")}, {RAMP})
            if r.l1_from_plus is not None:
                put(r.l1_from_plus, {d("+")}, {RAMP})
            if r.l2_send is not None:
                put(r.l2_send, {RAMP}, {d(r.l2_send_sign)})
            if r.l2_from_minus is not None:
                put(r.l2_from_minus, {d("-")}, {RAMP})
            if r.l2_from_plus is not None:
                put(r.l2_from_plus, {d("+")}, {RAMP})
            if r.l2_through is not None:
                back = "-" if r.through_sign == "+" else "+"
                put(r.l2_through, {d(back)}, {d(r.through_sign)})
            if not r.single:
                rx = RAMP if r.is_root else d(r.bc_from)
                own = set() if r.is_root else {RAMP}  # the root sends, the others take it
                put("bcast", {rx}, {d(s) for s in r.bc_on} | own)


# ------------------------------------------------------------ neighbour shift (decode KV)
def neighbour_role(py: int, height: int) -> tuple[bool, bool, str, str]:
    """(can_send, can_recv, send color, receive color) of row py in the KV shift
    (kernels/common/neighbour_shift.csl): colors alternate by row."""
    send = "kva" if py % 2 == 0 else "kvb"
    recv = "kvb" if py % 2 == 0 else "kva"
    return py + 1 < height, py > 0, send, recv


def neighbour_routes(table: RouteTable) -> None:
    for x in range(table.width):
        for y in range(table.height):
            can_send, can_recv, send, recv = neighbour_role(y, table.height)
            if can_send:
                table.set(x, y, send, {RAMP}, {"SOUTH"})
            if can_recv:
                table.set(x, y, recv, {"NORTH"}, {RAMP})


# ----------------------------------------------------------------------- timestamp sync wave
def sync_role(px: int, py: int, width: int, height: int) -> tuple[set, set]:
    """(rx, tx) of the sync color (kernels/common/sync_timer.csl): from PE (0,0) east along
    row 0 and south down every column, so it reaches (x, y) after x + y hops."""
    tx = set()
    if py == 0 and px + 1 < width:
        tx.add("EAST")
    if py + 1 < height:
        tx.add("SOUTH")
    if px == 0 and py == 0:
        return {RAMP}, tx
    return {"WEST" if py == 0 else "NORTH"}, tx | {RAMP}


def sync_routes(table: RouteTable) -> None:
    if table.width * table.height == 1:
        return
    for x in range(table.width):
        for y in range(table.height):
            rx, tx = sync_role(x, y, table.width, table.height)
            table.set(x, y, "sync", rx, tx)

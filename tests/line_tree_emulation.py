"""kernels/common/line_tree.csl's all_reduce, emulated on the traced routes (waferrepro.sdk
.routes): one emulator for the tests that run a program's trees (MeshGEMV's columns in
test_csl_route_emulation.py, Decode's columns and rows in test_decode_csl_emulation.py,
Prefill's rows in test_prefill_csl_emulation.py)."""

import numpy as np

from waferrepro.host import group_size
from waferrepro.sdk import routes as cr


def line_all_reduce(vec, table, axis: str, root: str, combine, wire, prefix: str = "",
                    drop: str | None = None, lines=None, group: int | None = None):
    """all_reduce on every line along `axis` ("y": each column, "x": each row) of
    vec[y, x, ...] (core (x, y)'s vector), on the routes `table` holds for the tree form
    `root` ("edge" or "middle") under color `prefix`: each chain member, from the chain's far
    end inward, sends its vector combined with what arrived (`relay`); a root combines what
    arrives from each side, one side after the other (`absorb`); the line's root broadcasts.
    `combine(a, b)`: one @faddh / @fadds / max, rounded as the program holds values;
    `wire(v)`: one vector onto the fabric and off it again. `drop` ("-" or "+"): a mutated
    root that, given two sides, ignores that side's stream. `lines`: the lines that run their
    tree (default all; Decode's rows reduce vectors of their own lengths, one call each): the
    others send and receive nothing, and only the running lines' results are meaningful.
    `group`: the layout's group size, as routes.tree_routes took it (default two levels;
    the whole line: one level, Prefill's row tree under paper-kernels). Returns the new vec."""
    p = table.height if axis == "y" else table.width
    n_lines = table.width if axis == "y" else table.height
    lines = range(n_lines) if lines is None else list(lines)
    g = group or group_size(p, 2)
    roles = [cr.tree_role(q, p, g, root) for q in range(p)]
    top = cr.line_root(p, g, root)
    v = (vec if axis == "y" else np.swapaxes(vec, 0, 1)).copy()  # [position, line, ...]

    def core(q, line):  # (x, y) of position q on a line
        return (line, q) if axis == "y" else (q, line)

    def position(x, y):
        return y if axis == "y" else x

    for level in ("l1", "l2"):
        members = [q for q in range(p) if level == "l1" or roles[q].l1_root]

        def chain_root(q, level=level):
            return cr.head_position(q // g, p, g, root) if level == "l1" else top

        incoming = {}  # (position, side it arrives from) -> the stream, per line
        for q in sorted(members, key=lambda q: abs(q - chain_root(q)), reverse=True):
            role = roles[q]
            reads = {s: getattr(role, f"{level}_from_{name}")
                     for s, name in (("-", "minus"), ("+", "plus"))}
            # the program reads exactly the sides that stream in
            assert {s for s in "-+" if (q, s) in incoming} == {s for s in "-+" if reads[s]}
            streams = {s: incoming.pop((q, s)) for s in "-+" if reads[s]}
            send = role.l1_send if level == "l1" else role.l2_send
            out = v[q]  # the far end: its own vector alone; relays and roots add what arrived
            for side, stream in streams.items():
                if not (send is None and drop == side and len(streams) == 2):
                    out = combine(out, stream)
            if send is None:  # the chain's root keeps the combination
                v[q] = out
                continue
            for line in lines:
                dx, dy = cr.deliver(table, *core(q, line), prefix + send)
                dq = position(dx, dy)
                side = "-" if dq > q else "+"
                assert core(dq, line) == (dx, dy)
                assert getattr(roles[dq], f"{level}_from_"
                                           f"{'minus' if side == '-' else 'plus'}") == send
                incoming.setdefault((dq, side), np.zeros_like(v[0]))[line] = wire(out[line])
        assert not incoming  # every stream was read
    if p > 1:
        for line in lines:
            got = cr.trace(table, *core(top, line), prefix + "bcast")
            assert set(got) == {core(q, line) for q in range(p) if q != top}
            for dest in got:
                v[position(*dest), line] = wire(v[top, line])
    return v if axis == "y" else np.swapaxes(v, 0, 1)

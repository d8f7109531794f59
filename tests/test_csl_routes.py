"""The CSL kernels' static routes, checked router by router without an SDK: every flow
reaches exactly the core the algorithm needs (traced through each router's color
configuration), nothing leaves the rectangle, no router gets one color twice, and the
kernels' color, task and queue ids stay clear of each other and of memcpy's."""

import re
from pathlib import Path

import pytest

from waferrepro.host import group_size, logical_index, ring_order
from waferrepro.sdk import routes as cr

KERNELS = Path(__file__).resolve().parents[1] / "kernels"


@pytest.mark.parametrize("p", range(1, 41))
def test_closed_form_ring_order_matches_host(p):
    order = ring_order(p, interleaved=True)
    lidx = logical_index(order)
    assert [cr.ring_index(q, p) for q in range(p)] == list(lidx)
    assert [cr.ring_position(i, p) for i in range(p)] == list(order)


@pytest.mark.parametrize("axis", ["x", "y"])
@pytest.mark.parametrize("p", range(1, 41))
def test_ring_shift_routes_deliver_every_tile_to_its_ring_predecessor(p, axis):
    lines = 3
    table = cr.RouteTable(p, lines) if axis == "x" else cr.RouteTable(lines, p)
    cr.ring_routes(table, axis, "ring")
    order = ring_order(p, interleaved=True)
    lidx = logical_index(order)
    for line in range(lines):
        for q in range(p):
            role = cr.ring_role(q, p)
            if p == 1:
                assert role is None
                continue
            x, y = (q, line) if axis == "x" else (line, q)
            got = cr.trace(table, x, y, f"ring{role.send_color}")
            dest = int(order[(lidx[q] - 1) % p])
            assert set(got) == {(dest, line) if axis == "x" else (line, dest)}
            assert max(got.values()) <= 2  # the point of interleaving
    assert len(table.colors()) == (0 if p == 1 else 2 if p == 2 else 4 if p > 3 else 3)


def test_ring_needs_its_alternating_colors():
    # The same rules with one color per direction: a router would both receive and send on it.
    table = cr.RouteTable(6, 1)
    with pytest.raises(cr.RouteConflict, match="configured twice"):
        for q in range(6):
            role = cr.ring_role(q, 6)
            table.set(q, 0, f"c{role.send_sign}", {cr.RAMP}, {cr.direction("x", role.send_sign)})
            table.set(q, 0, f"c{role.recv_sign}", {cr.direction("x", role.recv_sign)}, {cr.RAMP})


def test_trace_rejects_routes_that_leave_the_rectangle_or_are_not_accepted():
    table = cr.RouteTable(2, 1)
    table.set(1, 0, "c", {cr.RAMP}, {"EAST"})
    with pytest.raises(cr.RouteConflict, match="leaves the rectangle"):
        cr.trace(table, 1, 0, "c")
    table.set(0, 0, "d", {cr.RAMP}, {"EAST"})
    table.set(1, 0, "d", {"EAST"}, {cr.RAMP})  # expects it from the wrong side
    with pytest.raises(cr.RouteConflict, match="does not accept"):
        cr.trace(table, 0, 0, "d")


@pytest.mark.parametrize("axis", ["y", "x"])
@pytest.mark.parametrize("p", list(range(1, 41)) + [97, 720])
def test_line_tree_routes_follow_the_two_level_tree(p, axis):
    table = cr.RouteTable(2, p) if axis == "y" else cr.RouteTable(p, 2)
    cr.tree_routes(table, axis)
    g = group_size(p, 2)

    def at(q, line=1):
        return (line, q) if axis == "y" else (q, line)

    for q in range(p):
        role = cr.tree_role(q, p, g)
        if not role.is_head:  # level 1: to the previous position, inside the group
            assert cr.trace(table, *at(q), role.l1_send) == {at(q - 1): 1}
        elif q != 0:  # level 2: to the previous head, g positions back, through those between
            assert cr.trace(table, *at(q), role.l2_send) == {at(q - g): g}
    if p > 1:
        got = cr.trace(table, *at(0, 0), "bcast")
        assert got == {at(q, 0): q for q in range(1, p)}
    assert len(table.colors()) <= 5


@pytest.mark.parametrize("h", [2, 3, 4, 7, 30])
def test_kv_neighbour_shift_reaches_the_row_below(h):
    table = cr.RouteTable(3, h)
    cr.neighbour_routes(table)
    for y in range(h - 1):
        _, _, send, _ = cr.neighbour_role(y, h)
        assert cr.trace(table, 2, y, send) == {(2, y + 1): 1}
    assert len(table.colors()) == (1 if h == 2 else 2)


@pytest.mark.parametrize("w,h", [(1, 1), (1, 5), (5, 1), (4, 3), (13, 9)])
def test_sync_wave_reaches_every_core_after_x_plus_y_hops(w, h):
    table = cr.RouteTable(w, h)
    cr.sync_routes(table)
    if w * h == 1:
        assert not table.colors()
        return
    got = cr.trace(table, 0, 0, "sync")
    assert got == {(x, y): x + y for x in range(w) for y in range(h) if (x, y) != (0, 0)}


def test_whole_kernels_fit_the_color_budget_without_conflicts():
    gemm = cr.RouteTable(12, 12)
    cr.ring_routes(gemm, "x", "A")
    cr.ring_routes(gemm, "y", "B")
    cr.sync_routes(gemm)
    assert len(gemm.colors()) == 9
    gemv = cr.RouteTable(7, 30)
    cr.tree_routes(gemv)
    cr.sync_routes(gemv)
    assert len(gemv.colors()) == 6
    decode = cr.RouteTable(9, 14)  # column tree, row tree, KV shift, sync
    cr.tree_routes(decode, "y", "y.")
    cr.tree_routes(decode, "x", "x.")
    cr.neighbour_routes(decode)
    cr.sync_routes(decode)
    assert len(decode.colors()) == 13
    prefill = cr.RouteTable(11, 11)  # rings along x and y, row tree, sync
    cr.ring_routes(prefill, "x", "X")
    cr.ring_routes(prefill, "y", "Y")
    cr.tree_routes(prefill, "x", "t.")
    cr.sync_routes(prefill)
    assert len(prefill.colors()) == 14


def _ids(pattern, text):
    return [int(n) for n in re.findall(pattern, text)]


@pytest.mark.parametrize("module", ["MeshGEMV", "MeshGEMM", "Prefill", "Decode"])
def test_csl_ids_stay_clear_of_each_other_and_of_memcpy(module):
    # WSE-2 shares one id space between colors and local tasks; memcpy reserves colors
    # 21-23 and queues 0 and 1 (SDK docs and examples).
    text = "\n".join(p.read_text() for p in (KERNELS / module).glob("*.csl"))
    colors = _ids(r"@get_color\((\d+)\)", text)
    tasks = _ids(r"@get_local_task_id\((\d+)\)", text)
    assert len(set(colors)) == len(colors) and max(colors) < 21
    assert len(set(tasks)) == len(tasks) and not set(tasks) & set(colors)
    # Local tasks below memcpy's ids, or in 24..30: ids above the 24 routable colors, which
    # the official examples (benchmarks/histogram-torus, 25-pt-stencil: 24..26) and the
    # authors' MeshGEMM/WSE-2 (next_step_id 24) use for local tasks.
    assert all(t < 21 or 24 <= t <= 30 for t in tasks)
    # WSE-2 has output queues 0..5 and input queues 0..7 (SDK docs, "Fabric Queues").
    outs, ins = _ids(r"\.out_queue = (\d+)", text), _ids(r"\.in_queue = (\d+)", text)
    for group in re.findall(r"\]i16\{([^}]*)\}", text):  # tree queue arrays: out, in, ...
        ids = [int(q) for q in group.split(",")]
        outs, ins = outs + ids[0::2], ins + ids[1::2]
    assert outs and min(outs) >= 2 and max(outs) <= 5
    assert ins and min(ins) >= 2 and max(ins) <= 7
    # The shifts (ring, neighbour: ".out_queue = a, .in_queue = b") send and receive at once,
    # and a GEMM runs two rings at once: on WSE-2 an operation's microthread is its queue's
    # id, so all of those ids must differ.
    shifts = [int(q) for pair in re.findall(r"\.out_queue = (\d+), \.in_queue = (\d+)", text)
              for q in pair]
    assert len(set(shifts)) == len(shifts), f"{module}: concurrent transfers share a queue id"


def test_every_kernel_names_its_simulator_twin():
    for layout in KERNELS.glob("*/layout.csl"):
        assert "Simulator twin: waferrepro.meshsim." in layout.read_text(), layout
    for lib in (KERNELS / "common").glob("*.csl"):
        assert "twin" in lib.read_text(), lib


def _xy_flow_routes(src, dst, colors):
    """(PE, color, rx, tx) of dimension-order (X then Y) routes for one flow on two colors:
    `colors[0]` along the row, `colors[1]` down the column (the two an earlier meshsim
    prefill reserved for its grid transposes). The turn takes the X color in and hands the flow
    to the Y color."""
    (x, y), (tx, ty) = src, dst
    hops, rx = [], cr.RAMP
    for axis, color, fixed, a, b in (("x", colors[0], y, x, tx), ("y", colors[1], tx, y, ty)):
        if a == b:
            continue
        sign = "+" if b > a else "-"
        for pos in range(a, b, 1 if sign == "+" else -1):
            pe = (pos, fixed) if axis == "x" else (fixed, pos)
            hops.append((pe, color, rx, cr.direction(axis, sign)))
            rx = cr.direction(axis, "-" if sign == "+" else "+")
        if axis == "x":
            hops.append(((tx, y), color, rx, "turn" if ty != y else cr.RAMP))
            rx = cr.RAMP
    if ty != y:
        hops.append(((tx, ty), colors[1], rx, cr.RAMP))
    return hops


def test_grid_transpose_needs_more_than_two_static_colors():
    # Why meshsim's prefill moves K|V by shears (ring shifts) and no longer by a grid
    # transpose on two colors (X then Y): with static routes every router on a row would need
    # one color to accept its own tile and its neighbours' at once and to both pass and turn
    # them. Any 3x3 transpose already gives a router two configurations for one color.
    table = cr.RouteTable(3, 3)
    with pytest.raises(cr.RouteConflict, match="configured twice"):
        for r in range(3):
            for c in range(3):
                if r == c:
                    continue
                for (pe, color, rx, tx) in _xy_flow_routes((c, r), (r, c), ("X", "Y")):
                    table.set(*pe, color, {rx}, {tx})

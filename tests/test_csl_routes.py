"""The CSL kernels' static routes, checked router by router without an SDK: every flow
reaches exactly the core the algorithm needs (traced through each router's color
configuration), nothing leaves the rectangle, no router gets one color twice, and the
kernels' color, task and queue ids stay clear of each other and of memcpy's."""

import re
from pathlib import Path

import pytest

from waferrepro.host import group_size, logical_index, ring_order
from waferrepro.meshsim.comm import group_root, tree_plan, tree_root
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


LINE_LENGTHS = list(range(1, 41)) + [97, 720]


@pytest.mark.parametrize("root", cr.TREE_ROOTS)
@pytest.mark.parametrize("p", LINE_LENGTHS)
def test_tree_roots_are_where_meshsim_puts_them(p, root):
    # roles.csl's closed form (routes.head_position / line_root) against meshsim's plan.
    g = group_size(p, 2)
    plan = tree_plan(p, 2, root)
    heads = [cr.head_position(h, p, g, root) for h in range(-(-p // g))]
    if p > 1:
        assert [group_root(grp, root) for grp in plan[0]] == heads
    assert cr.line_root(p, g, root) == tree_root(p, 2, root)
    roles = [cr.tree_role(q, p, g, root) for q in range(p)]
    assert [q for q, r in enumerate(roles) if r.l1_root] == heads
    assert [q for q, r in enumerate(roles) if r.is_root] == [tree_root(p, 2, root)]


@pytest.mark.parametrize("root", cr.TREE_ROOTS)
@pytest.mark.parametrize("axis", ["y", "x"])
@pytest.mark.parametrize("p", LINE_LENGTHS)
def test_line_tree_routes_follow_the_two_level_tree(p, axis, root):
    table = cr.RouteTable(2, p) if axis == "y" else cr.RouteTable(p, 2)
    cr.tree_routes(table, axis, root=root)
    g = group_size(p, 2)
    top = tree_root(p, 2, root)
    roles = [cr.tree_role(q, p, g, root) for q in range(p)]
    heads = [q for q in range(p) if roles[q].l1_root]

    def at(q, line=1):
        return (line, q) if axis == "y" else (q, line)

    def pos(pe):
        return pe[1] if axis == "y" else pe[0]

    def reads(dest, sender, level):  # the color dest's program reads from sender's side
        r = roles[dest]
        side = "from_minus" if sender < dest else "from_plus"
        return getattr(r, f"{level}_{side}")

    for q, role in enumerate(roles):
        group_head = heads[q // g]
        if not role.l1_root:  # level 1: one hop toward its group's root, inside the group
            got = cr.trace(table, *at(q), role.l1_send)
            step = 1 if q < group_head else -1
            assert got == {at(q + step): 1}
            assert reads(q + step, q, "l1") == role.l1_send
        elif not role.is_root:  # level 2: to the next head toward the line's root
            h = heads.index(q)
            nxt = heads[h + 1] if q < top else heads[h - 1]
            assert cr.trace(table, *at(q), role.l2_send) == {at(nxt): abs(nxt - q)}
            assert reads(nxt, q, "l2") == role.l2_send
        # every stream a core reads has a sender: its neighbour (l1) or the next head (l2)
        for level, senders in (("l1", range(p)), ("l2", heads)):
            for side, other in (("from_minus", -1), ("from_plus", 1)):
                if getattr(role, f"{level}_{side}") is None:
                    continue
                src = (q + other if level == "l1"
                       else heads[heads.index(q) + other])
                send = roles[src].l1_send if level == "l1" else roles[src].l2_send
                assert src in senders and send == getattr(role, f"{level}_{side}")
    if p > 1:
        got = cr.trace(table, *at(top, 0), "bcast")
        assert got == {at(q, 0): abs(q - top) for q in range(p) if q != top}
    # 2 colors per level and one broadcast (5), counted per kernel below
    assert len(table.colors()) <= 5


@pytest.mark.parametrize("root", cr.TREE_ROOTS)
@pytest.mark.parametrize("p", LINE_LENGTHS)
def test_a_group_of_the_whole_line_is_one_chain_per_side(p, root):
    # Prefill's row tree under paper-kernels: layout.csl's gx = P (sdk.inputs.prefill_params)
    # makes one group, one level: every core sends one hop toward the root (the line's
    # middle for "middle", where meshsim's one-level tree_root puts it), no level-2 flow,
    # and the root broadcasts both ways; three colors (l1a, l1b, bcast).
    table = cr.RouteTable(p, 2)
    cr.tree_routes(table, "x", root=root, group=p)
    top = tree_root(p, 1, root)
    assert cr.line_root(p, p, root) == top
    roles = [cr.tree_role(q, p, p, root) for q in range(p)]
    assert [q for q, r in enumerate(roles) if r.l1_root or r.is_root] == [top]
    assert all(r.l2_send is r.l2_from_minus is r.l2_from_plus is r.l2_through is None
               for r in roles)
    for q, role in enumerate(roles):
        if q != top:
            step = 1 if q < top else -1
            assert cr.trace(table, q, 1, role.l1_send) == {(q + step, 1): 1}
    if p > 1:
        assert cr.trace(table, top, 0, "bcast") == {(q, 0): abs(q - top)
                                                    for q in range(p) if q != top}
    two_sided = roles[top].l1_from_minus is not None and roles[top].l1_from_plus is not None
    assert two_sided == (root == "middle" and p >= 3)
    assert len(table.colors()) == min(3, 2 * (p > 1) + (p > 2))


def test_a_middle_root_needs_its_two_sides_on_different_colors():
    # Both neighbours of a middle root sending on one color: the root's router would get that
    # color twice (once from each side), and one input queue could not tell the streams apart.
    table = cr.RouteTable(1, 5)
    roles = [cr.tree_role(q, 5, 5, "middle") for q in range(5)]
    with pytest.raises(cr.RouteConflict, match="configured twice"):
        for q, r in enumerate(roles):
            if r.l1_from_minus:
                table.set(0, q, "l1a", {"NORTH"}, {cr.RAMP})
            if r.l1_from_plus:
                table.set(0, q, "l1a", {"SOUTH"}, {cr.RAMP})


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
    for root in cr.TREE_ROOTS:  # MeshGEMV in either form: 5 tree colors + sync
        gemv = cr.RouteTable(7, 30)
        cr.tree_routes(gemv, root=root)
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
    # tree queue arrays (line_tree.csl): l1 out, l1 in -, l2 out, l2 in -, bcast out,
    # bcast in, l1 in +, l2 in +
    for group in re.findall(r"\[8\]i16\{([^}]*)\}", text):
        ids = [int(q) for q in group.split(",")]
        outs, ins = outs + ids[0:6:2], ins + ids[1:6:2] + ids[6:]
    if "init_queues = true" in text:  # WSE-3 binds each queue to one color: all distinct
        assert len(set(outs)) == len(outs) and len(set(ins)) == len(ins)
    assert outs and min(outs) >= 2 and max(outs) <= 5
    assert ins and min(ins) >= 2 and max(ins) <= 7
    # The shifts (ring, neighbour: ".out_queue = a, .in_queue = b") send and receive at once,
    # and a GEMM runs two rings at once: on WSE-2 an operation's microthread is its queue's
    # id, so all of those ids must differ.
    shifts = [int(q) for pair in re.findall(r"\.out_queue = (\d+), \.in_queue = (\d+)", text)
              for q in pair]
    assert len(set(shifts)) == len(shifts), f"{module}: concurrent transfers share a queue id"


def test_decode_middle_roots_read_their_second_side_on_a_free_input_queue():
    # Decode compiles either root form (layout.csl's tree_middle into both tree_role calls).
    # Each tree shares one queue for its edge-form reads; a middle root's "+" side streams in
    # while its "-" side is being added, so it needs another input queue: one per tree, clear
    # of the other tree's, the KV shift's and the sync's inputs and of memcpy's 0 and 1.
    layout = (KERNELS / "Decode" / "layout.csl").read_text()
    assert len(re.findall(r"roles\.tree_role\(\w+, \w+, \w+, tree_middle == 1\)", layout)) == 2
    text = (KERNELS / "Decode" / "pe_program.csl").read_text()
    trees = [[int(q) for q in g.split(",")] for g in re.findall(r"\[8\]i16\{([^}]*)\}", text)]
    assert len(trees) == 2
    plus = []
    for ids in trees:
        assert len(set(ids[:6])) == 1 and ids[6] == ids[7] != ids[0]
        plus.append(ids[6])
    others = [ids[0] for ids in trees] + _ids(r"\.in_queue = (\d+)", text)
    assert len(set(plus)) == 2 and not set(plus) & set(others)
    assert all(2 <= q <= 7 for q in plus)  # WSE-2 input queues 0..7, memcpy's 0 and 1


def test_prefill_middle_root_reads_its_minus_side_on_a_free_input_queue():
    # Prefill compiles either row tree (layout.csl: gx and tree_middle from prefill_params).
    # The edge form reads only from "+" (the tree's shared queue, 4, as before); a middle
    # root adds its "-" side while its "+" side streams in, so the "-" reads (queues[1], [3])
    # take another input queue, clear of the rings', the sync's and memcpy's inputs.
    layout = (KERNELS / "Prefill" / "layout.csl").read_text()
    assert re.search(r"roles\.tree_role\(px, P, gx, tree_middle == 1\)", layout)
    text = (KERNELS / "Prefill" / "pe_program.csl").read_text()
    (tree,) = [[int(q) for q in g.split(",")] for g in re.findall(r"\[8\]i16\{([^}]*)\}", text)]
    shared, minus = tree[0], tree[1]
    assert tree[1] == tree[3] != shared and {tree[i] for i in (0, 2, 4, 5, 6, 7)} == {shared}
    others = _ids(r"\.in_queue = (\d+)", text)
    assert minus not in others and 2 <= minus <= 7  # WSE-2 input queues 0..7, memcpy 0, 1


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

"""MeshGEMM's and MeshGEMV's CSL programs emulated on their own routes: every transfer goes
where the router configurations of kernels/common/roles.csl send it (traced by
waferrepro.sdk.routes), and each core does what its program does with it (ring_shift.csl's
double buffers, line_tree.csl's chain steps and broadcast). The result must be A @ B and
x @ W. Without an SDK this ties the routing rules and the programs' buffer logic together;
the CSL spelling still needs a compiler."""

import numpy as np
import pytest

from waferrepro.host import group_size, pack_cannon, pad2d, to_tiles, unpack_cannon
from waferrepro.meshsim import make_inputs
from waferrepro.sdk import routes as cr


@pytest.mark.parametrize("p", [1, 2, 3, 4, 5, 6, 7])
def test_meshgemm_program_on_its_routes_computes_the_product(p):
    a, b = make_inputs((4 * p + 1, 3 * p, 2 * p + 3), seed=p)
    a_tiles, b_tiles = (t.astype(np.float64) for t in pack_cannon(a, b, p, interleaved=True))
    table = cr.RouteTable(p, p)
    cr.ring_routes(table, "x", "A")
    cr.ring_routes(table, "y", "B")
    c = np.zeros(a_tiles.shape[:3] + (b_tiles.shape[3],))
    cur_a, cur_b = a_tiles, b_tiles
    for step in range(p):  # begin_step
        c += cur_a @ cur_b  # local_mac
        if step == p - 1:
            break
        # both shifts on their traced routes; arrive(): swap the buffers
        cur_a = cr.ring_transfer(table, cur_a, "x", "A")
        cur_b = cr.ring_transfer(table, cur_b, "y", "B")
    out = unpack_cannon(c, a.shape[0], b.shape[1], interleaved=True)
    np.testing.assert_allclose(out, a.astype(np.float64) @ b, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("w,h", [(1, 1), (3, 1), (2, 5), (4, 9), (3, 17)])
def test_meshgemv_program_on_its_routes_computes_the_column_sums(w, h):
    k, n = 7 * h + 2, 5 * w + 1
    x, wm = make_inputs((1, k, n), seed=h)
    kt = -(-k // h)
    partial = np.einsum("ik,ijkn->ijn", pad2d(x.astype(np.float64), 1, kt * h).reshape(h, kt),
                        to_tiles(wm.astype(np.float64), h, w))  # local_gemv on each core
    table = cr.RouteTable(w, h)
    cr.tree_routes(table, "y")
    g = group_size(h, 2)
    vec = partial.copy()
    for level in ("l1", "l2"):
        incoming = np.zeros_like(vec)  # what each core's input queue streams in at this level
        # Chains stream toward their root: emulate each from its far end.
        for y in range(h - 1, -1, -1):
            role = cr.tree_role(y, h, g)
            if level == "l2" and not role.is_head:
                continue  # rows between heads only pass level 2 through their routers
            first, last = ((role.is_head, role.last_in_group) if level == "l1"
                           else (role.is_top, role.is_last_head))
            if first:
                if not last:
                    vec[y] += incoming[y]  # the root adds the incoming stream into its own
                continue
            send = role.l1_send if level == "l1" else role.l2_send
            for x in range(w):
                dest = cr.deliver(table, x, y, send)
                dr = cr.tree_role(dest[1], h, g)
                assert (dr.l1_recv if level == "l1" else dr.l2_recv) == send
                # the last sends its vector; a middle one its vector plus the incoming stream
                incoming[dest[1], x] = vec[y, x] + (0 if last else incoming[y, x])
    if h > 1:
        for x in range(w):
            for dest in cr.trace(table, x, 0, "bcast"):
                vec[dest[1], dest[0]] = vec[0, x]
    expected = partial.sum(axis=0)
    np.testing.assert_allclose(vec, np.broadcast_to(expected, vec.shape), rtol=1e-12)

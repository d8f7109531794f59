"""GEMV kernels on the mesh: y[1,N] = x[1,K] @ W[K,N].

Layout (both kernels): core (i, j) of a py x px grid holds weight tile W(i, j) of
ceil(K/py) x ceil(N/px) and the slice x(i) of the input. Each core computes its partial
y(i, j) = x(i) @ W(i, j); the partials of a column are then summed and the sum sent back to
every core of the column, so that y(j) is ready on the whole column for the next layer.

- MeshGEMV (the paper's section 5): the column sum is a two-level (K=2) tree all-reduce.
- chain-GEMV (the pattern of Cerebras's own GEMV example): the column sum is one chain.
`tree_root` places each group's root at its first core ("edge") or in its middle ("middle",
both sides reducing towards it, as the authors' public MeshGEMV does); the broadcast starts
from the column's root. MeshGEMV's `group_num` (None: our tree's groups) takes the authors'
WSE-3 tree instead: group_num groups of py // group_num cores and their roots
(comm.authors_tree_plan).
"""

from __future__ import annotations

import math

import numpy as np

from ..hardware import Hardware
from ..host import from_tiles, pad2d, to_tiles
from .comm import authors_tree_root, broadcast, group_num_problem, route_switch, tree_reduce
from .comm import tree_root as root_of
from .fabric import MESHGEMV_DESCRIPTOR_OPS, Fabric, PlanError
from .precision import mac
from .result import KernelRun


def run_gemv(hw: Hardware, shape, px: int, py: int, inputs=None, *, tree_levels: int,
             system: str, tree_root: str = "edge", group_num: int | None = None) -> KernelRun:
    m, k, n = shape
    if m != 1:
        raise PlanError(f"{system} is a GEMV: M must be 1, got shape {m}x{k}x{n}")
    if group_num is not None and tree_levels != 2:
        raise PlanError(f"group_num: {group_num!r} is not allowed for {system}: the authors' "
                        "group_num sets a two-level tree's groups")
    why = group_num_problem(group_num, py, system)  # the reduce runs along a column of py
    if why:
        raise PlanError(f"group_num: {why}")
    fab = Fabric(hw, px, py, functional=inputs is not None)
    kt, nt = math.ceil(k / py), math.ceil(n / px)
    fab.alloc("weights", kt * nt)
    fab.alloc("x", kt)
    fab.alloc("partial_y", nt, hw.acc_bits // 8)
    fab.alloc("recv", nt, hw.acc_bits // 8)

    partial = None
    if inputs is not None:
        x, w = inputs
        w_tiles = to_tiles(w.astype(np.float32), py, px)                  # (py, px, kt, nt)
        x_tiles = pad2d(x.astype(np.float32), 1, kt * py).reshape(py, kt)  # row i holds x(i)
        partial = np.zeros((py, px, 1, nt), dtype=np.float32)
        mac(hw, partial, np.broadcast_to(x_tiles[:, None, None, :], (py, px, 1, kt)), w_tiles)
        partial = partial[:, :, 0]
    local = (fab.authors_gemv(kt, nt, setup_ops=MESHGEMV_DESCRIPTOR_OPS, loop_ops=None)
             if hw.authors_loops else fab.matmul_cycles(1, kt, nt))
    fab.timeline.add("local GEMV", compute=local)

    partial, cycles, levels = tree_reduce(fab, partial, "y", nt, tree_levels, root=tree_root,
                                          group_num=group_num)
    fab.use_colors("reduce (2 per level)", 2 * levels)
    fab.timeline.add(f"{levels}-level reduce", comm=cycles)

    root = (root_of(py, tree_levels, tree_root) if group_num is None
            else authors_tree_root(py, group_num))
    partial, cycles = broadcast(fab, partial, "y", root, nt, bits=hw.acc_bits)
    fab.use_colors("broadcast", 1)
    fab.timeline.add("broadcast", comm=route_switch(fab, "y") + cycles)

    output = None
    if partial is not None:
        # Read y from the row farthest from the reduction root: it is right only if the
        # broadcast really reached the whole column.
        far = py - 1 if root < py / 2 else 0
        output = from_tiles(partial[far][None, :, None, :], 1, n)
    params = {"tree_levels": tree_levels, "tree_root": tree_root, "accumulate": hw.accumulate}
    if group_num is not None:  # the authors' tree replaced tree_root's
        per = py // group_num
        params.update(tree_root="authors (group_num)", group_num=group_num, pe_num_group=per,
                      root_1st_phase=per // 2, root_2nd_phase=root)
    return KernelRun(system, (m, k, n), px, py, useful_flops=2.0 * k * n, fabric=fab,
                     output=output, params=params)

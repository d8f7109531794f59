"""GEMV kernels on the mesh: y[1,N] = x[1,K] @ W[K,N].

Layout (both kernels): core (i, j) of a py x px grid holds weight tile W(i, j) of
ceil(K/py) x ceil(N/px) and the slice x(i) of the input. Each core computes its partial
y(i, j) = x(i) @ W(i, j); the partials of a column are then summed and the sum sent back to
every core of the column, so that y(j) is ready on the whole column for the next layer.

- MeshGEMV (the paper's section 5): the column sum is a two-level (K=2) tree all-reduce.
- chain-GEMV (the pattern of Cerebras's own GEMV example): the column sum is one chain.
`tree_root` places each group's root at its first core ("edge") or in its middle ("middle",
both sides reducing towards it; "authors": as the authors' MeshGEMV places them, with their
group_num); the broadcast starts from the column's root.
"""

from __future__ import annotations

import math

import numpy as np

from ..hardware import Hardware
from ..host import from_tiles, pad2d, to_tiles
from .comm import broadcast, check_group_num, route_switch, tree_plan, tree_reduce
from .comm import tree_root as root_of
from .fabric import MESHGEMV_DESCRIPTOR_OPS, Fabric, PlanError
from .precision import mac
from .result import KernelRun

# The authors' MeshGEMV program around its local GEMV and its messages, on the farthest core's
# loop (MeshGEMV/WSE-3 src/meshgemv.csl and comm_lib/comm_pe.csl at 7122d0f, "MV3" in
# waferrepro.ledger; the WSE-2 program is the same but for its simd_mode and queues): plain
# scalar ops counted as in gemm.py (assignments, compares with their branch, updates, calls).
MV_ENTRY_PLAIN = 4      # meshgemv_entry :98-108 two compares, `repeat_times += 1`, the call
MV_REDUCE_PLAIN = 9     # two_tree_allreduce_y's branches :190-238 on the loop (first core's two,
#                         the group root's three, the second root's one) and its call :77
MV_RETURN_PLAIN = 1     # mv_compute :78 the call back to meshgemv_entry
MV_REDUCE_DESCRIPTORS = 2  # :186-187 set_dsd_base_addr, load_to_dsr


def run_gemv(hw: Hardware, shape, px: int, py: int, inputs=None, *, tree_levels: int,
             system: str, tree_root: str = "edge", group_num: int | None = None) -> KernelRun:
    """`group_num` (two levels): the authors' group count, pe_num_group = py // group_num
    cores per first-level group (comm.tree_plan); None: tree_plan's default for the root
    form (the authors': the divisor of py nearest sqrt(py)).

    Under the authors' loop form the cycles are one run of the authors' benchmark loop as
    its launcher times it (repeats back to back, the mean over cores of cycles per run): the
    farthest core's round trip, its local GEMV, its stream up the two levels of chains into
    the second root and the broadcast back, each core waiting only on its messages."""
    m, k, n = shape
    if m != 1:
        raise PlanError(f"{system} is a GEMV: M must be 1, got shape {m}x{k}x{n}")
    check_group_num(py, group_num, system)  # the reduce runs along a column of py cores
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
    if hw.authors_loops:
        # meshgemv_entry zeroes the result (@fmovh) and mv_compute runs the @map (:69-75)
        local = (fab.scalar_ops(MV_ENTRY_PLAIN + MV_REDUCE_PLAIN + MV_RETURN_PLAIN)
                 + fab.vector_op("fmovh", nt, cause="elementwise")
                 + fab.authors_gemv(kt, nt, setup_ops=MESHGEMV_DESCRIPTOR_OPS, loop_ops=None)
                 + fab.descriptor_ops(MV_REDUCE_DESCRIPTORS))
    else:
        local = fab.matmul_cycles(1, kt, nt)
    fab.timeline.add("local GEMV", compute=local)

    partial, cycles, levels = tree_reduce(fab, partial, "y", nt, tree_levels, root=tree_root,
                                          group_num=group_num)
    fab.use_colors("reduce (2 per level)", 2 * levels)
    fab.timeline.add(f"{levels}-level reduce", comm=cycles)

    root = root_of(py, tree_levels, tree_root, group_num)
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
    if tree_levels == 2 and tree_root == "authors":  # the authors' parameters, as they ran
        first = tree_plan(py, 2, tree_root, group_num)[0]
        params.update(group_num=len(first), pe_num_group=len(first[0]),
                      root_1st_phase=len(first[0]) // 2, root_2nd_phase=root)
    return KernelRun(system, (m, k, n), px, py, useful_flops=2.0 * k * n, fabric=fab,
                     output=output, params=params)

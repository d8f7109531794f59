"""GEMM kernels on a square p x p mesh: C[M,N] = A[M,K] @ B[K,N].

Core (i, j) owns tiles of ceil(M/p) x ceil(K/p) of A, ceil(K/p) x ceil(N/p) of B and
ceil(M/p) x ceil(N/p) of C; shapes that do not divide evenly are zero-padded on the host.

- MeshGEMM (the paper's section 4): Cannon's algorithm on a logical ring that is interleaved
  into each physical row and column (every shift is at most two hops), host-side pre-skew,
  and double buffering so the shift for step s+1 overlaps the compute of step s.
- Cannon: the same algorithm on the plain ring, whose closing shift spans the whole line.
- SUMMA: at step s, column s of the grid multicasts its A tiles along rows and row s its B
  tiles along columns; every core accumulates the product.
All three use double buffering, so they differ only in their communication pattern.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ..hardware import Hardware
from ..host import from_tiles, pack_cannon, place, ring_order, to_tiles, unpack_cannon
from .comm import broadcast, ring_shift, shear
from .cost import ZERO, Cost, without
from .fabric import Fabric, PlanError
from .precision import add, mac, rounded
from .result import KernelRun


def _square(system: str, px: int, py: int) -> int:
    if px != py:
        raise PlanError(f"{system} needs a square core grid, got {px}x{py}")
    return px


def _alloc_tiles(fab: Fabric, mt: int, kt: int, nt: int, operand_bits: int = 16) -> None:
    fab.alloc("A (x2, double buffer)", 2 * mt * kt, operand_bits // 8)
    fab.alloc("B (x2, double buffer)", 2 * kt * nt, operand_bits // 8)
    fab.alloc(f"C ({fab.hw.accumulate} accumulator)", mt * nt, fab.hw.acc_bits // 8)


def _fabric(hw: Hardware, p: int, inputs, operand_bits: int) -> Fabric:
    """fp16 operands accumulate at the run's precision; fp32 ones (SGEMM) in fp32."""
    if operand_bits not in (16, 32):
        raise PlanError(f"operands must be 16 or 32 bits, got {operand_bits}")
    if operand_bits == 32:
        hw = replace(hw, accumulate="fp32")
    return Fabric(hw, p, p, functional=inputs is not None)


def _instruction(fab: Fabric, operand_bits: int) -> str:
    """fp16 operands: the accumulate precision's @fmach / @fmachs; fp32 operands: @fmacs."""
    return fab.hw.mac_instruction if operand_bits == 16 else "fmacs"


def cannon_loop(fab: Fabric, a, b, c, compute: float, a_elems: int, b_elems: int,
                interleaved: bool, head_mac=None, label: str = "", bits: int = 16,
                last_shift: bool = False, last_shift_b: bool = False, step_tasks: int = 0,
                launch: Cost = ZERO):
    """Cannon's p steps on pre-skewed operands: accumulate, then shift A along x and B along
    y (ring index l -> l-1), the shifts of step s+1 overlapping the compute of step s.

    `head_mac(a, b, c, step)` replaces `c += a @ b` for kernels that accumulate per head
    (its product is rounded once per step, then added: precision.py's layer granularity).
    `last_shift`: the last step shifts too (p shifts, tiles back home; the authors'
    mm_compute and our MeshGEMM CSL), overlapping its compute; else p-1 shifts.
    `last_shift_b`: the last step shifts B only (B a weight that must be home for the next
    run, A an activation not needed again: kernels/Prefill's O and down projections).
    `step_tasks`: task activations after each step in the authors' code (Fabric.tasks).
    `launch`: what each step pays before its shifts start and its compute runs (the
    authors' pointer swaps and the shifts' descriptor loads and DSD launches: authors_launch);
    a step's shifts then cost their wire only (the DSD set-ups are in `launch`).
    """
    p = fab.line_length("x")
    tasks = fab.tasks(step_tasks)
    wire = (lambda cost: without(fab.hw, cost, "fixed")) if launch else (lambda cost: cost)
    prefix = f"{label}: " if label else ""
    for step in range(p):
        if c is not None:
            if head_mac is None:
                mac(fab.hw, c, a, b)
            else:
                product = np.zeros_like(c)
                head_mac(a, b, product, step)
                c[...] = add(fab.hw, c, rounded(fab.hw, product))
        if step == p - 1 and not ((last_shift or last_shift_b) and p > 1):
            fab.timeline.add(f"{prefix}last step (compute)", compute=compute, tasks=tasks)
            break
        if launch:
            fab.timeline.add(f"{prefix}step: launch", compute=launch)
        if step == p - 1 and not last_shift:
            b, shift_b = ring_shift(fab, b, "y", b_elems, interleaved, bits=bits)
            fab.timeline.add(f"{prefix}last step (compute || B home)", compute=compute,
                             comm=wire(shift_b), overlap=True, tasks=tasks)
            break
        a, shift_a = ring_shift(fab, a, "x", a_elems, interleaved, bits=bits)
        b, shift_b = ring_shift(fab, b, "y", b_elems, interleaved, bits=bits)
        # A moves on row links and B on column links, so the two shifts run concurrently.
        fab.timeline.add(f"{prefix}step (compute || shift)", compute=compute,
                         comm=wire(max(shift_a, shift_b)), overlap=True, tasks=tasks)
    return c


def stationary_loop(fab: Fabric, a, w, acc, compute: float, w_elems: int, acc_elems: int,
                    interleaved: bool, head_mac=None, label: str = "",
                    last_shift: bool = False, step_tasks: int = 0, launch: Cost = ZERO):
    """The activation-stationary form of MeshGEMM: A stays, W moves up the columns and the
    partial outputs move left along the rows (ring index l -> l-1), p steps.

    With A in natural layout (core (i, c) holds A(i, c)) and W placed as W(c, i + c + 1)
    (host.stationary_placement), core (i, c) ends with C(i, i + c): Cannon's A alignment, so
    the next GEMM (a Cannon one) needs no skew on the wafer, and its output is natural again.
    Each step computes its product into a fresh buffer while W moves and the previous step's
    partial arrives, then adds the arrived partial and sends the sum on: double buffering, as
    in Cannon, plus one addition per step. `acc` holds zeros of the output's shape (and is
    returned filled). `head_mac(a, w, out, step)` replaces `out += a @ w` for per-head kernels.
    Partial outputs travel and are added at the run's accumulate precision.
    `last_shift`: W shifts in the last step too (p shifts: a weight back home for the next
    run, as kernels/Prefill), beside the last partial's arrival; else p-1 shifts.
    `step_tasks`: task activations after each step in the authors' code (Fabric.tasks).
    `launch`: as cannon_loop's (the shifts then cost their wire only).
    """
    hw = fab.hw
    tasks = fab.tasks(step_tasks)
    p = fab.line_length("x")
    wire = (lambda cost: without(hw, cost, "fixed")) if launch else (lambda cost: cost)
    prefix = f"{label}: " if label else ""
    add_cycles = fab.elementwise_cycles(acc_elems, 1, 0, instruction=hw.acc_add_instruction)
    _, shift_w = ring_shift(fab, None, "y", w_elems, interleaved)
    _, shift_acc = ring_shift(fab, None, "x", acc_elems, interleaved, bits=hw.acc_bits)
    arrived = None
    for step in range(p):
        if acc is not None:
            product = np.zeros_like(acc)
            if head_mac is None:
                mac(hw, product, a, w)
            else:
                head_mac(a, w, product, step)
                product = rounded(hw, product)
            acc = product if arrived is None else add(hw, product, arrived)
        # This step's W shift (after the last only with last_shift) and the previous step's
        # partial (none before the first) travel while the product is computed.
        w_moves = step < p - 1 or (last_shift and p > 1)
        comm = max(shift_w if w_moves else ZERO, shift_acc if step > 0 else ZERO)
        if launch:
            fab.timeline.add(f"{prefix}step: launch", compute=launch)
        fab.timeline.add(f"{prefix}step (compute || W and partial shifts)", compute=compute,
                         comm=wire(comm), overlap=True, tasks=tasks)
        if step > 0:
            fab.timeline.add(f"{prefix}step: add the arrived partial", compute=add_cycles)
        if step < p - 1:
            w, _ = ring_shift(fab, w, "y", w_elems, interleaved)
            arrived, _ = ring_shift(fab, acc, "x", acc_elems, interleaved, bits=hw.acc_bits)
    return acc


SKEWS = ("host", "device")
# Tasks after each step of the authors' GEMMs (MeshGEMM/WSE-2 meshgemm.csl: x_finish,
# y_finish, jumpcast_finish, next_step; Prefill's X_matmul the same, its score GEMM three).
GEMM_STEP_TASKS = 4
SCORE_STEP_TASKS = 3

# The authors' MeshGEMM program around its product, per construct (MeshGEMM/WSE-3
# src/meshgemm.csl and comm_lib/comm_pe.csl at 7122d0f, "MG3" in waferrepro.ledger; the
# WSE-2 program at 2cd13b5 is the same but for its queue and task ids). Plain scalar ops
# count assignments, compares (with their branch), integer updates and calls, one each.
MG_STEP_PLAIN = 8        # mm_compute :125-133 six pointer swaps, `step < P`, the call
MG_STEP_DESCRIPTORS = 8  # two_hop_comm :185-193 four set_dsd_base_addr, four load_to_dsr
MG_STEP_LAUNCHES = 4     # :195-199 four async @mov16 (A and B, send and receive): each an
#                          issue of a DSR loaded at comptime (:176-180) to its microthread
MG_STEP_SETUP = 4        # :138-142 X/W set_dsd_base_addr and set_dsd_length
MG_STEP_TAIL = 2         # :158-159 `step += 1`, @activate(next_step)
MG_ROUND_PLAIN = 10      # left_matrix_shift_callback :208-224 (x_shift_step taken), the call
MG_ROUND_DESCRIPTORS = 4  # left_matrix_shift :144-148 two set_dsd_base_addr, two load_to_dsr
MG_ROUND_LAUNCHES = 2    # :150-151 async @mov16 send and receive (DSRs loaded at :136-139)
MG_ENTRY_PLAIN = 6       # meshgemm_entry :190-203 two compares, three updates, the call
MG_START_PLAIN = 9       # the callback's else branch :226-241 (swaps, step = 0, pointers, call)
MG_START_DESCRIPTORS = 1  # :238 out_dsd set_dsd_base_addr
MG_END_PLAIN = 9         # mm_compute at step == P :125-164: swaps, compare, step = 0, call


def authors_extent(elems: int) -> int:
    """The authors' fabric DSD extent for a tile: ((Mt*Kt)/2)*2 (comm_pe.csl :9-10), the
    even part: with 16-bit operands packed two to a wavelet (simd_64), an odd tile's last
    element is not sent (its product is then wrong: the timing is what they measured)."""
    return (elems // 2) * 2


def authors_launch(fab: Fabric) -> Cost:
    """What an authors' MeshGEMM step pays before its shifts start and its product runs."""
    return (fab.scalar_ops(MG_STEP_PLAIN + MG_STEP_LAUNCHES)
            + fab.descriptor_ops(MG_STEP_DESCRIPTORS))


def authors_step_compute(fab: Fabric, mt: int, kt: int, nt: int, instruction: str) -> Cost:
    """An authors' MeshGEMM step's work after the launch: the X/W descriptors, the k loop of
    @maps (Fabric.authors_gemm, even for Mt = 1: it is a GEMM loop) and the step's tail."""
    return (fab.descriptor_ops(MG_STEP_SETUP) + fab.authors_gemm(mt, kt, nt, instruction)
            + fab.scalar_ops(MG_STEP_TAIL))


def authors_preskew_round(fab: Fabric, elems: int, interleaved: bool, bits: int) -> Cost:
    """One round of the authors' on-device A alignment: the callback, the shift's
    descriptors and launches, the wire, and the completion task that calls back."""
    _, shift = ring_shift(fab, None, "x", elems, interleaved, bits=bits)
    return (fab.scalar_ops(MG_ROUND_PLAIN + MG_ROUND_LAUNCHES)
            + fab.descriptor_ops(MG_ROUND_DESCRIPTORS) + without(fab.hw, shift, "fixed")
            + fab.tasks(1))


def run_cannon(hw: Hardware, shape, px: int, py: int, inputs=None, *, interleaved: bool,
               system: str, skew: str = "host", operand_bits: int = 16,
               last_shift: bool = False) -> KernelRun:
    """Cannon's algorithm. `skew`: A's initial alignment done on the host before the timed
    region ("host") or on the device inside it ("device", as the authors' public MeshGEMM:
    row i rotates by i ring positions, each row the shorter way round, so p // 2 ring shifts
    on the ring's colors and two reverse ones). B is pre-skewed on the host either way.
    `last_shift`: p ring shifts instead of p-1 (cannon_loop)."""
    if skew not in SKEWS:
        raise ValueError(f"skew must be one of {SKEWS}, got {skew!r}")
    m, k, n = shape
    p = _square(system, px, py)
    fab = _fabric(hw, p, inputs, operand_bits)
    mt, kt, nt = math.ceil(m / p), math.ceil(k / p), math.ceil(n / p)
    _alloc_tiles(fab, mt, kt, nt, operand_bits)
    # Static routes per line (waferrepro.sdk.routes, kernels/common/roles.csl): the
    # interleaved ring needs two alternating colors per direction; the plain ring two for the
    # one-hop flows and one for the closing flow that crosses the whole line.
    ring_colors = 4 if interleaved else 3
    fab.use_colors("A ring shift (x)", ring_colors)
    fab.use_colors("B ring shift (y)", ring_colors)
    a = b = c = None
    if inputs is not None:
        a, b = pack_cannon(inputs[0].astype(np.float32), inputs[1].astype(np.float32), p,
                           interleaved)
        c = np.zeros((p, p, mt, nt), dtype=np.float32)
    # The authors' program (their loop form) moves its tiles' even part (authors_extent)
    # and pays its scalar and descriptor work around the product; the data move whole here.
    authors = fab.hw.authors_loops
    a_elems, b_elems = mt * kt, kt * nt
    if authors:
        a_elems, b_elems = authors_extent(a_elems), authors_extent(b_elems)
        fab.timeline.add("entry (meshgemm_entry)", compute=fab.scalar_ops(MG_ENTRY_PLAIN))
    if skew == "device":
        fab.use_colors("A pre-skew, reverse ring (x)", 2)
        order = ring_order(p, interleaved)
        if a is not None:  # undo the host's A skew; the device does it below
            a = place(to_tiles(inputs[0].astype(np.float32), p, p), order, order)
        a, cycles = shear(fab, a, "x", np.arange(p), mt * kt, interleaved, operand_bits,
                          both_ways=True)
        if authors:  # meshgemm.csl left_matrix_shift_callback: P/2 rounds, each a task
            fab.timeline.add("A pre-skew round on the device (x)", repeat=p // 2,
                             comm=authors_preskew_round(fab, a_elems, interleaved,
                                                        operand_bits))
        else:
            fab.timeline.add("A pre-skew on the device (x)", comm=cycles)
    instruction = _instruction(fab, operand_bits)
    if authors:
        fab.timeline.add("start (zero C, pointers)", compute=(
            fab.scalar_ops(MG_START_PLAIN) + fab.descriptor_ops(MG_START_DESCRIPTORS)
            + fab.vector_op("fmovh", mt * nt, cause="elementwise")))
        compute, launch = authors_step_compute(fab, mt, kt, nt, instruction), authors_launch(fab)
    else:
        compute, launch = fab.matmul_cycles(mt, kt, nt, instruction), ZERO
    c = cannon_loop(fab, a, b, c, compute, a_elems, b_elems, interleaved, bits=operand_bits,
                    last_shift=last_shift, step_tasks=GEMM_STEP_TASKS, launch=launch)
    if authors:
        fab.timeline.add("end (mm_compute at step == P)", compute=fab.scalar_ops(MG_END_PLAIN))
    output = None if c is None else unpack_cannon(c, m, n, interleaved)
    return KernelRun(system, (m, k, n), p, p, useful_flops=2.0 * m * k * n, fabric=fab,
                     output=output, params={"interleaved": interleaved, "skew": skew,
                                            "operand_bits": operand_bits,
                                            "last_shift": last_shift,
                                            "accumulate": fab.hw.accumulate})


def run_summa(hw: Hardware, shape, px: int, py: int, inputs=None, *, system: str,
              operand_bits: int = 16) -> KernelRun:
    m, k, n = shape
    p = _square(system, px, py)
    fab = _fabric(hw, p, inputs, operand_bits)
    mt, kt, nt = math.ceil(m / p), math.ceil(k / p), math.ceil(n / p)
    _alloc_tiles(fab, mt, kt, nt, operand_bits)
    fab.alloc("A, B own tiles", mt * kt + kt * nt, operand_bits // 8)
    fab.use_colors("A multicast (x, both ways)", 2)
    fab.use_colors("B multicast (y, both ways)", 2)

    a = b = c = None
    if inputs is not None:
        a = to_tiles(inputs[0].astype(np.float32), p, p)
        b = to_tiles(inputs[1].astype(np.float32), p, p)
        c = np.zeros((p, p, mt, nt), dtype=np.float32)

    def panels(step):
        a_s, cost_a = broadcast(fab, a, "x", step, mt * kt, operand_bits)
        b_s, cost_b = broadcast(fab, b, "y", step, kt * nt, operand_bits)
        return a_s, b_s, max(cost_a, cost_b)

    compute = fab.matmul_cycles(mt, kt, nt, _instruction(fab, operand_bits))
    a_s, b_s, cost = panels(0)
    fab.timeline.add("first multicast", comm=cost)
    for step in range(p):
        if c is not None:
            mac(fab.hw, c, a_s, b_s)
        if step == p - 1:
            fab.timeline.add("last step (compute)", compute=compute)
            break
        a_s, b_s, cost = panels(step + 1)
        fab.timeline.add("step (compute || multicast)", compute=compute, comm=cost, overlap=True)

    output = None if c is None else from_tiles(c, m, n)
    return KernelRun(system, (m, k, n), p, p, useful_flops=2.0 * m * k * n, fabric=fab,
                     output=output, params={"operand_bits": operand_bits,
                                            "accumulate": fab.hw.accumulate})

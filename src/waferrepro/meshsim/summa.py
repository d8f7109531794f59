"""SUMMA as the authors wrote it (upstream WaferLLM 0a0487b `SUMMA/`, unchanged in its SDK 2.10
form at fd1c2da but for untyped params), priced under the `paper-kernels` preset; our own
double-buffered SUMMA (meshsim.gemm.run_summa) stays the `full-model` form. The paper's
Figure 9 compares MeshGEMM with this program (§7.2; the Cerebras collectives_2d GEMM example
it follows, the paper's reference [7]).

Paths: SU = SUMMA/src/summa.csl, SL = SUMMA/src/layout.csl, LS = SUMMA/launch_sim.py, all
at 0a0487b (waferrepro.ledger.SUMMA lists the constructs with these lines). What it does:
- P steps on a P x P grid (SU:145). Step s: column s multicasts its X tiles along the rows
  and row s its W tiles along the columns (SU:104-105, collectives_2d `broadcast`, the root
  sending its home tile, the others receiving into one buffer: SU:16-24, 101-102), the two
  axes at once on their own colors (SL:36-39).
- No double buffering: the compute task runs only when both broadcasts have completed
  (x_done activates it, y_done unblocks it: SU:108-114), and the next step's broadcasts
  start when the compute ends (SU:145-146). Each step is transfer, then compute; three task
  activations per step (x_done, y_done, compute).
- The local product (SU:120-140): four descriptor updates, then `for k in 0..Kt` of six
  descriptor operations around a @map over W's row (Nt elements), each an @fmach of length
  Mt: MeshGEMM's loop exactly (Fabric.authors_gemm; MeshGEMM's ledger leaves out the
  four per-step updates, which its mm_compute issues too).
- No barrier between steps: a core posts its next receive when its own compute ends, and
  the roots advance one core a step, so the multicasts pipeline ("the pipeline broadcast in
  SUMMA", the paper's §7.2): the critical path follows the diagonal of roots (s, s) ->
  (s+1, s+1), two hops a step, and the jump back to (0, 0) at the next run,
  2 (P - 1) hops (comm.pipelined_broadcast).
- The timed region (LS:104, SU:170-187): warm-up runs, then `repeats` runs back to back,
  each zeroing the result tile (@fmovh, SU:182) and running the P steps; the launcher divides
  the span by the repeats (LS:181). One run here, in its steady state.
"""

from __future__ import annotations

import math

import numpy as np

from ..hardware import Hardware
from ..host import from_tiles, to_tiles
from .comm import pipelined_broadcast
from .fabric import Fabric, PlanError
from .gemm import run_summa
from .precision import mac
from .result import KernelRun

FORMS = ("ours", "authors")
# summa.csl:124-128: set_dsd_base_addr and set_dsd_length of X and W before the k loop.
STEP_DESCRIPTOR_OPS = 4
# SU:101-102, 121-122, 142-145: the home-or-buffer pointer selects (four), `step += 1` and the
# step test: plain scalar operations, as MeshGEMM's pointer swaps (gemm.MG_STEP_PLAIN).
STEP_PLAIN = 6
# x_done, y_done (the broadcasts' callbacks, SU:108-114) and the compute task (SU:120).
STEP_TASKS = 3


def run(hw: Hardware, shape, px: int, py: int, inputs=None, *, system: str,
        summa_form: str = "ours", operand_bits: int = 16) -> KernelRun:
    """SUMMA in the preset's form (presets.PRESETS `summa_form`): "authors" (their program,
    as written) or "ours" (meshsim.gemm.run_summa)."""
    if summa_form not in FORMS:
        raise ValueError(f"summa_form must be one of {FORMS}, got {summa_form!r}")
    if summa_form == "ours":
        return run_summa(hw, shape, px, py, inputs, system=system, operand_bits=operand_bits)
    if operand_bits != 16:
        raise PlanError(f"the authors' SUMMA multiplies fp16 operands, got {operand_bits}-bit")
    return run_authors(hw, shape, px, py, inputs, system=system)


def run_authors(hw: Hardware, shape, px: int, py: int, inputs=None, *,
                system: str = "SUMMA") -> KernelRun:
    """One timed run of the authors' SUMMA: the result tile zeroed, then P steps of two
    multicasts followed by the local product (module docstring)."""
    if px != py:
        raise PlanError(f"{system} needs a square core grid, got {px}x{py}")
    m, k, n = shape
    p = px
    fab = Fabric(hw, p, p, functional=inputs is not None)
    mt, kt, nt = math.ceil(m / p), math.ceil(k / p), math.ceil(n / p)
    _plan(fab, mt, kt, nt)
    a = b = c = None
    if inputs is not None:
        a = to_tiles(inputs[0].astype(np.float32), p, p)
        b = to_tiles(inputs[1].astype(np.float32), p, p)
        c = np.zeros((p, p, mt, nt), dtype=np.float32)
    # SU:182 @fmovh(res_dsd, 0.0) over the Mt*Nt result tile
    fab.timeline.add("zero the result tile", compute=fab.vector_op(
        "fmovh", mt * nt, cause="elementwise"))
    compute = _local_product(fab, mt, kt, nt)
    tasks = fab.tasks(STEP_TASKS)
    for step in range(p):
        a_s, b_s, comm = _multicasts(fab, a, b, step, mt * kt, kt * nt)
        if c is not None:
            mac(hw, c, a_s, b_s)
        fab.timeline.add("step (multicasts, then compute)", compute=compute, comm=comm,
                         overlap=False, tasks=tasks)
    output = None if c is None else from_tiles(c, m, n)
    return KernelRun(system, (m, k, n), p, p, useful_flops=2.0 * m * k * n, fabric=fab,
                     output=output, params={"form": "authors", "operand_bits": 16,
                                            "accumulate": hw.accumulate})


def _plan(fab: Fabric, mt: int, kt: int, nt: int) -> None:
    """SU:16-30: home tile and one receive buffer per operand, the result tile; SL:36-39:
    collectives_2d's two colors per axis."""
    fab.alloc("X home tile + receive buffer", 2 * mt * kt, 2)
    fab.alloc("W home tile + receive buffer", 2 * kt * nt, 2)
    fab.alloc(f"result tile ({fab.hw.accumulate})", mt * nt, fab.hw.acc_bits // 8)
    fab.use_colors("collectives_2d x", 2)
    fab.use_colors("collectives_2d y", 2)


def _local_product(fab: Fabric, mt: int, kt: int, nt: int):
    """SU:120-140 under the authors' loop form: the step's four descriptor updates, then
    `for k in 0..Kt` (six descriptor operations each) of a @map over W's row, one @fmach of
    length Mt per element: Fabric.authors_gemm, MeshGEMM's loop (Mt = 1 too). Our loop form:
    matmul_cycles."""
    if not fab.hw.authors_loops:
        return fab.matmul_cycles(mt, kt, nt)
    return (fab.scalar_ops(STEP_PLAIN) + fab.descriptor_ops(STEP_DESCRIPTOR_OPS)
            + fab.authors_gemm(mt, kt, nt))


def _lead_hops(p: int, step: int) -> int:
    """Hops the critical path moves to reach this step's root core (step, step) from the
    previous one's: 2 along the diagonal, 2 (P - 1) back from (P-1, P-1) at step 0 (the
    previous run's last step: runs follow one another with no barrier, SU:149)."""
    return 2 * (p - 1) if step == 0 else 2


def _multicasts(fab: Fabric, a, b, step: int, a_elems: int, b_elems: int):
    """SU:104-105: X from column `step` along the rows and W from row `step` along the
    columns, at once, each Mt*Kt/2 (Kt*Nt/2) u32 words: two fp16 a wavelet whatever the
    preset (an odd tile's last element is padded here; the authors' shapes are even). Each
    call sets the line's network up for its root (the SDK's collectives_2d docs: `root`
    configures the network): one route switch per axis."""
    hops = _lead_hops(fab.px, step)
    a_s, cost_a = pipelined_broadcast(fab, a, "x", step, hops, math.ceil(a_elems / 2), 32)
    b_s, cost_b = pipelined_broadcast(fab, b, "y", step, hops, math.ceil(b_elems / 2), 32)
    comm = max(cost_a, cost_b) + fab.route_switches(1)
    return a_s, b_s, comm

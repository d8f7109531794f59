"""The ledger of the authors' kernels: what their code issues in its timed region, construct
by construct, with the source line, the count from their loop bounds, and the hardware
parameter that prices it.

Sources: MeshGEMM and MeshGEMV as measured on the CS-3 (upstream WaferLLM at 7122d0f,
WSE3_COMMIT; their WSE-2 programs at 2cd13b5 are the same but for task, queue and microthread
ids and MeshGEMV's simd_32 fabric mode, so one entry serves both chips), Decode and Prefill
(WSE-2 at COMMIT, 2cd13b5), SUMMA (0a0487b, SUMMA_COMMIT).

Under the `paper-kernels` preset (loop_form "authors") meshsim charges these constructs as
the authors' code issues them (meshsim.fabric: authors_gemm, authors_gemv, maps,
map_elements, scalar_loop, scalar_ops, descriptor_ops, row_ops, tasks; meshsim.gemm's and
meshsim.gemv's program constants); Timeline.ops() counts what it charged.
tests/test_ledger.py holds every `charged` entry's count to meshsim's on small
configurations. Entries with `charged=False` are constructs of the authors' code the twin
does not charge (with the reason): the ledger says what is left out instead of hiding it.

Counting: a plain scalar op is an assignment, a compare with its branch, an integer update
or a call (one each); a descriptor op is @set_dsd_base_addr, @load_to_dsr,
@increment_dsd_offset or @set_dsd_length (priced as a scalar op); an async @mov16 launch on a
microthread, whose DSR the program loads at comptime, is a plain op.

Dimensions (Dims) are per core, in the authors' names: P the grid side; MeshGEMM's Mt, Kt, Nt
tiles; MeshGEMV's input slice Mt, output slice Nt and group_num G; Decode's and Prefill's d
(hidden per core), s (tokens per core), f (FFN width per core). Decode and Prefill run one
head of hidden width (their configs), so one head's slices are d.
Paths: MG = MeshGEMM/WSE-3/src/meshgemm.csl, MC = its comm_lib/comm_pe.csl; MV =
MeshGEMV/WSE-3/src/meshgemv.csl, MVC = its comm_lib/comm_pe.csl; DC = Decode/WSE-2/src/
decode.csl, PF = Prefill/WSE-2/src/prefill.csl (each with comm_lib/).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

COMMIT = "2cd13b5"
WSE3_COMMIT = "7122d0f"


@dataclass(frozen=True)
class Dims:
    P: int
    Mt: int = 0
    Kt: int = 0
    Nt: int = 0
    d: int = 0
    s: int = 0
    f: int = 0
    G: int = 0


@dataclass(frozen=True)
class Entry:
    construct: str                  # cost.CONSTRUCTS key, e.g. "map_element", "dsd:fmach"
    count: Callable[[Dims], int]    # per timed run (one layer, one token for Decode)
    source: str                     # file:line at the kernel's commit
    what: str
    cost: str                       # the Hardware field(s) that price it
    charged: bool = True


def _half(x: Dims) -> int:
    return x.P // 2


MESHGEMM = (
    Entry("scalar_op", lambda x: 6 + 9 + 9 + x.P * (8 + 4 + 2) + _half(x) * (10 + 2),
          "MG:190-203, MG:226-241, MG:125-164, MC:195-199, MG:208-224, MC:150-151",
          "plain ops: meshgemm_entry (6), the pre-skew's last callback (9), the last "
          "mm_compute (9); per step six pointer swaps, `step < P`, the call, four async "
          "@mov16 launches, `step += 1`, @activate; per pre-skew round the callback (10) and "
          "two launches", "scalar_op_cycles"),
    Entry("descriptor_op", lambda x: 1 + x.P * (8 + 4 + 6 * x.Kt) + _half(x) * 4,
          "MG:238, MC:185-193, MG:138-142, MG:146-154, MC:144-148",
          "out_dsd's base (1); per step two_hop_comm's 4 set_dsd_base_addr + 4 load_to_dsr, "
          "X/W base and length (4), per k iteration set_dsd_base_addr, 3 load_to_dsr and 2 "
          "increment_dsd_offset; per round 2 set_dsd_base_addr + 2 load_to_dsr",
          "scalar_op_cycles"),
    Entry("scalar_iteration", lambda x: x.P * x.Kt, "MG:144",
          "mm_compute's k loop, once per step (P steps, :133 `step < P`)",
          "scalar_iteration_cycles"),
    Entry("map", lambda x: x.P * x.Kt, "MG:151", "one @map per k iteration",
          "map_setup_cycles"),
    Entry("map_element", lambda x: x.P * x.Kt * x.Nt, "MG:151",
          "@map(gemv_static_step_X, W_dsd) over B's row (Nt elements)", "map_element_cycles"),
    Entry("dsd:fmach", lambda x: x.P * x.Kt * x.Nt, "MG:120",
          "@fmach of length Mt in the callback (DSR operands: no set-up of its own)",
          "simd_fmach and the SRAM ports, bank_conflict_factor"),
    Entry("dsd:fmovh", lambda x: 1, "MG:233", "@fmovh(res_dsd, 0.0) once per run (Mt*Nt)",
          "dsd_startup_cycles, simd_faddh"),
    Entry("task", lambda x: 4 * x.P + _half(x), "MG:99-117, MC:130-133",
          "x_finish, y_finish, jumpcast_finish, next_step per step; x_shift_finish per "
          "pre-skew round (P/2 rounds)", "task_activation_cycles"),
    Entry("fabric_dsd", lambda x: 0, "MC:176-181, MC:135-140",
          "no fabric DSD set-up at run time: every fabric DSD is loaded into its DSR at "
          "comptime, the launches are plain ops", "fabric_dsd_startup_cycles"),
)


def _gemv_sides(members: int) -> int:
    """Sides of a group whose root is member members // 2 (the authors' root)."""
    return 2 if members >= 3 else 1


MESHGEMV = (
    Entry("scalar_op", lambda x: 4 + 9 + 1, "MV:98-108, MVC:190-238, MV:77-78",
          "plain ops on the farthest core's loop: meshgemv_entry's compares, update and "
          "call (4); two_tree_allreduce_y's branches on the loop (the first core's two, the "
          "group root's three, the second root's one) and its call (9); the call back (1)",
          "scalar_op_cycles"),
    Entry("descriptor_op", lambda x: 3 + 2, "MV:71-73, MVC:186-187",
          "three load_to_dsr before the @map; set_dsd_base_addr and load_to_dsr of the "
          "reduce's buffer", "scalar_op_cycles"),
    Entry("map", lambda x: 1, "MV:75", "one @map per run", "map_setup_cycles"),
    Entry("map_element", lambda x: x.Mt, "MV:75", "@map(gemv_static_step, X_dsd) over the "
          "input slice", "map_element_cycles"),
    Entry("dsd:fmach", lambda x: x.Mt, "MV:65", "@fmach of length Nt per input element (DSRs)",
          "simd_fmach and the SRAM ports, bank_conflict_factor"),
    Entry("dsd:fmovh", lambda x: 1, "MV:107", "@fmovh(res_dsd, 0.0): the result zeroed",
          "dsd_startup_cycles, simd_faddh"),
    Entry("fabric_dsd",
          lambda x: _gemv_sides(x.P // x.G) + _gemv_sides(x.G) + 1, "MVC:192-238",
          "blocking fabric DSD operations on the loop: the farthest sender's of each level "
          "and the root's second receive where it has two sides (root_1st_phase = "
          "pe_num_group // 2, root_2nd_phase's group G // 2), the broadcast's send",
          "fabric_dsd_startup_cycles"),
    Entry("task", lambda x: 0, "MV:69-79", "no tasks: every fabric op is synchronous",
          "task_activation_cycles"),
)


def _decode_gemv_elements(x: Dims) -> int:
    # Q, K, V (DC:324-372, d each), score (DC:470, d), PV (DC:528, s), O (DC:545, d),
    # up, gate (DC:600, 617, d each), down (DC:652, f).
    return 3 * x.d + x.d + x.s + x.d + 2 * x.d + x.f


DECODE = (
    Entry("map", lambda x: 9 + 2 + 3, "DC:281, DC:321, DC:496-513, DC:585",
          "the nine GEMVs' @maps, fmulh_norm_func's (two norms), fsubh_func's, fast_exp's "
          "and fmulh_softmax_func's", "map_setup_cycles"),
    Entry("dsd:fmach", _decode_gemv_elements, "DC:215-217 via DC:281",
          "gemv_static_step's @fmach in vecmat_computation's @map, nine GEMVs",
          "dsd_startup_cycles, simd_fmach, bank_conflict_factor"),
    Entry("map_element", lambda x: _decode_gemv_elements(x) + x.s + 1 + 2 + 1,
          "DC:281, DC:498, DC:496, DC:321, DC:585, DC:513",
          "the GEMVs' elements; fast_exp over the scores (s); fsubh_func (1); "
          "fmulh_norm_func (2 norms); fmulh_softmax_func (1)", "map_element_cycles"),
    Entry("scalar_iteration", lambda x: 9 + 2 + 6 + x.d, "DC:274, DC:388/431, "
          "DC:301/314/565/578/484/502, DC:627",
          "nine GEMVs' B-loops (B = 1), two RoPE loops, six reduction and scale loops, the "
          "SiLU loop over B*d (d, not f: as timed)", "scalar_iteration_cycles"),
    Entry("task", lambda x: 0, "DC:664-701", "no tasks, @activate or @block in the timed "
          "region: nested function calls", "task_activation_cycles"),
    Entry("descriptor_op", lambda x: 107 + 108, "DC, counted per function",
          "107 load_to_dsr and 108 set_dsd_*/increment_dsd_offset per layer (WSE-2; WSE-3 "
          "108/108): the twin charges the GEMVs' (11 each) and three per element-wise DSD "
          "operation, 183 in all", "scalar_op_cycles", charged=False),
)


def _prefill_gemm_elements(x: Dims) -> int:
    # xq, xk, xv, h1 (d x d each), score and PV (s x d), z1, z2, down (d x f): P steps each.
    return x.P * (4 * x.d * x.d + 2 * x.s * x.d + 3 * x.d * x.f)


PREFILL = (
    Entry("map", lambda x: x.P * (7 * x.d + x.s + x.f) + 1, "PF:374/416, PF:921",
          "one @map per GEMM k iteration (P steps x Kt per GEMM); silu_kernel's",
          "map_setup_cycles"),
    Entry("dsd:fmach", _prefill_gemm_elements, "PF:374/416 (matmul_map_func)",
          "one @fmach of length s per element of the right matrix's row, nine GEMMs",
          "dsd_startup_cycles, simd_fmach, bank_conflict_factor"),
    Entry("map_element", lambda x: _prefill_gemm_elements(x) + x.s * x.f,
          "PF:374/416, PF:921", "the GEMMs' @map elements; silu_kernel over z2 (s*f)",
          "map_element_cycles"),
    Entry("scalar_iteration",
          lambda x: x.P * (7 * x.d + x.s + x.f) + 4 * x.s + x.s * x.s + 3 * x.s,
          "PF:367/409, PF:677/688/702/718, PF:692, PF:708, rmsnorm",
          "GEMM k loops (P steps x Kt per GEMM); softmax's four row loops (s each); the exp "
          "loop (s*s); the reciprocal (s) and two rsqrt loops (s each)",
          "scalar_iteration_cycles"),
    Entry("task", lambda x: 8 * 4 * x.P + 3 * x.P, "PF:306-320",
          "per GEMM step: left/right_matrix_finish, two_hop_comm_finish, next_step (the "
          "score GEMM three)", "task_activation_cycles"),
    Entry("scalar_iteration", lambda x: 6 * x.d + x.d, "PF:452/458/470/480, PF:589/617",
          "RMSNorm's d-loops and RoPE's loops: not charged (the twin's RMSNorm and RoPE are "
          "vector operations; a few hundred cycles per layer)", "scalar_iteration_cycles",
          charged=False),
    Entry("task", lambda x: 5 * (x.P // 2), "PF:280-304, PFC:548-595",
          "the left-matrix alignment before xq, output (P x V), h1, z1 and h2: P/2 rounds "
          "each, one completion task a round, not overlapped (the twin's own K|V shears move "
          "its data and are not charged under this loop form)", "task_activation_cycles"),
)

KERNELS = {"MeshGEMM": MESHGEMM, "MeshGEMV": MESHGEMV, "Decode": DECODE, "Prefill": PREFILL}


def expected(kernel: str, dims: Dims) -> dict[str, int]:
    """The counts of the charged constructs of `kernel` at `dims` (summed per construct)."""
    out: dict[str, int] = {}
    for e in KERNELS[kernel]:
        if e.charged:
            out[e.construct] = out.get(e.construct, 0) + int(e.count(dims))
    return out


# --- SUMMA, Figure 9's comparator (issue 23) -----------------------------------------------
# The authors' SUMMA is not in 2cd13b5: its sources are at SUMMA_COMMIT of upstream WaferLLM
# (the woonyee28/WaferLLM mirror carries that history; fd1c2da, its SDK 2.10 form, changes
# only param types). SU = SUMMA/src/summa.csl, SL = SUMMA/src/layout.csl. Counts per timed
# run (P steps, SU:145); meshsim.summa prices them under paper-kernels (summa_form authors).
SUMMA_COMMIT = "0a0487b"

SUMMA = (
    Entry("scalar_iteration", lambda x: x.P * x.Kt, "SU:130",
          "compute's k loop, once per step", "scalar_iteration_cycles"),
    Entry("map_element", lambda x: x.P * x.Kt * x.Nt, "SU:136",
          "@map(gemv_static_step_X, W_dsd) over W's row (Nt elements)", "map_element_cycles"),
    Entry("dsd:fmach", lambda x: x.P * x.Kt * x.Nt, "SU:117",
          "@fmach of length Mt in the callback (DSR operands)",
          "dsd_startup_cycles, simd_fmach, bank_conflict_factor"),
    Entry("descriptor_op", lambda x: x.P * (4 + 6 * x.Kt), "SU:124-128, SU:131-139",
          "per step: set_dsd_base_addr and set_dsd_length of X and W; per k iteration: "
          "set_dsd_base_addr, 3 load_to_dsr, 2 increment_dsd_offset", "scalar_op_cycles"),
    Entry("scalar_op", lambda x: 6 * x.P, "SU:101-102, SU:121-122, SU:142-145",
          "per step: the home-or-buffer pointer selects (four), step += 1 and the step "
          "test, as MeshGEMM's pointer swaps", "scalar_op_cycles"),
    Entry("map", lambda x: x.P * x.Kt, "SU:136", "one @map per k iteration",
          "map_setup_cycles"),
    Entry("task", lambda x: 3 * x.P, "SU:108-120",
          "x_done, y_done (the broadcasts' callbacks) and compute, per step",
          "task_activation_cycles"),
    Entry("dsd:fmovh", lambda x: 1, "SU:182",
          "@fmovh(res_dsd, 0.0) once per run (Mt*Nt elements)", "dsd_startup_cycles, simd_faddh"),
    Entry("task", lambda x: 0, "SL:37-39",
          "collectives_2d's own entrypoint tasks (two per axis): the library's source is not "
          "public, so how many run per broadcast is unknown; not charged (its per-call "
          "network configuration is charged as one route switch per axis)",
          "task_activation_cycles", charged=False),
)

KERNELS["SUMMA"] = SUMMA

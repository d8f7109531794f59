"""The ledger of the authors' kernels: what their WSE-2 code (github MeshInfra/WaferLLM at
2cd13b5) issues in its timed region, construct by construct, with the source line, the count
from their loop bounds, and the hardware parameter that prices it.

Under the `paper-kernels` preset (loop_form "authors") meshsim charges these constructs as
the authors' code issues them (meshsim.fabric: authors_matmul, authors_gemv, map_elements,
scalar_loop, row_ops, tasks); Timeline.ops() counts what it charged. tests/test_ledger.py
holds every `charged` entry's count to meshsim's on small configurations. Entries with
`charged=False` are constructs of the authors' code the twin does not charge (with the
reason): the ledger says what is left out instead of hiding it.

Dimensions (Dims) are per core, in the authors' names: P the grid side; MeshGEMM's Mt, Kt, Nt
tiles; MeshGEMV's input slice Mt and output slice Nt; Decode's and Prefill's d (hidden per
core), s (tokens per core), f (FFN width per core). Decode and Prefill run one head of
hidden width (their configs), so one head's slices are d.
Paths: MG = MeshGEMM/WSE-2/src/meshgemm.csl, MV = MeshGEMV/WSE-2/src/meshgemv.csl,
DC = Decode/WSE-2/src/decode.csl, PF = Prefill/WSE-2/src/prefill.csl (each with comm_lib/).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

COMMIT = "2cd13b5"


@dataclass(frozen=True)
class Dims:
    P: int
    Mt: int = 0
    Kt: int = 0
    Nt: int = 0
    d: int = 0
    s: int = 0
    f: int = 0


@dataclass(frozen=True)
class Entry:
    construct: str                  # cost.CONSTRUCTS key, e.g. "map_element", "dsd:fmach"
    count: Callable[[Dims], int]    # per timed run (one layer, one token for Decode)
    source: str                     # file:line at COMMIT
    what: str
    cost: str                       # the Hardware field(s) that price it
    charged: bool = True


MESHGEMM = (
    Entry("scalar_iteration", lambda x: x.P * x.Kt, "MG:143",
          "mm_compute's k loop, once per step (P steps, :135 `step < P`)",
          "scalar_iteration_cycles"),
    Entry("map_element", lambda x: x.P * x.Kt * x.Nt, "MG:150",
          "@map(gemv_static_step_X, W_dsd) over B's row (Nt elements)", "map_element_cycles"),
    Entry("dsd:fmach", lambda x: x.P * x.Kt * x.Nt, "MG:120",
          "@fmach of length Mt in the callback (DSR operands)",
          "dsd_startup_cycles, simd_fmach, bank_conflict_factor"),
    Entry("scalar_op", lambda x: x.P * x.Kt * 6, "MG:145-153",
          "per k iteration: set_dsd_base_addr, 3 load_to_dsr, 2 increment_dsd_offset",
          "scalar_op_cycles"),
    Entry("task", lambda x: 4 * x.P + x.P // 2, "MG:99-117, MG:left_matrix_shift_callback",
          "x_finish, y_finish, jumpcast_finish, next_step per step; one per pre-skew round "
          "(P/2 rounds)", "task_activation_cycles"),
)

MESHGEMV = (
    Entry("map_element", lambda x: x.Mt, "MV:75", "@map(gemv_static_step, X_dsd) over the "
          "input slice", "map_element_cycles"),
    Entry("dsd:fmach", lambda x: x.Mt, "MV:65", "@fmach of length Nt per input element",
          "dsd_startup_cycles, simd_fmach, bank_conflict_factor"),
    Entry("scalar_op", lambda x: 3, "MV:71-73", "three load_to_dsr before the @map",
          "scalar_op_cycles"),
    Entry("task", lambda x: 0, "MV:69-79", "no tasks: every fabric op is synchronous",
          "task_activation_cycles"),
)


def _decode_gemv_elements(x: Dims) -> int:
    # Q, K, V (DC:324-372, d each), score (DC:470, d), PV (DC:528, s), O (DC:545, d),
    # up, gate (DC:600, 617, d each), down (DC:652, f).
    return 3 * x.d + x.d + x.s + x.d + 2 * x.d + x.f


DECODE = (
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
    Entry("scalar_op", lambda x: 107 + 108, "DC, hand count",
          "about 107 load_to_dsr and 108 set_dsd_*/increment_dsd_offset per layer: the "
          "twin charges the GEMVs' (11 each) and three per element-wise DSD operation",
          "scalar_op_cycles", charged=False),
)


def _prefill_gemm_elements(x: Dims) -> int:
    # xq, xk, xv, h1 (d x d each), score and PV (s x d), z1, z2, down (d x f): P steps each.
    return x.P * (4 * x.d * x.d + 2 * x.s * x.d + 3 * x.d * x.f)


PREFILL = (
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
    Entry("task", lambda x: 5 * (x.P // 2), "PF:280-304",
          "the left-matrix alignment before xq, PV, h1, UP and DOWN (P/2 rounds each, "
          "not overlapped): not charged; the twin aligns K|V with its shears instead",
          "task_activation_cycles", charged=False),
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
    Entry("scalar_op", lambda x: x.P * (4 + 6 * x.Kt), "SU:124-128, SU:131-139",
          "per step: set_dsd_base_addr and set_dsd_length of X and W; per k iteration: "
          "set_dsd_base_addr, 3 load_to_dsr, 2 increment_dsd_offset", "scalar_op_cycles"),
    Entry("task", lambda x: 3 * x.P, "SU:108-120",
          "x_done, y_done (the broadcasts' callbacks) and compute, per step",
          "task_activation_cycles"),
    Entry("dsd:faddh", lambda x: 1, "SU:182",
          "@fmovh(res_dsd, 0.0) once per run (Mt*Nt elements), priced at @faddh's rate: "
          "hardware.INSTRUCTIONS has no @fmovh", "dsd_startup_cycles, simd_faddh"),
    Entry("task", lambda x: 0, "SL:37-39",
          "collectives_2d's own entrypoint tasks (two per axis): the library's source is not "
          "public, so how many run per broadcast is unknown; not charged (its per-call "
          "network configuration is charged as one route switch per axis)",
          "task_activation_cycles", charged=False),
    Entry("scalar_op", lambda x: 6 * x.P, "SU:101-102, SU:121-122, SU:142-145",
          "per step: the home-or-buffer pointer selects (four), step += 1 and the step "
          "test: control, not descriptor operations; not charged, as MeshGEMM's pointer "
          "swaps", "scalar_op_cycles", charged=False),
)

KERNELS["SUMMA"] = SUMMA

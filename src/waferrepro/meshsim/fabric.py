"""The virtual core grid: PLMR constraints and the cycle timeline of one kernel run.

A kernel is a schedule of steps. Each step has a compute part and a communication part, in
cycles, and either overlaps them (double buffering: the step takes the longer of the two) or
runs them one after the other. The same schedule runs in two modes: functional (per-core
tiles held in NumPy arrays of shape (rows, cols, ...) and really moved and computed) and cycle
model (no data; only the costs). Costs never depend on data, so both modes give the same cycles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..hardware import Hardware
from . import fastpath
from .cost import CAUSES, ZERO, Cost, priced

# Descriptor operations (@set_dsd_base_addr, @load_to_dsr, @increment_dsd_offset,
# @set_dsd_length: scalar instructions) the authors' WSE-2 code issues around its DSD work,
# charged as scalar ops under the "authors" loop form (waferrepro.ledger cites the lines):
# - per iteration of the GEMM k loop (meshgemm.csl mm_compute): one set_dsd_base_addr,
#   three load_to_dsr, two increment_dsd_offset;
# - per GEMV (decode.csl vecmat_computation): three set_dsd_length and two set_dsd_base_addr
#   before its one-iteration loop (B = 1), which loads three DSRs, sets a base address and
#   increments two offsets around its @map;
# - per element-wise DSD operation: its operands loaded into three DSRs.
GEMM_DESCRIPTOR_OPS = 6
GEMV_DESCRIPTOR_OPS = 5
GEMV_LOOP_DESCRIPTOR_OPS = 6
# MeshGEMV/WSE-2 meshgemv.csl mv_compute: three @load_to_dsr, then the @map (no loop).
MESHGEMV_DESCRIPTOR_OPS = 3
ELEMENTWISE_DESCRIPTOR_OPS = 3


class PlanError(ValueError):
    """A kernel plan that the hardware cannot hold (memory, routes, grid size)."""


@dataclass
class Step:
    """One step of a schedule: compute and communication (each a Cost with its causes),
    overlapped (double buffering: the longer of the two) or one after the other, plus the
    fixed costs the program pays to run the step (task activation, sync)."""
    label: str
    compute: Cost
    comm: Cost
    overlap: bool
    repeat: int = 1
    fixed: Cost = ZERO

    @property
    def cycles(self) -> float:
        one = max(self.compute, self.comm) if self.overlap else self.compute + self.comm
        return (float(one) + float(self.fixed)) * self.repeat

    def breakdown(self) -> dict[str, float]:
        """Cycles by cause, summing to `cycles`: compute and fixed costs in full; a serial
        transfer by its own causes; the exposed part of an overlapped transfer as wait."""
        out = dict.fromkeys(CAUSES, 0.0)
        charged = [self.compute, self.fixed] + ([] if self.overlap else [self.comm])
        for cost in charged:
            for cause, v in cost.parts.items():
                out[cause] += v * self.repeat
        rest = self.cycles - sum(out.values())
        # float rounding of an overlapped step that hides all of its transfer (e.g. -2e-13 on
        # paper-kernels' MeshGEMV 8x8) is no wait, and a record refuses negative cycles
        if abs(rest) > 1e-12 * abs(self.cycles):
            out["wait"] += rest
        return out


@dataclass
class Timeline:
    steps: list[Step] = field(default_factory=list)
    # Paid by every step (the task that runs it) and by every step that communicates (the
    # sync that joins its transfers); set by the Fabric from its hardware.
    step_fixed: Cost = ZERO
    comm_fixed: Cost = ZERO

    def add(self, label: str, compute: float = 0.0, comm: float = 0.0, overlap: bool = False,
            repeat: int = 1, tasks: Cost = ZERO) -> None:
        """A step; `tasks`: task activations its program runs after it (Fabric.tasks)."""
        if repeat > 0:
            fixed = self.step_fixed + (self.comm_fixed if comm else ZERO) + tasks
            step = Step(label, Cost.of(compute, "matmul"), Cost.of(comm, "transfer"), overlap,
                        repeat, fixed)
            if not (fastpath.coalescing() and self._fold(step)):
                self.steps.append(step)

    def _fold(self, step: Step) -> bool:
        """Fold `step` into an identical one of the last two (fastpath: sweeps only)."""
        def same(a: Cost, b: Cost) -> bool:
            return float(a) == float(b) and a.parts == b.parts and a.ops == b.ops

        for last in self.steps[-2:]:
            if (last.label == step.label and last.overlap == step.overlap
                    and same(last.compute, step.compute) and same(last.comm, step.comm)
                    and same(last.fixed, step.fixed)):
                last.repeat += step.repeat
                return True
        return False

    @property
    def total(self) -> float:
        return sum(s.cycles for s in self.steps)

    @property
    def compute(self) -> float:
        """Cycles of arithmetic (matmul and element-wise), all of it on the critical path."""
        b = self.breakdown()
        return b["matmul"] + b["elementwise"]

    @property
    def comm_hidden(self) -> float:
        """Communication cycles overlapped by compute (double-buffered steps only)."""
        return sum(min(float(s.comm), float(s.compute)) * s.repeat
                   for s in self.steps if s.overlap)

    @property
    def comm_exposed(self) -> float:
        """Cycles in which the cores wait on communication (total minus compute and fixed)."""
        b = self.breakdown()
        return b["transfer"] + b["latency"] + b["wait"]

    @property
    def comm_critical(self) -> float:
        """Cycles the communication adds to the critical path, whatever their cause: a
        serial step's whole transfer (its messages' set-up and route switches too) and the
        sync that joins it, an overlapped step's transfer beyond its compute. The rest of
        `total` is computation in the sense of the paper's Fig. 9 (result.py)."""
        out = 0.0
        for s in self.steps:
            comm, compute = float(s.comm), float(s.compute)
            exposed = max(0.0, comm - compute) if s.overlap else comm
            joined = float(self.comm_fixed) if comm else 0.0
            out += (exposed + joined) * s.repeat
        return out

    def breakdown(self) -> dict[str, float]:
        """The critical path's cycles by cause (cost.CAUSES); they sum to `total`."""
        out = dict.fromkeys(CAUSES, 0.0)
        for s in self.steps:
            for cause, v in s.breakdown().items():
                out[cause] += v
        return out

    def ops(self) -> dict[str, float]:
        """How many of each construct the timeline charged (cost.CONSTRUCTS; a DSD operation
        as "dsd:<instruction>"), on or off the critical path: what the program issues."""
        out: dict[str, float] = {}
        for s in self.steps:
            for cost in (s.compute, s.comm, s.fixed):
                for k, v in getattr(cost, "ops", {}).items():
                    out[k] = out.get(k, 0) + v * s.repeat
        return out

    def by_label(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for s in self.steps:
            out[s.label] = out.get(s.label, 0.0) + s.cycles
        return out


class Fabric:
    """A px x py grid of cores of one hardware kind, with its memory and route budgets."""

    def __init__(self, hw: Hardware, px: int, py: int, functional: bool):
        if px < 1 or py < 1:
            raise PlanError(f"core grid must be at least 1x1, got {px}x{py}")
        if px > hw.fabric_width or py > hw.fabric_height:
            raise PlanError(
                f"core grid {px}x{py} exceeds the usable {hw.name} fabric "
                f"{hw.fabric_width}x{hw.fabric_height}")
        self.hw = hw
        self.px, self.py = px, py
        self.functional = functional
        # Our schedules run each step as a task and join its transfers with a sync; the
        # authors' kernels pay tasks where they are written (Fabric.tasks: MeshGEMM's and
        # Prefill's four per GEMM step; Decode and MeshGEMV run none).
        if hw.authors_loops:
            self.timeline = Timeline()
        else:
            self.timeline = Timeline(
                step_fixed=priced(hw, fixed={"task_activation_cycles": 1}),
                comm_fixed=priced(hw, fixed={"sync_cycles": 1}))
        self.buffers: dict[str, int] = {}
        self.colors: dict[str, int] = {}

    @property
    def cores(self) -> int:
        return self.px * self.py

    def line_length(self, axis: str) -> int:
        return {"x": self.px, "y": self.py}[axis]

    # --- M: memory -------------------------------------------------------------------
    def alloc(self, name: str, elems: int, bytes_per_elem: int = 2) -> None:
        """Reserve a per-core buffer; fails when the core's SRAM cannot hold the plan."""
        self.buffers[name] = self.buffers.get(name, 0) + int(elems) * bytes_per_elem
        need = self.bytes_per_core
        if need > self.hw.sram_bytes_per_core:
            detail = ", ".join(f"{k}={v}" for k, v in self.buffers.items())
            raise PlanError(
                f"per-core memory exceeded on {self.hw.name}: needs {need} bytes, "
                f"available {self.hw.sram_bytes_per_core} bytes ({detail}); "
                f"use a larger core grid or a smaller shape")

    @property
    def bytes_per_core(self) -> int:
        return sum(self.buffers.values())

    # --- R: routes -------------------------------------------------------------------
    def use_colors(self, name: str, n: int) -> None:
        """Reserve n routable colors for a communication pattern."""
        self.colors[name] = self.colors.get(name, 0) + n
        used = sum(self.colors.values())
        if used > self.hw.routable_colors:
            raise PlanError(
                f"route plan needs {used} colors per core but {self.hw.name} offers "
                f"{self.hw.routable_colors} routable ones ({self.colors})")

    # --- P and L: costs (every one built by cost.priced: counts x prices) ---------------
    def matmul_cycles(self, m: int, k: int, n: int, instruction: str | None = None) -> Cost:
        """Cycles for a core to compute an [m,k] x [k,n] product (accumulated into its
        output) as DSD operations of `instruction` (default: the run's fp16 multiply-accumulate,
        @fmach or @fmachs by hw.accumulate), in the hardware's loop form:
        - "vector": the loop order with the fewest cycles of three, vectors along n (m*k ops),
          along m (k*n ops) or along k (m*n dot products); each op pays `dsd_startup_cycles`
          (fixed) and ceil(length / rate) cycles (matmul).
        - "authors": as the authors' kernels issue it: a GEMV (m = 1) as authors_gemv, a GEMM
          as authors_gemm (a GEMM with one row per core, MeshGEMM's Mt = 1, calls
          authors_gemm itself)."""
        hw = self.hw
        instruction = instruction or hw.mac_instruction
        if hw.authors_loops:
            if min(m, k, n) <= 0:
                return ZERO
            return (self.authors_gemv(k, n, instruction) if m == 1
                    else self.authors_gemm(m, k, n, instruction))
        best = None
        for ops, length, instr in ((m * k, n, instruction), (k * n, m, instruction),
                                   (m * n, k, f"{instruction}_dot")):
            if ops <= 0 or length <= 0:
                continue
            run = math.ceil(length / hw.rate(instr))
            cost = priced(hw, matmul={"": ops * run}, fixed={"dsd_startup_cycles": ops},
                          ops={f"dsd:{instr}": ops})
            if best is None or cost < best:
                best = cost
        return best or ZERO

    def vector_op(self, instruction: str, length: int, count: float = 1,
                  cause: str = "matmul", startup: bool = True) -> Cost:
        """`count` DSD operations of `length` elements: set-up (fixed), ceil(length / rate)
        cycles (`cause`) and, where the operands are unaligned (the authors' arrays), the
        bank-conflict stall on top (wait: the core idles on SRAM). `startup=False`: the
        operation runs on DSRs loaded before (a @map callback's), whose set-up the descriptor
        operations that loaded them pay."""
        hw = self.hw
        if count <= 0 or length <= 0:
            return ZERO
        run = count * math.ceil(length / hw.rate(instruction))
        stall = {"bank_conflict_factor": run, "": -run} if hw.authors_loops else {}
        fixed = {"dsd_startup_cycles": count} if startup else {}
        return priced(hw, ops={f"dsd:{instruction}": count},
                      **{cause: {"": run}, "wait": stall, "fixed": fixed})

    def descriptor_ops(self, count: float) -> Cost:
        """`count` descriptor instructions (@load_to_dsr, @set_dsd_base_addr,
        @increment_dsd_offset, @set_dsd_length): scalar instructions, counted apart."""
        return priced(self.hw, elementwise={"scalar_op_cycles": count},
                      ops={"descriptor_op": count})

    def maps(self, count: float = 1) -> Cost:
        """The start of `count` @maps (each walks its DSD and calls back per element:
        map_elements)."""
        return priced(self.hw, fixed={"map_setup_cycles": count}, ops={"map": count})

    def map_elements(self, count: float) -> Cost:
        """`count` elements of a @map: each calls its callback (the body is charged apart)."""
        return priced(self.hw, fixed={"map_element_cycles": count},
                      ops={"map_element": count})

    def scalar_loop(self, iterations: float, ops_per_iteration: float = 0.0,
                    transcendentals_per_iteration: float = 0.0) -> Cost:
        """A scalar `for` loop: per iteration its control and its body's scalar operations
        (plain ones, and transcendentals: software routines of transcendental_ops each)."""
        return (priced(self.hw, fixed={"scalar_iteration_cycles": iterations},
                       ops={"scalar_iteration": iterations})
                + self.scalar_ops(iterations * ops_per_iteration,
                                  iterations * transcendentals_per_iteration))

    def row_ops(self, instruction: str, rows: int, length: int) -> Cost:
        """A scalar loop of `rows` iterations issuing one DSD operation of `length` elements
        each (the authors' softmax passes: `for i in 0..s: @fmaxh(...)` on DSRs loaded once,
        ELEMENTWISE_DESCRIPTOR_OPS of them, before the loop)."""
        return (self.descriptor_ops(ELEMENTWISE_DESCRIPTOR_OPS) + self.scalar_loop(rows)
                + self.vector_op(instruction, length, rows, cause="elementwise"))

    def tasks(self, count: int) -> Cost:
        """`count` task activations a step of the authors' code runs (the completion tasks
        of its transfers and the next step's task); none under the vector form, whose
        timeline charges a task and a sync per step itself."""
        if not self.hw.authors_loops or count <= 0:
            return ZERO
        return priced(self.hw, fixed={"task_activation_cycles": count}, ops={"task": count})

    def scalar_ops(self, plain: float, transcendental: float = 0.0) -> Cost:
        """Scalar operations outside a loop: `plain` ones (moves, compares, arithmetic, calls)
        and `transcendental` ones (exp, sqrt, a division: a software routine of
        transcendental_ops operations each)."""
        if plain <= 0 and transcendental <= 0:
            return ZERO
        hw = self.hw
        return priced(hw, elementwise={"scalar_op_cycles": plain,
                                       "scalar_op_cycles*transcendental_ops": transcendental},
                      ops={"scalar_op": plain + transcendental * hw.transcendental_ops})

    def authors_gemv(self, k: int, n: int, instruction: str | None = None,
                     setup_ops: int = GEMV_DESCRIPTOR_OPS,
                     loop_ops: int | None = GEMV_LOOP_DESCRIPTOR_OPS) -> Cost:
        """A GEMV as the authors issue it: `setup_ops` descriptor operations, a one-iteration
        loop with `loop_ops` of them (Decode's vecmat_computation; None: no loop, as
        MeshGEMV's mv_compute), and a @map over the k input elements, each an @fmach of
        length n on DSRs (the weight row times the input scalar)."""
        instruction = instruction or self.hw.mac_instruction
        loop = ZERO if loop_ops is None else (self.scalar_loop(1)
                                              + self.descriptor_ops(loop_ops))
        return (self.descriptor_ops(setup_ops) + loop + self.maps(1) + self.map_elements(k)
                + self.vector_op(instruction, n, k, startup=False))

    def authors_gemm(self, m: int, k: int, n: int, instruction: str | None = None) -> Cost:
        """A core's product as the authors' GEMMs issue it (MeshGEMM's mm_compute, Prefill's
        X_matmul; waferrepro.ledger): `for kk in 0..k`, with GEMM_DESCRIPTOR_OPS descriptor
        updates per iteration, of a @map over B's row (n elements), each element an @fmach
        of length m on DSRs (A's column times the element)."""
        instruction = instruction or self.hw.mac_instruction
        if min(m, k, n) <= 0:
            return ZERO
        return (self.scalar_loop(k) + self.descriptor_ops(k * GEMM_DESCRIPTOR_OPS)
                + self.maps(k) + self.map_elements(k * n)
                + self.vector_op(instruction, m, k * n, startup=False))

    def elementwise_cycles(self, elems: float, ops_per_elem: float = 1.0,
                           transcendentals_per_elem: float = 0.0,
                           instruction: str = "fadds") -> Cost:
        """Cycles for element-wise work on `elems` values held by one core: one DSD operation
        per pass over the vector (a transcendental costs `transcendental_ops` passes); under
        the authors' loop form each also loads its operands into DSRs. Work the authors write
        as scalar loops or @maps is priced with scalar_loop / map_elements where it occurs.
        The passes' run is linear in transcendental_ops inside its ceil (cost.Cost's terms:
        the local linear form)."""
        hw = self.hw
        passes = ops_per_elem + transcendentals_per_elem * hw.transcendental_ops
        if elems <= 0 or passes <= 0:
            return ZERO
        rate = hw.rate(instruction)
        run = math.ceil(passes * elems / rate)
        slope = transcendentals_per_elem * elems / rate  # d run / d transcendental_ops
        dsd = priced(hw, elementwise={"": run - slope * hw.transcendental_ops,
                                      "transcendental_ops": slope},
                     fixed={"dsd_startup_cycles": math.ceil(passes)},
                     ops={f"dsd:{instruction}": math.ceil(passes)})
        if hw.authors_loops:  # each DSD operation's operands loaded into DSRs
            return dsd + self.descriptor_ops(math.ceil(passes) * ELEMENTWISE_DESCRIPTOR_OPS)
        return dsd

    def wavelets(self, elems: int, bits: int = 16) -> int:
        """32-bit wavelets needed to move `elems` values over one link: 16-bit values
        `fp16_per_wavelet` to a wavelet (operands, and partial sums under fp16 accumulation),
        32-bit values one each."""
        if bits == 32:
            return int(elems)
        return math.ceil(elems / self.hw.fp16_per_wavelet)

    def route_switches(self, count: int) -> Cost:
        """`count` switches of a line's routes (a control wavelet each)."""
        return priced(self.hw, fixed={"route_switch_cycles": count})

    def message_fixed(self, count: int = 1) -> Cost:
        """What `count` messages cost their program besides the wire: the set-up of the fabric
        DSD operation that sends each."""
        return priced(self.hw, fixed={"fabric_dsd_startup_cycles": count},
                      ops={"fabric_dsd": count})

"""Hardware descriptions of the wafer-scale engines: the one place these facts live.

Every number carries its source. Where no public source gives a value, the entry says
"assumption" and ASSUMPTION_BOUNDS holds its low and high bound (the assumptions' range reruns
the cost model at them); any value can be overridden from config (``hardware_overrides``), so a
user with better data changes it without touching code. The descriptions here are nominal:
the only fitting is the calibration (waferrepro.calibration), on its training files alone
(training.TRAINING_FILES, one per chip), whose profile (profiles/calibrated.json, one for both
chips, loaded by waferrepro.hardware_profiles: get_hardware's default) replaces some
assumptions inside their bounds and says so in every record. This module imports nothing of
the package: it is the bottom of the import graph.

Compute follows the core's datapath: a step's cycles come from the instruction it would use
(ACCUMULATE: @fmach for fp16 accumulation, @fmachs for fp32; the schedule preset picks one and
the cost model, the numeric check and the CSL's MeshGEMM, MeshGEMV, Decode and Prefill follow
it (their `acc32`), its
SIMD width (SDK CSL appendix), the SRAM ports that feed it, and a start-up cost per DSD operation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace

# Device fabric dimensions (SDK docs, `--fabric-dims`): WSE-2 757x996, WSE-3 762x1172
# (--arch=wse3). The one place these live: the SDK commands and the usable fabric below use them.
DEVICE_FABRIC = {"wse2": (757, 996), "wse3": (762, 1172)}
# memcpy's halo: kernels sit at offset (4, 1) in a fabric of (width + 7) x (height + 2).
FABRIC_OFFSETS = (4, 1)
MEMCPY_HALO = (7, 2)


# What a core computes, by accumulate precision (fp16 operands either way): the
# multiply-accumulate, the add of two partial sums, and the accumulator's bits. fp16: @fmach
# and @faddh, what the authors' public kernels (github MeshInfra/WaferLLM) use, and ours in
# kernels/ under paper-kernels (Prefill always); fp32: @fmachs and @fadds, our MeshGEMM,
# MeshGEMV and Decode under full-model. The numeric check rounds accumulators to this width
# (meshsim.precision) and partial sums travel and are stored at it.
# How a kernel's loops issue its operations (Hardware.loop_form).
LOOP_FORMS = ("vector", "authors")

ACCUMULATE = {
    "fp16": {"mac": "fmach", "add": "faddh", "bits": 16},
    "fp32": {"mac": "fmachs", "add": "fadds", "bits": 32},
}


@dataclass(frozen=True)
class Hardware:
    name: str
    # Usable fabric for a kernel (device fabric dims minus the memcpy halo: width-7, height-2).
    fabric_width: int
    fabric_height: int
    # P: per-core compute, per instruction: elements per cycle of a vector (DSD) operation.
    simd_fmach: float   # @fmach:  fp16 multiply, fp16 accumulate
    simd_fmachs: float  # @fmachs: fp16 multiply, fp32 accumulate
    simd_faddh: float   # @faddh:  fp16 add
    simd_fadds: float   # @fadds:  fp32 add (and @fmuls, @fsubs: element-wise work)
    simd_fmovs: float   # @fmovs:  fp32 copy
    simd_fmacs: float   # @fmacs:  fp32 multiply-accumulate
    # SRAM ports of a core: bits read and written per cycle (they cap the SIMD widths).
    sram_read_bits_per_cycle: float
    sram_write_bits_per_cycle: float
    # Fixed costs a CSL program pays: per DSD operation (set-up and pipeline fill), per task
    # (each step of a schedule runs as one), per sync joining a step's transfers, per switch
    # of a pattern's routes (each level of a tree, a reduce turning into a broadcast).
    dsd_startup_cycles: float
    task_activation_cycles: float
    sync_cycles: float
    route_switch_cycles: float
    # Constructs of a CSL program, priced where the kernel issues them (waferrepro.ledger lists
    # where the authors' kernels do): the set-up of a DSD operation with a fabric operand (a
    # send or receive: queue and color on top of the memory DSD's set-up); one element of a
    # `@map` (the call of its callback, whose body's operations are charged on top); one
    # iteration of a scalar `for` loop (index, branch, descriptor updates) and one scalar
    # arithmetic operation in its body; and the stall factor of a vector operation whose
    # operands share an SRAM bank (arrays without `align`, WaferLLM issue #7: IDLE cycles in
    # MeshGEMM traces that vanish with align(8)), 1 when none.
    fabric_dsd_startup_cycles: float
    map_element_cycles: float
    scalar_iteration_cycles: float
    scalar_op_cycles: float
    bank_conflict_factor: float
    # The start of each @map (the DSD operation that walks its iterated DSD and calls the
    # callback per element; map_element_cycles per element). A descriptor instruction
    # (@set_dsd_base_addr, @load_to_dsr, @increment_dsd_offset, @set_dsd_length) is a scalar
    # instruction, priced as one (scalar_op_cycles: the data could not tell them apart).
    map_setup_cycles: float
    # A core that relays a streamed message (a receive-add-send chain: @faddh from a fabric
    # input to a fabric output) delays its first wavelet by this: ramp in, the DSD pipeline,
    # ramp out (Luczynski et al., HPDC 2024, model it as 2*T_R + 1).
    relay_cycles: float
    # The fraction of the authors' per-step score reduce chain's relay latency that each
    # step waits for (meshsim.prefill: 1 as their synchronous code reads, 0 when consecutive
    # chains pipeline).
    reduce_chain_exposed: float
    # M: per-core memory.
    sram_bytes_per_core: int
    # L: latencies in cycles.
    hop_latency_cycles: float
    ramp_latency_cycles: float
    # R: routing.
    route_colors_per_core: int
    routable_colors: int
    link_bits_per_cycle: int
    fp16_per_wavelet: int
    # Accumulator precision of the program (ACCUMULATE): a schedule choice that the presets
    # set (waferrepro.presets), kept here beside fp16_per_wavelet so every cost follows it.
    accumulate: str
    # How a kernel's loops issue its operations (LOOP_FORMS), the presets' other choice kept
    # here for the same reason: "authors" as the authors' WSE-2 kernels write them (@map
    # callbacks and scalar loops, waferrepro.ledger), "vector" as our schedules (one DSD
    # operation per vector, the cheapest loop order).
    loop_form: str
    # Element-wise ops charged per transcendental (exp, rsqrt, reciprocal), which the WSE has
    # no single instruction for.
    transcendental_ops: float
    # Clock and power.
    clock_hz: float
    clock_source: str
    system_power_w: float
    system_power_source: str
    # Where the construct costs came from: "" for the nominal description, else the
    # calibrated profile's statement ("calibrated on results/reference/training.csv (N
    # points)", waferrepro.calibration) and its band: a calibrated value's low..high is
    # value x exp(-+band_log_half_width) (the leave-one-out RMS log error).
    calibration: str = field(default="", compare=False)
    band_log_half_width: float = field(default=0.0, compare=False)
    # The fields the user set through hardware_overrides (hardware_profiles.get_hardware):
    # their data, which presets keep and bands and sweeps never vary, even where it equals the
    # nominal value.
    user_set: frozenset = field(default=frozenset(), compare=False, repr=False)

    @property
    def peak_flops_per_core_per_cycle(self) -> float:
        """The marketing peak: @fmach (fp16 accumulate) at full SIMD width."""
        return 2.0 * self.simd_fmach

    def rate(self, instruction: str) -> float:
        """Elements per cycle of a DSD operation: its SIMD width, capped by the SRAM ports
        (INSTRUCTIONS gives the bits each element reads and writes)."""
        width, read, write = INSTRUCTIONS[instruction]
        caps = [getattr(self, width), self.sram_read_bits_per_cycle / read]
        if write:
            caps.append(self.sram_write_bits_per_cycle / write)
        return min(caps)

    def __post_init__(self):
        if self.accumulate not in ACCUMULATE:
            raise ValueError(f"accumulate must be one of {sorted(ACCUMULATE)}, "
                             f"got {self.accumulate!r}")
        if self.loop_form not in LOOP_FORMS:
            raise ValueError(f"loop_form must be one of {LOOP_FORMS}, got {self.loop_form!r}")

    @property
    def authors_loops(self) -> bool:
        """Whether kernels are priced as the authors' code issues them (loop_form)."""
        return self.loop_form == "authors"

    @property
    def mac_instruction(self) -> str:
        """The fp16 multiply-accumulate of this accumulate precision (@fmach or @fmachs)."""
        return ACCUMULATE[self.accumulate]["mac"]

    @property
    def acc_add_instruction(self) -> str:
        """The add of two partial sums (@faddh or @fadds)."""
        return ACCUMULATE[self.accumulate]["add"]

    @property
    def acc_bits(self) -> int:
        """Bits of an accumulator value: partial sums travel and are stored at this width."""
        return ACCUMULATE[self.accumulate]["bits"]

    @property
    def sram_label(self) -> str:
        """Per-core SRAM as notes print it, e.g. '48 KB/core' (follows hardware_overrides)."""
        return f"{self.sram_bytes_per_core / 1024:g} KB/core"

    def as_dict(self) -> dict:
        out = asdict(self)
        out.pop("user_set")
        return out

    @property
    def profile(self) -> str:
        """The profile's name: "wse2-calibrated" or "wse2" (nominal)."""
        return f"{self.name}-calibrated" if self.calibration else self.name


WSE2 = Hardware(
    name="wse2",
    # Device fabric 757x996 (SDK docs, `--fabric-dims` for a CS-2); memcpy takes 7 columns and
    # 2 rows (fabric-offsets 4,1 plus the east halo), leaving 750x994 for the kernel.
    fabric_width=DEVICE_FABRIC["wse2"][0] - MEMCPY_HALO[0],
    fabric_height=DEVICE_FABRIC["wse2"][1] - MEMCPY_HALO[1],
    # SIMD widths: Cerebras SDK, CSL language appendix, SIMD-width table (WSE-2 column).
    # @fmach's 4 agrees with the marketing peak: ~7.5 PFLOP/s dense fp16 per WSE-2 (Andromeda:
    # 120 PFLOP/s from 16 CS-2s, press release 2022-11) over 850,000 cores at 1.1 GHz.
    simd_fmach=4, simd_fmachs=2, simd_faddh=4, simd_fadds=2, simd_fmovs=2,
    # Assumption: fp32 @fmacs is not in the table; 1 per cycle (bounds in ASSUMPTION_BOUNDS).
    simd_fmacs=1,
    # SRAM ports: two 32-bit reads and one 32-bit write per cycle, the SDK CSL appendix's
    # wording, so a three-operand fp16 op (@fmach: 32 bits read and 16 written per element)
    # runs at 2 a cycle, not the SIMD table's 4. Hot Chips 34 (2022) drew two 64-bit reads
    # and a 64-bit write (the upper bound). The training set agrees with the SDK: Table 3's
    # LLaMA3-8B prefill points, whose GEMMs are @fmach runs of 6 to 9 elements, come within
    # 3% with these ports and 12% with Hot Chips' (issue 23; nothing else changed).
    sram_read_bits_per_cycle=64, sram_write_bits_per_cycle=32,
    # Assumptions (no public cycle counts; bounds in ASSUMPTION_BOUNDS).
    dsd_startup_cycles=4, task_activation_cycles=5, sync_cycles=5, route_switch_cycles=3,
    # Assumptions, the constructs' costs (no public cycle counts; bounds in ASSUMPTION_BOUNDS):
    # a fabric DSD's set-up as a memory one's; a @map element and a scalar loop iteration a few
    # instructions each (call/return; index, compare, branch); one scalar fp op per cycle; no
    # bank-conflict stall (the calibration, waferrepro.calibration, fits those it can pin).
    fabric_dsd_startup_cycles=4, map_element_cycles=4, scalar_iteration_cycles=4,
    scalar_op_cycles=1, bank_conflict_factor=1.0,
    # Assumptions: a @map's start as a DSD operation's set-up; a relay 2*T_R + 1 at the
    # nominal ramp (bounds in ASSUMPTION_BOUNDS).
    map_setup_cycles=4, relay_cycles=5,
    # Assumption: every step waits for its whole chain, as the code reads (bounds 0..1).
    reduce_chain_exposed=1.0,
    # 48 KB SRAM per core (Cerebras WSE-2 product brief; Hot Chips 34, 2022).
    sram_bytes_per_core=48 * 1024,
    # One cycle per hop: Cerebras SDK examples and WaferLLM's launchers align per-core timestamps
    # assuming one cycle per hop.
    hop_latency_cycles=1.0,
    # Core<->router ramp latency T_R of Luczynski et al., "Near-Optimal Wafer-Scale Reduce"
    # (HPDC 2024), whose model charges (2*T_R + 1) cycles per core that relays and reduces.
    # Assumption: 2 cycles; not verified here, override with hardware_overrides.
    ramp_latency_cycles=2.0,
    # 5-bit route id -> 32 colors per core (Cerebras SDK docs, "colors"); of these only 24
    # (0-23) are routable on the fabric (SDK 1.x docs), which is the limit a plan must respect.
    route_colors_per_core=32,
    routable_colors=24,
    # Router moves one 32-bit wavelet per cycle per link (Cerebras SDK docs, "wavelets").
    link_bits_per_cycle=32,
    # Assumption: fabric DSDs of 16-bit type send one element per 32-bit wavelet (no packing),
    # as in the SDK's GEMV examples. Set to 2 to model packed fp16 transfers.
    fp16_per_wavelet=1,
    # full-model's accumulate precision and loop form (the bare description's); presets.hardware
    # sets each preset's own (the default preset, paper-kernels: fp16, authors).
    accumulate="fp32",
    loop_form="vector",
    # Assumption: a transcendental costs about 10 ops (a short polynomial/Newton evaluation in
    # software); no public per-op cycle count for the WSE math library.
    transcendental_ops=10.0,
    # WaferLLM's launchers convert cycles to seconds at 1.1 GHz (Cerebras examples use 850 MHz).
    clock_hz=1.1e9,
    clock_source="WaferLLM launchers convert cycles at 1.1 GHz",
    # CS-2 system: up to 23 kW peak (Cerebras CS-2 datasheet); ~15 kW typical is the figure
    # implied by Andromeda press material (16 CS-2 at ~500 kW incl. host). We use the datasheet
    # peak as the conservative (energy-unfavourable to the wafer) choice.
    system_power_w=23_000.0,
    system_power_source="Cerebras CS-2 datasheet: 23 kW maximum system power",
)

WSE3 = replace(
    WSE2,
    name="wse3",
    # Device fabric 762x1172 with --arch=wse3 (SDK docs); minus the memcpy halo.
    fabric_width=DEVICE_FABRIC["wse3"][0] - MEMCPY_HALO[0],
    fabric_height=DEVICE_FABRIC["wse3"][1] - MEMCPY_HALO[1],
    # SIMD widths: SDK CSL language appendix, SIMD-width table (WSE-3 column).
    simd_fmach=8, simd_fmachs=4, simd_faddh=8, simd_fadds=4, simd_fmovs=4,
    # Assumptions: @fmacs twice WSE-2's; SRAM ports twice WSE-2's, as the SDK's SIMD table
    # doubles every width: @fmach then runs at 4 a cycle, not the table's 8 (the measured
    # WSE-3 MeshGEMM steps up at Mt = 8, training-wse3.csv, as a run of 2 cycles, not 1).
    simd_fmacs=2, sram_read_bits_per_cycle=128, sram_write_bits_per_cycle=64,
    # 44 GB on-chip SRAM over 900,000 cores = ~48 KB per core (Cerebras WSE-3 launch, 2024-03).
    sram_bytes_per_core=48 * 1024,
    # CS-3: 23 kW (Cerebras CS-3 datasheet).
    system_power_w=23_000.0,
    system_power_source="Cerebras CS-3 datasheet: 23 kW system power",
)

HARDWARE = {hw.name: hw for hw in (WSE2, WSE3)}

# Per instruction: (SIMD-width field, SRAM bits read per element, bits written per element).
# Vector forms read the vector operand and the accumulator and write the accumulator (the
# other multiplicand is a scalar in a register); "_dot" forms reduce a vector product into a
# register (reads both operands, writes nothing per element).
INSTRUCTIONS = {
    "fmach": ("simd_fmach", 32, 16),
    "fmach_dot": ("simd_fmach", 32, 0),
    "fmachs": ("simd_fmachs", 48, 32),
    "fmachs_dot": ("simd_fmachs", 32, 0),
    "fmacs": ("simd_fmacs", 64, 32),
    "fmacs_dot": ("simd_fmacs", 64, 0),
    "faddh": ("simd_faddh", 32, 16),
    "fadds": ("simd_fadds", 64, 32),
    "fmovs": ("simd_fmovs", 32, 32),
    # Assumption: a 16-bit move (@fmovh) as wide as the 16-bit add (the SIMD table lists none).
    "fmovh": ("simd_faddh", 16, 16),
}

_WSE2_BOUNDS = {
    # field: (low, high, why). Bands (waferrepro.bands) rerun the cost model with every
    # assumption at its optimistic and at its pessimistic bound.
    "ramp_latency_cycles": (1, 4, "core<->router ramp T_R (Luczynski et al., HPDC 2024); "
                                  "not measured here"),
    "transcendental_ops": (5, 30, "no public cycle count for the WSE math library"),
    "simd_fmacs": (1, 2, "fp32 @fmacs is absent from the SDK's SIMD table"),
    "sram_read_bits_per_cycle": (64, 128, "SDK appendix: two 32-bit reads; Hot Chips 34: "
                                          "two 64-bit reads"),
    "sram_write_bits_per_cycle": (32, 64, "SDK appendix: one 32-bit write; Hot Chips 34: "
                                          "one 64-bit write"),
    "dsd_startup_cycles": (1, 10, "set-up and pipeline fill of a DSD operation: not published"),
    "task_activation_cycles": (1, 20, "hardware task picker; per-task cost not published"),
    "sync_cycles": (0, 20, "joining a step's transfers (completion tasks); not published"),
    "route_switch_cycles": (1, 10, "a router position switch (control wavelet); not published"),
    "fabric_dsd_startup_cycles": (1, 40, "set-up of a send or receive DSD (queue, color): "
                                         "not published"),
    "map_element_cycles": (1, 30, "a @map callback's call and return per element: not "
                                  "published"),
    "scalar_iteration_cycles": (1, 30, "a scalar loop's index, compare and branch: not "
                                       "published"),
    "scalar_op_cycles": (1, 10, "one scalar fp16/fp32 operation: not published"),
    "bank_conflict_factor": (1.0, 2.0, "SRAM bank conflicts of unaligned operands (WaferLLM "
                                       "issue #7); 2: one operand's reads serialized"),
    "map_setup_cycles": (1, 40, "the start of a @map (a DSD operation with a callback): not "
                                "published"),
    "relay_cycles": (3, 20, "a core's receive-add-send of a streamed wavelet (ramp in, DSD "
                            "pipeline, ramp out; 2*T_R + 1 in Luczynski et al., HPDC 2024): "
                            "not measured directly"),
    "hop_latency_cycles": (1, 3, "one router hop: SDK examples and the authors' launchers align "
                                 "timestamps at 1 cycle per hop; not published for WSE-3"),
    "reduce_chain_exposed": (0.0, 1.0, "the authors' score reduce chain is synchronous, but "
                                       "its root moves every step and rows drift apart: "
                                       "how much of it pipelines is not measured"),
    "clock_hz": (0.85e9, 1.1e9, "WaferLLM's launchers convert at 1.1 GHz, Cerebras's SDK "
                                "examples at 850 MHz"),
}
ASSUMPTION_BOUNDS = {
    "wse2": _WSE2_BOUNDS,
    "wse3": {**_WSE2_BOUNDS,
             "simd_fmacs": (1, 4, "fp32 @fmacs is absent from the SDK's SIMD table"),
             "sram_read_bits_per_cycle": (128, 256, "twice WSE-2's, as the SIMD table; four "
                                                    "times, Hot Chips 34's WSE-2 reads"),
             "sram_write_bits_per_cycle": (64, 128, "twice WSE-2's, as the SIMD table; four "
                                                    "times, Hot Chips 34's WSE-2 write")},
}
# Assumptions whose higher value makes a run faster (for the rest, lower is faster).
HIGHER_IS_FASTER = {"simd_fmacs", "sram_read_bits_per_cycle", "sram_write_bits_per_cycle",
                    "clock_hz"}

# The hardware facts (every field but the bookkeeping).
FIELDS = {f.name for f in fields(Hardware)} - {"user_set", "calibration",
                                               "band_log_half_width"}

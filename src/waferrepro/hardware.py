"""Hardware descriptions of the wafer-scale engines: the one place these facts live.

Every number carries its source. Where no public source gives a value, the entry says
"assumption", and the value can be overridden from config (``hardware_overrides``), so a user
with better data changes it without touching code. Nothing here is tuned to reproduce a
published result.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

# Device fabric dimensions (SDK docs, `--fabric-dims`): WSE-2 757x996, WSE-3 762x1172
# (--arch=wse3). The one place these live: the SDK commands and the usable fabric below use them.
DEVICE_FABRIC = {"wse2": (757, 996), "wse3": (762, 1172)}
# memcpy's halo: kernels sit at offset (4, 1) in a fabric of (width + 7) x (height + 2).
FABRIC_OFFSETS = (4, 1)
MEMCPY_HALO = (7, 2)


@dataclass(frozen=True)
class Hardware:
    name: str
    # Usable fabric for a kernel (device fabric dims minus the memcpy halo: width-7, height-2).
    fabric_width: int
    fabric_height: int
    # P: per-core compute.
    fp16_fmacs_per_cycle: float
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
    # Element-wise work (RMSNorm, RoPE, softmax, SiLU): SIMD ops per cycle, and ops charged per
    # transcendental (exp, rsqrt, reciprocal), which the WSE has no single instruction for.
    elementwise_ops_per_cycle: float
    transcendental_ops: float
    # Clock and power.
    clock_hz: float
    clock_source: str
    system_power_w: float
    system_power_source: str

    @property
    def peak_flops_per_core_per_cycle(self) -> float:
        return 2.0 * self.fp16_fmacs_per_cycle

    @property
    def sram_label(self) -> str:
        """Per-core SRAM as notes print it, e.g. '48 KB/core' (follows hardware_overrides)."""
        return f"{self.sram_bytes_per_core / 1024:g} KB/core"

    def as_dict(self) -> dict:
        return asdict(self)


WSE2 = Hardware(
    name="wse2",
    # Device fabric 757x996 (SDK docs, `--fabric-dims` for a CS-2); memcpy takes 7 columns and
    # 2 rows (fabric-offsets 4,1 plus the east halo), leaving 750x994 for the kernel.
    fabric_width=DEVICE_FABRIC["wse2"][0] - MEMCPY_HALO[0],
    fabric_height=DEVICE_FABRIC["wse2"][1] - MEMCPY_HALO[1],
    # ~7.5 PFLOP/s dense fp16 per WSE-2 (Andromeda: 120 PFLOP/s from 16 CS-2s, Cerebras press
    # release 2022-11) over 850,000 cores at 1.1 GHz -> ~8 FLOP = 4 FMAC per core per cycle.
    fp16_fmacs_per_cycle=4.0,
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
    # Assumption: element-wise fp16 ops run at the FMAC SIMD width (4 per cycle).
    elementwise_ops_per_cycle=4.0,
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
    # WSE-3: 900,000 cores, 125 PFLOP/s peak fp16 with sparsity (Cerebras WSE-3 launch, 2024-03);
    # the dense per-core rate is not published; assumption: same 4 fp16 FMAC/cycle as WSE-2.
    fp16_fmacs_per_cycle=4.0,
    # 44 GB on-chip SRAM over 900,000 cores = ~48 KB per core (Cerebras WSE-3 launch, 2024-03).
    sram_bytes_per_core=48 * 1024,
    # CS-3: 23 kW (Cerebras CS-3 datasheet).
    system_power_w=23_000.0,
    system_power_source="Cerebras CS-3 datasheet: 23 kW system power",
)

HARDWARE = {hw.name: hw for hw in (WSE2, WSE3)}

_FIELDS = {f.name for f in fields(Hardware)}


def get_hardware(name: str, overrides: dict | None = None) -> Hardware:
    """The named hardware description, with config overrides applied (unknown keys rejected)."""
    try:
        hw = HARDWARE[name]
    except KeyError:
        raise ValueError(f"unknown hardware {name!r}; known: {sorted(HARDWARE)}") from None
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - _FIELDS - {"name"})
    if unknown:
        raise ValueError(f"unknown hardware override(s) {unknown}; known: {sorted(_FIELDS)}")
    overrides.pop("name", None)
    return replace(hw, **overrides) if overrides else hw

"""The goldens' independent check: the authors' MeshGEMM and MeshGEMV cycles in closed form,
from the ledger's construct counts times the hardware's prices and the geometry of their
messages (issue 24: a golden re-records the model's output; this derives it another way).

MeshGEMM (one timed run, the shifts hidden under each step's product, asserted): every
charged construct of ledger.MESHGEMM at its price, the @fmach runs at the SRAM-capped rate,
and P/2 pre-skew rounds of a two-hop shift (ramp out and in, its wavelets, no DSD set-up:
the launch is counted). MeshGEMV (the farthest core's loop): the ledger's constructs, then
each tree level's two sides (the tail's stream received first, then the head's: hops,
ramps, the members relaying each, the root's wavelets and second set-up) and the
broadcast, with the authors' roots (run_wse3.sh)."""

import math

import pytest

from waferrepro import ledger, presets
from waferrepro.hardware import WSE2, WSE3
from waferrepro.hardware_profiles import calibrated
from waferrepro.meshsim import simulate

PRESET = "paper-kernels"
HARDWARE = {"wse2 nominal": WSE2, "wse3 nominal": WSE3, "wse2 calibrated": calibrated(WSE2),
            "wse3 calibrated": calibrated(WSE3)}


def _price(counts: dict, hw, run_fmach: int, run_fmovh: int) -> float:
    """The ledger's constructs at their prices (a DSD run at its rate, with its set-up where
    it has one)."""
    return (hw.scalar_op_cycles * (counts["scalar_op"] + counts["descriptor_op"])
            + hw.scalar_iteration_cycles * counts.get("scalar_iteration", 0)
            + hw.map_setup_cycles * counts["map"] + hw.map_element_cycles * counts["map_element"]
            + hw.bank_conflict_factor * counts["dsd:fmach"] * run_fmach
            + counts["dsd:fmovh"] * (hw.dsd_startup_cycles + run_fmovh)
            + hw.task_activation_cycles * counts["task"]
            + hw.fabric_dsd_startup_cycles * counts["fabric_dsd"])


def meshgemm_cycles(hw, p: int, mt: int, kt: int, nt: int) -> float:
    counts = ledger.expected("MeshGEMM", ledger.Dims(P=p, Mt=mt, Kt=kt, Nt=nt))
    rate = hw.rate("fmach")
    hops = 2 if p > 2 else 1  # the interleaved ring: every logical neighbour two hops away
    round_wire = 2 * hw.ramp_latency_cycles + hops * hw.hop_latency_cycles + math.ceil(
        (mt * kt // 2 * 2) / hw.fp16_per_wavelet)
    return (_price(counts, hw, math.ceil(mt / rate), math.ceil(mt * nt / hw.rate("fmovh")))
            + (p // 2) * round_wire)


def _arrive(hw, far: int, members: int) -> float:
    """A side's stream reaching its root: the sender's set-up, two ramps, its hops and the
    members between relaying it."""
    return (hw.fabric_dsd_startup_cycles + 2 * hw.ramp_latency_cycles
            + far * hw.hop_latency_cycles + (members - 1) * hw.relay_cycles)


def _level(hw, size: int, root: int, spacing: int, wavelets: int) -> float:
    """One tree level over `size` members `spacing` hops apart, rooted at index `root`: the
    tail side's stream (the members after the root) is received first, then the head
    side's, after the root's second set-up."""
    head, tail = root, size - 1 - root
    sides = [_arrive(hw, n * spacing, n) for n in (tail, head) if n]
    if len(sides) == 1:
        return sides[0] + wavelets
    return max(sides[0] + wavelets, sides[1]) + hw.fabric_dsd_startup_cycles + wavelets


def meshgemv_cycles(hw, p: int, group_num: int, mt: int, nt: int) -> float:
    pe = p // group_num
    r2 = (group_num // 2) * pe + pe // 2
    counts = ledger.expected("MeshGEMV", ledger.Dims(P=p, Mt=mt, Nt=nt, G=group_num))
    counts["fabric_dsd"] = 0  # priced with each stream below
    wavelets = math.ceil(nt / hw.fp16_per_wavelet)
    level1 = _level(hw, pe, pe // 2, 1, wavelets)
    level2 = _level(hw, group_num, group_num // 2, pe, wavelets)
    bcast = _arrive(hw, max(r2, p - 1 - r2), 1) + wavelets
    return (_price(counts, hw, math.ceil(nt / hw.rate("fmach")),
                   math.ceil(nt / hw.rate("fmovh"))) + level1 + level2 + bcast)


@pytest.mark.parametrize("name", sorted(HARDWARE))
@pytest.mark.parametrize("p,shape", [(16, (16, 16, 16)), (16, (128, 128, 128)),
                                     (80, (80, 640, 160)), (144, (1152, 144, 432)),
                                     (720, (5760, 5760, 5760))])
def test_meshgemm_is_its_ledger_at_its_prices(name, p, shape):
    hw = presets.hardware(HARDWARE[name], PRESET)
    run = simulate("MeshGEMM", shape, p, p, hw, False,
                   kernel=presets.kernel("MeshGEMM", PRESET)).run
    mt, kt, nt = (v // p for v in shape)
    steps = run.fabric.timeline.steps
    assert all(float(s.comm) <= float(s.compute) for s in steps if s.overlap)  # hidden
    assert run.cycles == pytest.approx(meshgemm_cycles(hw, p, mt, kt, nt), rel=1e-12)


@pytest.mark.parametrize("name", sorted(HARDWARE))
@pytest.mark.parametrize("p,group_num,shape", [(16, 2, (1, 16, 16)), (16, 8, (1, 128, 48)),
                                               (80, 4, (1, 240, 640)), (144, 8, (1, 1152, 144)),
                                               (720, 2, (1, 5760, 1440)),
                                               (720, 24, (1, 16560, 16560))])
def test_meshgemv_is_its_ledger_at_its_prices(name, p, group_num, shape):
    hw = presets.hardware(HARDWARE[name], PRESET)
    run = simulate("MeshGEMV", shape, p, p, hw, False,
                   kernel=presets.kernel("MeshGEMV", PRESET, group_num)).run
    assert run.cycles == pytest.approx(
        meshgemv_cycles(hw, p, group_num, shape[1] // p, shape[2] // p), rel=1e-12)

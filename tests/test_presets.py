"""Schedule presets: both run every kernel correctly; the paper's kernels' options do what
they claim."""

import pytest

from waferrepro import presets, records, tables
from waferrepro.hardware import WSE2
from waferrepro.jobs.meshsim import run_meshsim
from waferrepro.meshsim import SYSTEMS, simulate


@pytest.mark.parametrize("preset", sorted(presets.PRESETS))
@pytest.mark.parametrize("system", sorted(SYSTEMS))
@pytest.mark.parametrize("p", [5, 8])
def test_every_kernel_matches_numpy_under_every_preset(preset, system, p):
    shape = (1, 300, 200) if "GEMV" in system else (40, 56, 24)
    hw = presets.hardware(WSE2, preset)
    out = simulate(system, shape, p, p, hw, True, kernel=presets.kernel(system, preset))
    assert out.check.passed
    model = simulate(system, shape, p, p, hw, False, kernel=presets.kernel(system, preset))
    assert model.run.cycles == out.run.cycles  # the cycle model runs the same schedule


def test_middle_roots_about_halve_the_tree_and_broadcast_hops():
    def comm(preset):
        run = simulate("MeshGEMV", (1, 16384, 16384), 720, 720, WSE2, False,
                       kernel=presets.kernel("MeshGEMV", preset)).run
        return run.fabric.timeline.breakdown()["latency"]
    ratio = comm("paper-kernels") / comm("full-model")
    assert 0.4 < ratio < 0.6


def test_device_skew_is_timed_and_packing_halves_fp16_wavelets():
    full = simulate("MeshGEMM", (2048,) * 3, 240, 240, WSE2, False,
                    kernel=presets.kernel("MeshGEMM", "full-model")).run
    paper = simulate("MeshGEMM", (2048,) * 3, 240, 240, presets.hardware(WSE2, "paper-kernels"),
                     False, kernel=presets.kernel("MeshGEMM", "paper-kernels")).run
    skew = paper.fabric.timeline.by_label()["A pre-skew on the device (x)"]
    assert skew > 0 and "A pre-skew on the device (x)" not in full.fabric.timeline.by_label()
    assert presets.hardware(WSE2, "paper-kernels").fp16_per_wavelet == 2


def test_records_and_tables_name_the_preset(tmp_path):
    rec = run_meshsim("MeshGEMV", "1x512x512", "8x8", WSE2, "functional", preset="paper-kernels")
    assert rec["what"]["preset"] == "paper-kernels"
    assert rec["what"]["params"]["schedule"]["tree_root"] == "middle"
    table = tables.build("t", [records.write(rec, tmp_path / "r.json")])
    assert set(table["preset"]) == {"paper-kernels"}

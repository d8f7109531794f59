import itertools

import numpy as np
import pytest

from waferrepro import meshsim
from waferrepro.check import NumericMismatch
from waferrepro.hardware import WSE2, WSE3
from waferrepro.hardware_profiles import get_hardware
from waferrepro.meshsim import comm, gemm, simulate
from waferrepro.meshsim.fabric import Fabric, PlanError

GEMM_SYSTEMS = ["MeshGEMM", "Cannon", "SUMMA"]
GEMV_SYSTEMS = ["MeshGEMV", "chain-GEMV"]


@pytest.mark.parametrize("system", GEMM_SYSTEMS)
@pytest.mark.parametrize("shape,p", [((37, 53, 29), 4), ((64, 64, 64), 8), ((100, 130, 70), 5)])
def test_gemm_functional_matches_numpy_uneven_shapes(system, shape, p):
    out = simulate(system, shape, p, p, WSE2, functional=True, seed=3)
    assert out.check.passed and out.check.max_rel_err < 1e-5
    assert out.run.output.shape == (shape[0], shape[2])


@pytest.mark.parametrize("system", GEMV_SYSTEMS)
@pytest.mark.parametrize("shape,px,py", [((1, 300, 200), 8, 8), ((1, 517, 131), 8, 4),
                                          ((1, 64, 1000), 3, 16), ((1, 9, 9), 1, 1)])
def test_gemv_functional_matches_numpy(system, shape, px, py):
    out = simulate(system, shape, px, py, WSE2, functional=True, seed=1)
    assert out.check.passed


@pytest.mark.parametrize("system,shape,px,py", [
    ("MeshGEMM", (96, 80, 64), 8, 8), ("Cannon", (96, 80, 64), 8, 8),
    ("SUMMA", (96, 80, 64), 8, 8), ("MeshGEMV", (1, 700, 300), 16, 8),
    ("chain-GEMV", (1, 700, 300), 16, 8)])
def test_functional_and_cycle_model_agree(system, shape, px, py):
    f = simulate(system, shape, px, py, WSE2, functional=True)
    c = simulate(system, shape, px, py, WSE2, functional=False)
    assert c.check is None and c.run.output is None
    assert f.run.metrics() == c.run.metrics()


def _skipping_shift():
    """A broken ring shift that drops the 3rd shift along x (data left in place)."""
    x_shifts = itertools.count(1)

    def shift(fab, data, axis, elems, interleaved, bits=16):
        if axis == "x" and next(x_shifts) == 3:
            return data, comm.ring_shift(fab, None, axis, elems, interleaved, bits)[1]
        return comm.ring_shift(fab, data, axis, elems, interleaved, bits)

    return shift


def test_skipped_shift_is_caught(monkeypatch):
    monkeypatch.setattr(gemm, "ring_shift", _skipping_shift())
    with pytest.raises(NumericMismatch, match="MeshGEMM"):
        simulate("MeshGEMM", (64, 64, 64), 8, 8, WSE2, functional=True)


def test_missing_broadcast_is_caught(monkeypatch):
    from waferrepro.meshsim import gemv
    monkeypatch.setattr(gemv, "broadcast",
                        lambda fab, data, axis, root, elems, bits=16: (data, 0.0))
    with pytest.raises(NumericMismatch):
        simulate("MeshGEMV", (1, 256, 256), 4, 4, WSE2, functional=True)


def test_wrong_preskew_is_caught(monkeypatch):
    import waferrepro.host as host

    monkeypatch.setattr(host, "cannon_preskew", lambda a, b: (a, b))  # alignment forgotten
    with pytest.raises(NumericMismatch):
        simulate("Cannon", (32, 32, 32), 4, 4, WSE2, functional=True)


def test_memory_overflow_reports_bytes():
    with pytest.raises(PlanError, match=r"needs \d+ bytes, available 49152 bytes"):
        simulate("MeshGEMM", (8192, 8192, 8192), 60, 60, WSE2, functional=False)


def test_route_budget_enforced():
    hw = get_hardware("wse2", {"routable_colors": 3})
    with pytest.raises(PlanError, match="colors"):
        simulate("MeshGEMM", (64, 64, 64), 4, 4, hw, functional=False)


def test_grid_larger_than_fabric_rejected():
    with pytest.raises(PlanError, match="exceeds"):
        Fabric(WSE2, 800, 800, functional=False)
    Fabric(WSE3, 755, 1170, functional=False)


def test_gemm_needs_square_grid():
    with pytest.raises(PlanError, match="square"):
        simulate("MeshGEMM", (64, 64, 64), 8, 4, WSE2, functional=False)


def test_interleaved_shift_is_two_hops_plain_is_line():
    fab = Fabric(WSE2, 100, 1, functional=False)
    _, inter = comm.ring_shift(fab, None, "x", 10, interleaved=True)
    _, plain = comm.ring_shift(fab, None, "x", 10, interleaved=False)
    r = 2 * WSE2.ramp_latency_cycles + WSE2.dsd_startup_cycles  # ramps, the send's DSD op
    assert inter == 10 + 2 * WSE2.hop_latency_cycles + r
    assert plain == 10 + 99 * WSE2.hop_latency_cycles + r
    assert inter.parts == {"transfer": 10, "latency": 2 + 2 * WSE2.ramp_latency_cycles,
                           "fixed": WSE2.dsd_startup_cycles}


def test_tree_reduce_levels_and_sum():
    fab = Fabric(WSE2, 1, 16, functional=True)
    data = np.arange(16, dtype=np.float64).reshape(16, 1, 1)
    out, cycles_tree, levels = comm.tree_reduce(fab, data.copy(), "y", 1, levels=2)
    assert levels == 2 and out[0, 0, 0] == data.sum()
    out, cycles_chain, levels = comm.tree_reduce(fab, data.copy(), "y", 1, levels=1)
    assert levels == 1 and out[0, 0, 0] == data.sum()
    assert cycles_tree < cycles_chain


def test_neighbour_shift_moves_one_hop():
    fab = Fabric(WSE2, 4, 2, functional=True)
    data = np.arange(8, dtype=np.float32).reshape(2, 4, 1)
    moved, cycles = comm.neighbour_shift(fab, data, "x", 1)
    assert (moved[:, 1:, 0] == data[:, :-1, 0]).all() and (moved[:, 0] == 0).all()
    assert cycles == (1 + WSE2.hop_latency_cycles + 2 * WSE2.ramp_latency_cycles
                      + WSE2.dsd_startup_cycles)


@pytest.mark.parametrize("system,shape", [("MeshGEMM", (32768, 32768, 32768)),
                                          ("Cannon", (8192, 8192, 8192)),
                                          ("SUMMA", (8192, 8192, 8192)),
                                          ("MeshGEMV", (1, 32768, 32768)),
                                          ("chain-GEMV", (1, 32768, 32768))])
def test_cycle_model_runs_at_paper_scale(system, shape):
    out = simulate(system, shape, 750, 750, WSE2, functional=False)
    m = out.run.metrics()
    assert 0 < m["utilization"][0] <= 1 and 0 < m["compute_efficiency"][0] <= 1
    assert m["cycles"][0] == pytest.approx(m["compute_cycles"][0] + m["comm_cycles"][0]
                                           + m["cycles_fixed"][0])


def test_meshgemv_beats_chain_at_scale():
    tree = simulate("MeshGEMV", (1, 16384, 16384), 600, 600, WSE2, functional=False)
    chain = simulate("chain-GEMV", (1, 16384, 16384), 600, 600, WSE2, functional=False)
    assert tree.run.cycles < chain.run.cycles


def test_unknown_system_and_override():
    with pytest.raises(ValueError, match="unknown meshsim system"):
        simulate("FooGEMM", (1, 2, 3), 1, 1, WSE2, functional=False)
    with pytest.raises(ValueError, match="unknown key .clock_ghz."):
        get_hardware("wse2", {"clock_ghz": 1})
    assert set(meshsim.SYSTEMS) == set(meshsim.MODULE_OF)


# --- the authors' SUMMA (meshsim.summa, paper-kernels) and Figure 9's compute efficiency ---

def _paper(hw=WSE2):
    from waferrepro import presets
    return presets.hardware(hw, "paper-kernels"), presets.kernel("SUMMA", "paper-kernels")


@pytest.mark.parametrize("shape,p", [((37, 53, 29), 4), ((64, 64, 64), 8), ((100, 130, 70), 5),
                                     ((5, 40, 35), 5), ((9, 9, 9), 1)])
@pytest.mark.parametrize("profile", ["nominal", "calibrated"])
def test_authors_summa_matches_numpy_and_its_cycle_model(shape, p, profile):
    from waferrepro.hardware_profiles import calibrated
    hw, kernel = _paper(calibrated(WSE2) if profile == "calibrated" else WSE2)
    out = simulate("SUMMA", shape, p, p, hw, functional=True, seed=5, kernel=kernel)
    assert out.check.passed and out.run.params["form"] == "authors"
    assert out.run.output.shape == (shape[0], shape[2])
    model = simulate("SUMMA", shape, p, p, hw, functional=False, kernel=kernel)
    assert model.run.metrics() == out.run.metrics()


def test_authors_summa_dropped_column_broadcast_is_caught(monkeypatch):
    from waferrepro.meshsim import summa
    real = summa.pipelined_broadcast

    def drop_y(fab, data, axis, root, lead_hops, elems, bits=16):
        moved, cost = real(fab, data, axis, root, lead_hops, elems, bits)
        return (data if axis == "y" else moved), cost  # W never leaves its row

    monkeypatch.setattr(summa, "pipelined_broadcast", drop_y)
    hw, kernel = _paper()
    with pytest.raises(NumericMismatch, match="SUMMA"):
        simulate("SUMMA", (32, 32, 32), 4, 4, hw, functional=True, kernel=kernel)


def test_authors_summa_steps_are_serial_and_their_multicasts_pipeline():
    # summa.csl: compute waits for both broadcasts, the next broadcasts wait for compute (no
    # overlap); the hops exposed are the roots' moves, 2 a step along the diagonal and
    # 2 (P-1) back to (0, 0) at the next run, not each multicast's whole line.
    hw, kernel = _paper()
    p = 12
    tl = simulate("SUMMA", (96, 96, 96), p, p, hw, False, kernel=kernel).run.fabric.timeline
    steps = [s for s in tl.steps if s.label.startswith("step")]
    assert len(steps) == p and not any(s.overlap for s in steps)
    assert all(s.cycles == float(s.compute) + float(s.comm) + float(s.fixed) for s in steps)
    hops = 2 * (p - 1) + 2 * (p - 1)
    assert tl.breakdown()["latency"] == pytest.approx(
        hops * hw.hop_latency_cycles + p * 2 * hw.ramp_latency_cycles)
    assert tl.comm_critical == pytest.approx(sum(float(s.comm) for s in steps))


def test_summa_form_follows_the_preset():
    from waferrepro import presets
    from waferrepro.meshsim import gemm
    shape = (48, 40, 32)
    for preset, form in (("full-model", "ours"), ("paper-kernels", "authors")):
        assert presets.options(preset)["summa_form"] == form
        hw = presets.hardware(WSE2, preset)
        run = simulate("SUMMA", shape, 4, 4, hw, False,
                       kernel=presets.kernel("SUMMA", preset)).run
        if form == "ours":  # our double-buffered SUMMA, unchanged
            assert run.cycles == gemm.run_summa(hw, shape, 4, 4, system="SUMMA").cycles
            assert "form" not in run.params
        else:
            assert run.params["form"] == "authors"
    with pytest.raises(ValueError, match="summa_form"):
        meshsim.SYSTEMS["SUMMA"](WSE2, shape, 4, 4, summa_form="mine")


def test_authors_summa_local_product_is_the_meshgemm_loop_at_any_mt():
    from waferrepro.meshsim import summa
    hw, _ = _paper()
    fab = Fabric(hw, 4, 4, functional=False)
    got = summa._local_product(fab, 12, 10, 8)
    want = (fab.scalar_ops(summa.STEP_PLAIN) + fab.descriptor_ops(summa.STEP_DESCRIPTOR_OPS)
            + fab.authors_gemm(12, 10, 8, "fmach"))
    assert float(got) == float(want) and got.ops == want.ops
    one = summa._local_product(fab, 1, 10, 8).ops  # Mt = 1 keeps the k loop, not a GEMV
    assert one["map_element"] == 80 and one["scalar_iteration"] == 10


def test_compute_efficiency_counts_all_but_critical_path_communication():
    # The paper's Fig. 9 reading (result.compute_efficiency): computation = total minus the
    # communication on the critical path; fixed overheads (tasks, DSD set-ups) are computation.
    from waferrepro.meshsim.cost import Cost
    from waferrepro.meshsim.fabric import Timeline
    from waferrepro.meshsim.result import compute_efficiency
    tl = Timeline()
    tl.add("serial", compute=Cost(matmul=60, fixed=20), comm=Cost(transfer=10, fixed=10))
    tl.add("hidden", compute=Cost(matmul=50), comm=Cost(transfer=30), overlap=True)
    tl.add("exposed", compute=Cost(matmul=40), comm=Cost(transfer=70), overlap=True,
           tasks=Cost(fixed=10))
    assert tl.total == 100 + 50 + 80
    assert tl.comm_critical == 20 + 0 + 30
    assert compute_efficiency(tl) == pytest.approx(180 / 230)
    hw, kernel = _paper()
    run = simulate("SUMMA", (2048, 2048, 2048), 240, 240, hw, False, kernel=kernel).run
    m = run.metrics()
    t = run.fabric.timeline
    assert m["compute_efficiency"][0] == pytest.approx(1 - t.comm_critical / t.total)
    assert m["compute_efficiency"][0] > m["compute_cycles"][0] / m["cycles"][0]  # fixed counts

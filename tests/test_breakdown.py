"""Cycles by cause: every kernel and layer's causes sum exactly to its total."""

import math

import pytest

from waferrepro.hardware import WSE2
from waferrepro.meshsim import SYSTEMS, simulate
from waferrepro.meshsim.cost import CAUSES, Cost
from waferrepro.meshsim.decode import decode_layer
from waferrepro.meshsim.decode_layout import DecodeLayout, KVCache
from waferrepro.meshsim.prefill import prefill_layer
from waferrepro.model_metrics import decode_metrics, prefill_metrics
from waferrepro.models import arch


def _sums_to_total(timeline):
    b = timeline.breakdown()
    assert set(b) == set(CAUSES)
    assert all(v >= -1e-9 for v in b.values()), b
    assert math.isclose(sum(b.values()), timeline.total, rel_tol=1e-12)
    return b


@pytest.mark.parametrize("system", sorted(SYSTEMS))
@pytest.mark.parametrize("p", [64, 240])
def test_kernel_causes_sum_to_total(system, p):
    shape = (1, 4096, 4096) if "GEMV" in system else (2048, 2048, 2048)
    run = simulate(system, shape, p, p, WSE2, functional=False).run
    b = _sums_to_total(run.fabric.timeline)
    assert b["matmul"] > 0
    tl = run.fabric.timeline
    assert math.isclose(b["transfer"] + b["latency"] + b["wait"], tl.comm_exposed)
    if system in ("MeshGEMV", "chain-GEMV", "SUMMA"):  # serial transfers: own causes
        assert b["transfer"] > 0 and b["latency"] > 0
    m = run.metrics()
    assert math.isclose(sum(m[f"cycles_{c}"][0] for c in CAUSES), m["cycles"][0])


def test_decode_and_prefill_layer_causes_sum_to_total():
    a = arch("llama3-8b")
    lay = DecodeLayout(a, 420, 420)
    fab, _ = decode_layer(WSE2, a, 420, 420, KVCache(lay.rows_tokens(4096, "shift")), 4096)
    b = _sums_to_total(fab.timeline)
    assert b["elementwise"] > 0 and b["matmul"] > 0
    fab, _ = prefill_layer(WSE2, a, 480, 4096)
    _sums_to_total(fab.timeline)


@pytest.mark.parametrize("metrics", [
    lambda a: decode_metrics(WSE2, a, 420, 420, 256, 8, "shift")[0],
    lambda a: prefill_metrics(WSE2, a, 480, 256)[0]])
def test_model_records_carry_breakdown_of_the_whole_model(metrics):
    m = metrics(arch("llama3-8b"))
    assert math.isclose(sum(m[f"cycles_{c}"][0] for c in CAUSES), m["cycles"][0])


def test_overlapped_step_charges_exposed_transfer_as_wait():
    from waferrepro.meshsim.fabric import Timeline
    tl = Timeline()
    tl.add("a", compute=Cost(matmul=10), comm=Cost(transfer=30, latency=5), overlap=True)
    tl.add("b", compute=Cost(elementwise=4), comm=Cost(transfer=6, latency=2))
    assert tl.breakdown() == {"matmul": 10, "elementwise": 4, "transfer": 6, "latency": 2,
                              "fixed": 0, "wait": 25}
    assert tl.total == 35 + 12


def test_every_hardware_field_is_in_the_config_schema_and_assumptions_bound_it():
    from pathlib import Path

    import yaml

    from waferrepro.hardware import ASSUMPTION_BOUNDS, FIELDS, HARDWARE
    root = Path(__file__).resolve().parents[1]
    schema = yaml.safe_load((root / "src/waferrepro/schemas/config.schema.yaml").read_text())
    overridable = set(schema["properties"]["hardware_overrides"]["properties"])
    assert FIELDS - {"name"} == overridable
    for name, hw in HARDWARE.items():
        for field, (low, high, why) in ASSUMPTION_BOUNDS[name].items():
            assert low <= getattr(hw, field) <= high and low < high and why, (name, field)


def test_hidden_communication_is_only_what_compute_overlaps():
    """A kernel with no overlapped step hides nothing (its DSD start-ups are exposed, not
    hidden); a double-buffered one hides at most its compute."""
    gemv = simulate("MeshGEMV", (1, 4096, 4096), 64, 64, WSE2, functional=False).run.metrics()
    assert gemv["comm_hidden_cycles"][0] == 0.0
    gemm = simulate("MeshGEMM", (2048, 2048, 2048), 64, 64, WSE2,
                    functional=False).run.metrics()
    assert 0.0 < gemm["comm_hidden_cycles"][0] <= gemm["compute_cycles"][0]

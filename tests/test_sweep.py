"""Hardware sweeps (waferrepro.sweep): the same numbers as the records, a fast path that
agrees with the plain cycle model, one-at-a-time swings, and the SRAM what-if's missing
values."""

import math

import pytest

from waferrepro import hardware, sensitivity, sweep
from waferrepro.experiments import DecodeJob, KernelJob, PrefillJob
from waferrepro.hardware import WSE2, WSE3
from waferrepro.hardware_profiles import get_hardware
from waferrepro.jobs.meshsim import run_decode, run_meshsim, run_prefill

PRESET = "paper-kernels"
DECODE = DecodeJob("meshsim", "llama3-8b", "120x120", 512, 8, "shift")
PREFILL = PrefillJob("meshsim", "llama3-8b", "180x180", 240)
GEMV = KernelJob("meshsim", "MeshGEMV", "1x4096x4096", "64x64")


def _record_value(record, metric):
    return next(m["value"] for m in record["metrics"] if m["metric"] == metric)


def _records(hw):
    return {
        "kernel": run_meshsim(GEMV.system, GEMV.shape, GEMV.cores, hw, "cycle-model",
                              preset=PRESET),
        "decode": run_decode(DECODE.model, DECODE.cores, DECODE.input_len, DECODE.output_len,
                             DECODE.kv, hw, "cycle-model", preset=PRESET),
        "prefill": run_prefill(PREFILL.model, PREFILL.cores, PREFILL.input_len, hw,
                               "cycle-model", preset=PRESET),
    }


@pytest.mark.parametrize("hw", [WSE2, WSE3], ids=["wse2", "wse3"])
def test_sweep_at_nominal_equals_the_records(hw):
    frame = sweep.sweep([hw], [GEMV, DECODE, PREFILL], PRESET)
    recs = _records(hw)
    for kind, record in recs.items():
        (metric,) = sweep.HEADLINE[kind]
        got = frame[(frame["kind"] == kind) & (frame["metric"] == metric)]["value"]
        assert len(got) == 1 and got.iloc[0] == _record_value(record, metric)


def test_fast_sweep_is_the_plain_cycle_model():
    variants = sweep.random_variants(WSE2, 3, seed=1)
    assert len({v for v in variants}) == 3  # really different hardware
    jobs = [GEMV, DECODE, PREFILL]
    cached = sweep.sweep(variants, jobs, PRESET, cache=True)
    plain = sweep.sweep(variants, jobs, PRESET, cache=False)
    # Equal up to float rounding: a repeated step is multiplied where the plain run adds.
    assert cached["value"].tolist() == pytest.approx(plain["value"].tolist(), rel=1e-9)
    assert cached["value"].nunique() > 3  # the variants move the numbers
    # Two worker processes give the same frame.
    both = sweep.sweep(variants, jobs, PRESET, workers=2)
    assert both["value"].tolist() == cached["value"].tolist()


def test_meshsim_fast_path_folds_steps_and_memoizes_only_while_on():
    # meshsim.fastpath: on, a MeshGEMM loop keeps fewer steps with the same total and
    # breakdown and fills the memo; off (after the block, or in functional mode) nothing folds.
    from waferrepro import meshsim
    from waferrepro.meshsim import fastpath

    def run(functional=False):
        return meshsim.simulate("MeshGEMM", (64, 64, 64), 8, 8, WSE2,
                                functional).run.fabric.timeline

    plain = run()
    with fastpath.enabled() as memo:
        fast = run()
        assert memo  # the ring shifts' costs were memoized
        memo.clear()
        run(functional=True)
        assert not memo  # data moved: nothing memoized
    assert len(fast.steps) < len(plain.steps)
    assert fast.total == pytest.approx(plain.total, rel=1e-12)
    assert fast.breakdown() == pytest.approx(plain.breakdown(), rel=1e-12)
    assert not fastpath.coalescing() and len(run().steps) == len(plain.steps)


def test_one_at_a_time_covers_every_assumption_and_keeps_overrides():
    variants, columns = sweep.one_at_a_time(WSE2)
    assert columns[0]["parameter"] == "nominal" and variants[0] == WSE2
    swept = {c["parameter"] for c in columns[1:]}
    assert swept == set(hardware.ASSUMPTION_BOUNDS["wse2"])
    for v, c in zip(variants[1:], columns[1:], strict=True):
        low, high, _ = hardware.ASSUMPTION_BOUNDS["wse2"][c["parameter"]]
        assert getattr(v, c["parameter"]) == (low if c["bound"] == "low" else high)
        others = {f: getattr(v, f) for f in hardware.FIELDS if f != c["parameter"]}
        assert others == {f: getattr(WSE2, f) for f in others}
    user = get_hardware("wse2", {"dsd_startup_cycles": 7})
    _, columns = sweep.one_at_a_time(user)
    assert "dsd_startup_cycles" not in {c["parameter"] for c in columns}


def test_a_bound_at_the_nominal_value_swings_nothing(monkeypatch):
    from waferrepro.sweep_figures import tornado_rows

    monkeypatch.setitem(hardware.ASSUMPTION_BOUNDS["wse2"], "sync_cycles",
                        (WSE2.sync_cycles, WSE2.sync_cycles, "test: no uncertainty"))
    config = {"hardware": "wse2", "hardware_overrides": {}, "schedule_preset": PRESET,
              "experiments": {"table4": {"kind": "decode", "models": ["llama3-8b"],
                                         "grids": [120], "lengths": [[512, 8]]}},
              "sensitivity": {"decode": {"experiment": "table4", "grid": 120}}}
    table = sensitivity.sensitivity_table(config)
    assert (table["source"] == "simulated").all() and (table["backend"] == "meshsim").all()
    ((label, nominal, wide),) = tornado_rows(table)
    assert "llama3-8b" in label
    assert wide.loc["sync_cycles", "swing"] == 0
    assert wide.loc["sync_cycles", "low"] == wide.loc["sync_cycles", "high"] == nominal
    assert wide["swing"].iloc[0] > 0  # another assumption does move decode TPR
    assert math.isclose(nominal, _record_value(_records(get_hardware("wse2"))["decode"],
                                               "decode_tpr_tokens_per_s"), rel_tol=1e-12)


def _whatif_config(sram_kb):
    return {"hardware": "wse2", "hardware_overrides": {}, "schedule_preset": PRESET,
            "experiments": {
                "table4": {"kind": "decode", "models": ["llama3-8b"], "grids": [120],
                           "lengths": [[512, 8]]},
                "table3": {"kind": "prefill", "models": ["llama3-8b"], "grids": [180],
                           "input_lens": [240]}},
            "whatif": {"decode": {"experiment": "table4", "grid": 120},
                       "prefill": {"experiment": "table3", "grid": 180},
                       "sram_kb": sram_kb, "hardware": ["wse2", "wse3"]}}


def test_whatif_at_nominal_sram_equals_the_record_and_too_small_is_missing():
    table = sensitivity.whatif_table(_whatif_config([1, 48]))
    recs = {"wse2": _records(get_hardware("wse2")), "wse3": _records(get_hardware("wse3"))}
    tpr = {"decode": "decode_tpr_tokens_per_s", "prefill": "prefill_tpr_tokens_per_s"}
    for hw, rec in recs.items():
        for kind, metric in tpr.items():
            rows = table[(table["hardware"] == hw) & (table["metric"] == metric)]
            nominal = rows[rows["parameter_value"] == 48 * 1024]
            assert math.isclose(nominal["value"].iloc[0], _record_value(rec[kind], metric),
                                rel_tol=1e-12)  # the sweep folds repeated steps
            assert nominal["source"].iloc[0] == "simulated"
            small = rows[rows["parameter_value"] == 1024]
            assert len(small) == 1 and math.isnan(small["value"].iloc[0])
            assert small["source"].iloc[0] == "skipped"
            assert "plan does not fit" in small["note"].iloc[0]
            assert "available 1024 bytes" in small["note"].iloc[0]


def test_sweep_figures_draw(tmp_path):
    from waferrepro import figures

    config = _whatif_config([1, 48])
    config["sensitivity"] = {"decode": {"experiment": "table4", "grid": 120}}
    for table_id, build in (("sensitivity", sensitivity.sensitivity_table),
                            ("whatif", sensitivity.whatif_table)):
        out = tmp_path / f"{table_id}.png"
        figures.render(table_id, build(config), [out])
        assert out.stat().st_size > 10_000


def test_sweep_rejects_other_jobs():
    from waferrepro.experiments import KVCapacityJob

    with pytest.raises(TypeError, match="kernel, decode and prefill"):
        sweep.sweep([WSE2], [KVCapacityJob("meshsim", "llama3-8b", "120x120", "shift")], PRESET)

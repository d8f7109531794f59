import json

import pytest

from waferrepro import records
from waferrepro.hardware import WSE2
from waferrepro.jobs.meshsim import run_meshsim


@pytest.fixture
def record():
    return run_meshsim("MeshGEMV", "1x256x128", "4x4", WSE2, "functional")


def test_record_round_trip(tmp_path, record):
    path = records.write(record, tmp_path / "a" / "r.json")
    back = records.read(path)
    assert back == json.loads(json.dumps(record))
    assert back["check"]["performed"] and back["check"]["passed"]
    assert back["source"] == "simulated" and back["backend"] == "meshsim"
    prov = back["provenance"]
    assert prov["git_commit"] and prov["clock_hz"] == WSE2.clock_hz and prov["host"]
    assert "numpy" in prov["packages"]
    names = {m["metric"] for m in back["metrics"]}
    assert {"cycles", "compute_cycles", "comm_cycles", "latency_ms", "utilization"} <= names
    assert list(tmp_path.joinpath("a").iterdir()) == [path]  # no temp file left behind


def test_invalid_record_is_not_written(tmp_path, record):
    del record["provenance"]
    with pytest.raises(records.RecordError, match="provenance"):
        records.write(record, tmp_path / "r.json")
    assert not list(tmp_path.iterdir())


def test_reading_checks_schema(tmp_path, record):
    record["source"] = "guessed"
    (tmp_path / "r.json").write_text(json.dumps(record))
    with pytest.raises(records.RecordError, match="source"):
        records.read(tmp_path / "r.json")
    (tmp_path / "t.json").write_text('{"schema_version": 1, "job": "x"')  # truncated file
    with pytest.raises(records.RecordError, match="cannot read"):
        records.read(tmp_path / "t.json")


def test_cycle_model_record_says_no_check(record):
    rec = run_meshsim("MeshGEMV", "1x16384x16384", "720x720", WSE2, "cycle-model")
    records.validate(rec)
    assert rec["check"]["performed"] is False and rec["mode"] == "cycle-model"


def test_plan_that_does_not_fit_gives_skipped_record():
    rec = run_meshsim("MeshGEMM", "8192x8192x8192", "60x60", WSE2, "cycle-model")
    records.validate(rec)
    assert rec["source"] == "skipped" and "bytes" in rec["note"] and rec["metrics"] == []


def test_kv_capacity_note_states_the_overridden_sram():
    """hardware_overrides that change the SRAM size change the note's words too (issue 12)."""
    from waferrepro.hardware import get_hardware
    from waferrepro.jobs.meshsim import run_kv_capacity

    hw = get_hardware("wse2", {"sram_bytes_per_core": 64 * 1024})
    rec = run_kv_capacity("llama3-8b", "420x420", "shift", hw)
    assert "64 KB/core" in rec["note"] and "48 KB" not in rec["note"]
    assert "48 KB/core" in run_kv_capacity("llama3-8b", "420x420", "shift", WSE2)["note"]

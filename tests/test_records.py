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
    from waferrepro.hardware_profiles import get_hardware
    from waferrepro.jobs.meshsim import run_kv_capacity

    hw = get_hardware("wse2", {"sram_bytes_per_core": 64 * 1024})
    rec = run_kv_capacity("llama3-8b", "420x420", "shift", hw)
    assert "64 KB/core" in rec["note"] and "48 KB" not in rec["note"]
    assert "48 KB/core" in run_kv_capacity("llama3-8b", "420x420", "shift", WSE2)["note"]


# Records are checked when read (issue 20): invariants, the path, the mode written.

def _layout(tmp_path, record, rel="results/records/meshsim/MeshGEMV/1x256x128/4x4.json"):
    path = tmp_path / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    return path


def test_records_are_written_0644(tmp_path, record):
    import stat

    path = records.write(record, tmp_path / "r.json")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_record_in_its_job_path_reads_back(tmp_path, record):
    assert records.read(_layout(tmp_path, record))["what"]["cores"] == "4x4"


def test_negative_cycles_are_refused_with_the_redo(tmp_path, record):
    for m in record["metrics"]:
        if m["metric"] == "cycles":
            m["value"] = -5.0
    path = _layout(tmp_path, record)
    with pytest.raises(records.RecordError) as exc:
        records.read(path)
    message = str(exc.value)
    assert str(path) in message and "cycles is -5.0" in message
    assert "delete it and rerun snakemake" in message


def test_causes_must_sum_to_the_total(tmp_path, record):
    for m in record["metrics"]:
        if m["metric"] == "cycles_matmul":
            m["value"] += 100
    with pytest.raises(records.RecordError, match="cycles by cause .* sum to"):
        records.read(_layout(tmp_path, record))


@pytest.mark.parametrize("rel, field", [
    ("results/records/meshsim/MeshGEMV/1x256x128/8x8.json", "cores"),
    ("results/records/meshsim/chain-GEMV/1x256x128/4x4.json", "system"),
    ("results/run1/records/meshsim/MeshGEMV/1x512x128/4x4.json", "shape"),
])
def test_what_must_match_the_path(tmp_path, record, rel, field):
    with pytest.raises(records.RecordError, match=f"what.{field} is .* but the path says"):
        records.read(_layout(tmp_path, record, rel))


def test_model_record_what_matches_its_path(tmp_path):
    from waferrepro.experiments import DecodeJob
    from waferrepro.jobs.meshsim import run_decode

    rec = run_decode("tiny-llama", "8x8", 16, 4, "shift", WSE2, "cycle-model",
                     preset="full-model")
    good = DecodeJob("meshsim", "tiny-llama", "8x8", 16, 4, "shift", "full-model").path
    assert records.read(_layout(tmp_path, rec, good))["what"]["input_len"] == 16
    bad = DecodeJob("meshsim", "tiny-llama", "8x8", 32, 4, "shift", "full-model").path
    with pytest.raises(records.RecordError, match="what.input_len is 16 but the path says '32'"):
        records.read(_layout(tmp_path, rec, bad))


def test_truncated_record_fails_the_table_and_keeps_the_previous_one(tmp_path, record,
                                                                     capsys):
    import os

    from waferrepro import cli

    good = records.write(record, tmp_path / "good.json")
    csv = tmp_path / "tables" / "fig10.csv"
    assert cli.main(["table", "--id", "fig10", "--out", str(csv), str(good)]) == 0
    before = csv.read_bytes()
    bad = tmp_path / "bad.json"
    bad.write_text(good.read_text()[:100])  # truncated
    assert cli.main(["table", "--id", "fig10", "--out", str(csv), str(good), str(bad)]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert str(bad) in err and "delete it and rerun snakemake" in err
    assert csv.read_bytes() == before
    assert sorted(os.listdir(csv.parent)) == ["fig10.csv"]  # no temp file


def test_table_write_failure_leaves_the_old_table_and_no_temp(tmp_path, monkeypatch):
    import os
    import stat

    import pandas as pd

    from waferrepro import tables

    out = tmp_path / "t.csv"
    tables.write_csv(pd.DataFrame({"a": [1]}), out)
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    before = out.read_bytes()

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError):
        tables.write_csv(pd.DataFrame({"a": [2]}), out)
    assert out.read_bytes() == before and os.listdir(tmp_path) == ["t.csv"]

"""Values given with `snakemake --config` are read as YAML before the schema sees them
(issue 12: the README's `hardware_overrides='{clock_hz: 850.0e6}'` failed as a string)."""

import json
import subprocess

import pytest

from waferrepro.configcheck import typed_command_line_config


def test_command_line_values_are_typed():
    got = typed_command_line_config([
        "hardware_overrides={clock_hz: 850.0e6, hop_latency_cycles: 2}",
        "experiments={fig10: {systems: [MeshGEMV], sizes: [2048], grids: [60, '8x4']}}",
        'sdk={mode: direct, cmaddr: "10.0.0.1:9000"}', "seed=3", "backend=meshsim"])
    assert got["hardware_overrides"] == {"clock_hz": 850e6, "hop_latency_cycles": 2}
    assert isinstance(got["hardware_overrides"]["clock_hz"], float)
    assert got["experiments"]["fig10"] == {"systems": ["MeshGEMV"], "sizes": [2048],
                                           "grids": [60, "8x4"]}
    assert got["sdk"] == {"mode": "direct", "cmaddr": "10.0.0.1:9000"}
    assert got["seed"] == 3 and got["backend"] == "meshsim"


@pytest.mark.parametrize("text, value", [("850.0e6", 850e6), ("1e9", 1e9), ("8.5e+8", 850e6),
                                         ("-2.5E-3", -2.5e-3), (".5e1", 5.0), ("850", 850)])
def test_floats_without_a_signed_exponent_are_numbers(text, value):
    got = typed_command_line_config([f"x={{v: {text}}}"])["x"]["v"]
    assert got == value and type(got) is type(value)


def test_clock_override_reaches_the_records(repo, tmp_path, snakemake_cmd):
    target = "results/clock850/records/meshsim/MeshGEMV/1x512x512/4x4.json"
    res = subprocess.run(
        [*snakemake_cmd, "-s", str(repo / "Snakefile"), "--directory", str(tmp_path),
         "--configfile", str(repo / "config/smoke.yaml"), "--cores", "1", target,
         "--config", "run=clock850",  # the run's name (else derived: smoke-<hash>)
         "hardware_overrides={clock_hz: 850.0e6}"],  # --config takes what follows
        capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    record = json.loads((tmp_path / target).read_text())
    assert record["hardware"]["clock_hz"] == 850e6
    assert record["provenance"]["clock_hz"] == 850e6

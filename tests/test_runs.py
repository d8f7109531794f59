"""Run names (waferrepro.runs): each run writes under its own name, derived when not given."""

import os

import pytest

from waferrepro import runs

BASE = {"backend": "meshsim", "hardware": "wse2", "schedule_preset": "full-model",
        "hardware_overrides": {}, "experiments": {"fig10": {"sizes": [512]}}}


def test_base_name_from_the_config_files(tmp_path):
    default = tmp_path / "config/config.yaml"
    assert runs.base_name([], default) == "paper"
    assert runs.base_name([str(default)], default) == "paper"
    assert runs.base_name(["config/smoke.yaml"], default) == "smoke"
    assert runs.base_name(["a/smoke.yaml", "b/my gpu.yaml"], default) == "smoke_my_gpu"
    assert runs.base_name(["x/reference.yaml"], default) == "reference-run"


def test_derived_name_is_stable_and_differs_with_overrides():
    assert runs.derive("paper", BASE, dict(BASE)) == "paper"
    clock = {**BASE, "hardware_overrides": {"clock_hz": 850e6}}
    name = runs.derive("paper", clock, BASE)
    assert name.startswith("paper-") and len(name) == len("paper-") + 8
    assert runs.derive("paper", dict(clock, run="x"), BASE) == name  # `run` not hashed
    assert runs.derive("paper", {**BASE, "hardware_overrides": {"clock_hz": 9e8}},
                       BASE) != name
    assert runs.derive("paper", {**BASE, "hardware": "wse3"}, BASE) == "paper-wse3"
    both = runs.derive("paper", {**clock, "hardware": "wse3"}, BASE)
    assert both.startswith("paper-wse3-") and both != "paper-wse3"
    assert runs.derive("smoke", clock, None).startswith("smoke-")  # files invalid alone


@pytest.mark.parametrize("name", ["", "../x", "a/b", "-x", ".x", "reference", "a b"])
def test_unsafe_names_are_refused(name):
    with pytest.raises(ValueError, match="invalid run name"):
        runs.check_name(name)


def test_latest_run_and_the_command_that_makes_one(tmp_path):
    assert runs.latest(tmp_path) is None
    for i, name in enumerate(("paper", "smoke", "reference")):
        (tmp_path / f"results/{name}/tables").mkdir(parents=True)
        table = tmp_path / f"results/{name}/tables/t.csv"
        table.write_text("x\n")
        os.utime(table, (1e9 + i, 1e9 + i))
    assert runs.runs(tmp_path) == ["smoke", "paper"]  # reference/ holds inputs, not a run
    assert runs.remake_command("paper", tmp_path) == "snakemake scorecard"
    assert runs.remake_command("mine", tmp_path).endswith("--config run=mine scorecard")
    runs.write_config(tmp_path / "results/mine/config.yaml", {**BASE, "run": "mine"})
    assert runs.remake_command("mine", tmp_path, "table3") == \
        "snakemake --configfile results/mine/config.yaml table3"

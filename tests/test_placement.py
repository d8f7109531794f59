"""Regions meant to be resident together must fit the usable fabric (issue 12, Table 2)."""

import subprocess
from pathlib import Path

import pytest
import yaml

from waferrepro.hardware import WSE2
from waferrepro.hardware_profiles import get_hardware
from waferrepro.placement import E2E_NOTE, PlacementError, check_coexist, check_config


@pytest.mark.parametrize("prefill, decode", [("660x660", "360x360"), ("750x750", "375x375")])
def test_table2_grids_cannot_share_one_wafer(prefill, decode):
    with pytest.raises(PlacementError, match="cannot coexist on the usable wse2 fabric 750x994"):
        check_coexist(WSE2, {"prefill": prefill, "decode": decode})


def test_regions_that_fit_side_by_side_or_stacked_are_accepted():
    check_coexist(WSE2, {"prefill": "375x375", "decode": "375x375"})  # side by side: 750
    check_coexist(WSE2, {"prefill": "600x600", "decode": "360x360"})  # stacked: 960 <= 994
    with pytest.raises(PlacementError, match="side by side they need 751x500, stacked 376x1000"):
        check_coexist(WSE2, {"prefill": "376x500", "decode": "375x500"})
    # The fabric follows hardware_overrides.
    check_coexist(get_hardware("wse2", {"fabric_height": 1020}),
                  {"prefill": "660x660", "decode": "360x360"})


def _config(regions):
    cfg = yaml.safe_load(Path("config/config.yaml").read_text())
    cfg["experiments"]["table2"]["regions"] = regions
    return cfg


def test_config_with_coexisting_regions_is_checked(repo, monkeypatch):
    monkeypatch.chdir(repo)
    check_config(_config("sequential"), "wse2")
    with pytest.raises(PlacementError, match=r"experiments/table2/setups/0 \(llama3-8b"):
        check_config(_config("coexist"), "wse2")


def test_workflow_refuses_coexisting_regions_before_any_job(repo, tmp_path, snakemake_cmd,
                                                            monkeypatch):
    monkeypatch.chdir(repo)
    cfg = tmp_path / "coexist.yaml"
    cfg.write_text(yaml.safe_dump(_config("coexist")))
    res = subprocess.run([*snakemake_cmd, "-s", str(repo / "Snakefile"), "--directory",
                          str(tmp_path / "run"), "--configfile", str(cfg), "-n"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode != 0 and "cannot coexist" in res.stdout + res.stderr


def test_e2e_records_say_what_their_time_leaves_out():
    from waferrepro.jobs.meshsim import run_end_to_end

    rec = run_end_to_end("tiny-llama", "4x4", "4x3", 7, 4, WSE2, "cycle-model")
    assert E2E_NOTE in rec["note"] and "not timed" in rec["note"]

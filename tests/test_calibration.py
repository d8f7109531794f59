"""The calibration (waferrepro.calibration): one set of construct costs for both chips, fitted
to the two training files and nothing else; the committed profile is that fit (refitted here);
the forms (counts x prices) agree with the records' cycle model and its derivatives; the
fitter recovers known prices; the command writes its table, figure and profile."""

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from waferrepro import calibration, training
from waferrepro.cli import main
from waferrepro.cli.calibrate import DEFAULTS
from waferrepro.hardware import HARDWARE, WSE2, WSE3
from waferrepro.hardware_profiles import calibrated, get_hardware, label, load_profile

ROOT = Path(__file__).resolve().parents[1]
FILES = [ROOT / p for p in training.TRAINING_FILES]
WSE2_ROWS = """id,kind,system,model,shape,cores,input_len,output_len,metric,value,unit,source
g16,kernel,MeshGEMV,,1x16384x16384,720x720,,,latency_ms,{g16},ms,test
g32,kernel,MeshGEMV,,1x32768x32768,720x720,,,latency_ms,{g32},ms,test
speedup,kernel_ratio,chain-GEMV/MeshGEMV,,1x2048x2048;1x16384x16384,720x720,,,cycles_ratio,{r},ratio,test
"""
WSE3_HEADER = ("id,kind,system,model,shape,cores,input_len,output_len,metric,value,unit,source,"
               "hardware,group_num\n")
WSE3_SHAPES = [("MeshGEMM", "16x32x48", 16, ""), ("MeshGEMM", "32x128x16", 16, ""),
               ("MeshGEMM", "160x80x640", 80, ""), ("MeshGEMV", "1x16x128", 16, "2"),
               ("MeshGEMV", "1x128x16", 16, "8"), ("MeshGEMV", "1x160x80", 80, "4"),
               ("MeshGEMV", "1x640x240", 80, "2")]


def _write(tmp_path, hw2, hw3) -> list[Path]:
    """Training files whose 'measured' values are the model's own on hw2 (WSE-2 kernels)
    and hw3 (WSE-3 grids): a truth the fit must find."""
    probe = tmp_path / "probe.csv"
    probe.write_text(WSE2_ROWS.format(g16=1, g32=1, r=1))
    got = {p.id: training.predict(p, hw2) for p in training.load(probe)}
    wse2 = tmp_path / "wse2.csv"
    wse2.write_text(WSE2_ROWS.format(g16=got["g16"], g32=got["g32"], r=got["speedup"]))
    rows = []
    for i, (system, shape, p, g) in enumerate(WSE3_SHAPES):
        point = training.Point(f"w{i}", "kernel_cycles", system, "", shape, f"{p}x{p}", None,
                               None, "cycles", 1.0, "cycles", "test", "", "wse3",
                               int(g) if g else None)
        value = training.predict(point, hw3)
        rows.append(f"w{i},kernel_cycles,{system},,{shape},{p}x{p},,,cycles,{value},cycles,"
                    f"test,wse3,{g}\n")
    wse3 = tmp_path / "wse3.csv"
    wse3.write_text(WSE3_HEADER + "".join(rows))
    return [wse2, wse3]


def test_training_files_are_checked(tmp_path):
    bad = tmp_path / "t.csv"
    bad.write_text(WSE2_ROWS.format(g16=-1, g32=1, r=1))
    with pytest.raises(ValueError, match="positive"):
        training.load(bad)
    bad.write_text(WSE2_ROWS.format(g16=1, g32=1, r=1).replace(",test\n", ",\n", 1))
    with pytest.raises(ValueError, match="source"):
        training.load(bad)
    bad.write_text(WSE2_ROWS.format(g16=1, g32=1, r=1).replace("kernel,", "table2,", 1))
    with pytest.raises(ValueError, match="kind"):
        training.load(bad)
    bad.write_text(WSE3_HEADER + "a,kernel_cycles,MeshGEMM,,16x16x16,16x16,,,cycles,1,cycles,"
                   "test,wse4,\n")
    with pytest.raises(ValueError, match="hardware"):
        training.load(bad)


def test_training_set_is_the_released_points_and_the_small_grids_only():
    """WSE-2: of Tables 3 and 4 only llama3-8b's released points, nothing of Table 2, no
    SGEMM (another team's code: validation.csv keeps it). WSE-3: the small grids only
    (P = 16, 64, 80, 144); the wafer-scale grids are held out for a blind test."""
    wse2, wse3 = (training.load(f) for f in FILES)
    assert {p.model for p in wse2 if p.kind in ("prefill", "decode")} == {"llama3-8b"}
    assert not [p for p in wse2 if "Table 2" in p.source or "SGEMM" in p.system]
    assert len(wse2) == 9 and {p.hardware for p in wse2} == {"wse2"}
    assert len(wse3) == 337 and {p.hardware for p in wse3} == {"wse3"}
    assert {p.grid for p in wse3} == {16, 64, 80, 144}
    assert {p.system for p in wse3} == {"MeshGEMM", "MeshGEMV"}
    assert all(p.group_num in (2, 4, 8) for p in wse3 if p.system == "MeshGEMV")
    assert "SGEMM" in (ROOT / "results/reference/validation.csv").read_text()
    assert [str(p) for p in training.TRAINING_FILES] == DEFAULTS


def test_forms_are_the_cycle_model_and_their_jacobian_its_derivative():
    """Counts x prices (training.prediction_form, meshsim.form) give the records' value on
    each kind of point, and the compiled Jacobian matches a finite difference of it."""
    points = training.load_all(FILES)
    sample = [p for p in points if p.hardware == "wse2" and p.kind != "prefill"] + [
        p for p in points if p.id in ("wse3-meshgemm-80-160x240x640",
                                      "wse3-meshgemv-144-1x288x432-g4")]
    problem = calibration.Problem(sample)
    values = problem.nominal()
    built = problem.build(values)
    names = ["map_element_cycles", "hop_latency_cycles", "relay_cycles", "scalar_op_cycles"]
    r, jac = built.residuals(values, names)
    for i, p in enumerate(sample):
        assert math.isclose(math.exp(r[i]) * p.value, training.predict(p, HARDWARE[p.hardware]),
                            rel_tol=1e-9), p.id
    for j, name in enumerate(names):
        # at a tie inside a max (integer nominal prices make some) the form takes one branch:
        # its Jacobian is then one of the two one-sided derivatives
        width = problem.bounds[name][1] - problem.bounds[name][0]
        slopes = []
        for step in (1e-4 * width, -1e-4 * width):
            fresh = [math.log(training.predict(p, replace(HARDWARE[p.hardware],
                                                          **{name: values[name] + step}))
                              / p.value) for p in sample]
            slopes.append((np.array(fresh) - r) / step * width)
        ok = [np.isclose(jac[:, j], s, rtol=1e-3, atol=1e-6) for s in slopes]
        assert np.all(ok[0] | ok[1]), name


def test_the_fit_recovers_known_prices(tmp_path):
    truth = {"map_element_cycles": 2.5, "hop_latency_cycles": 1.7, "relay_cycles": 9.0}
    paths = _write(tmp_path, replace(WSE2, **truth), replace(WSE3, **truth))
    fit = calibration.calibrate(training.load_all(paths), progress=lambda m: None,
                                held_out=False)
    for name, value in truth.items():
        assert name in fit.names, (name, fit.unpinned)
        assert fit.values[name] == pytest.approx(value, rel=0.02), name
    assert max(abs(v) for v in fit.residuals.values()) < 0.01


def test_calibration_reads_nothing_but_its_training_files(tmp_path, watch_opens):
    """Every file a calibration opens, of any kind (.py included), is one of its training
    files: the imports and lazy imports are done by a first fit, then a second is watched."""
    paths = _write(tmp_path, WSE2, replace(WSE3, map_element_cycles=2.0))
    calibration.calibrate(training.load_all(paths), progress=lambda m: None)
    with watch_opens() as opened:
        calibration.calibrate(training.load_all(paths), progress=lambda m: None)
    assert opened and set(opened) <= {str(p) for p in paths}, sorted(set(opened))


def test_committed_profile_is_the_fit_of_the_training_files():
    """Refit both training files (without the held-out refits, a minute here) and compare
    with the committed profile: the same files (sha256), candidates and values; no fitted
    candidate at a bound; the calibrated hardware carries them and says so."""
    data = load_profile()
    assert [t["sha256"] for t in data["training"]] == [calibration.training_digest(f)
                                                        for f in FILES]
    assert [t["path"] for t in data["training"]] == [str(p) for p in training.TRAINING_FILES]
    assert data["hardware"] == ["wse2", "wse3"] and set(data["bands"]) == {"wse2", "wse3"}
    fit = calibration.calibrate(training.load_all(FILES), progress=lambda m: None,
                                held_out=False)
    assert sorted(fit.names) == sorted(data["values"])
    for name in fit.names:
        assert fit.values[name] == pytest.approx(data["values"][name], rel=1e-4, abs=1e-6), name
    for pid, r in data["residuals"].items():
        assert fit.residuals[pid] == pytest.approx(r, abs=1e-5), pid
    assert not data["at_bound"], data["at_bound"]
    for name, value in data["values"].items():
        lo, hi = calibration.bounds()[name]
        assert lo < value < hi, name
    for name in ("wse2", "wse3"):
        hw = calibrated(HARDWARE[name])
        assert hw.calibration == label(data) and hw.calibration.startswith(
            "calibrated on results/reference/training.csv, results/reference/training-wse3.csv")
        assert hw.band_log_half_width == data["bands"][name]["log_half_width"]
        assert all(getattr(hw, k) == v for k, v in data["values"].items())


def test_nominal_profile_is_one_option_away():
    assert get_hardware("wse2", profile="nominal") == WSE2
    assert get_hardware("wse2", profile="nominal").calibration == ""
    assert get_hardware("wse3").calibration.startswith("calibrated on")
    with pytest.raises(ValueError, match="profile"):
        get_hardware("wse2", profile="tuned")


def test_calibrate_command_writes_table_figure_and_profile(tmp_path):
    paths = _write(tmp_path, WSE2, replace(WSE3, hop_latency_cycles=1.5))
    out = tmp_path / "calibration.csv"
    assert main(["calibrate", "--training", *map(str, paths), "--out", str(out), "--figure",
                 str(tmp_path / "c.png"), "--profile-out", str(tmp_path / "p.json")]) == 0
    text = out.read_text()
    for section in ("parameter", "point", "family", "band"):
        assert f"\n{section}," in text, section
    assert "never counted as agreement" in text and "simulated" in text
    assert (tmp_path / "c.png").stat().st_size > 1000
    profile = json.loads((tmp_path / "p.json").read_text())
    assert profile["points"] == {"wse2": 3, "wse3": len(WSE3_SHAPES)}
    assert profile["bands"]["wse2"]["method"] == "leave-one-out"
    assert profile["bands"]["wse3"]["method"] == "leave-one-grid-out"
    assert main(["calibrate", "--training", str(tmp_path / "missing.csv"), "--out",
                 str(out)]) == 2

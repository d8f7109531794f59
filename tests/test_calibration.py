"""The calibration (waferrepro.calibration): only results/reference/training.csv informs a
parameter, the committed profile is the fit of that file, the fitter recovers a known
parameter, and the command writes its table, figure and profile."""

import json
import math
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from waferrepro import calibration, training
from waferrepro.cli import main
from waferrepro.hardware import ASSUMPTION_BOUNDS, WSE2
from waferrepro.hardware_profiles import calibrated, get_hardware, load_profile

ROOT = Path(__file__).resolve().parents[1]
TRAINING = ROOT / "results/reference/training.csv"
KERNEL_ROWS = """id,kind,system,model,shape,cores,input_len,output_len,metric,value,unit,source
g16,kernel,MeshGEMV,,1x16384x16384,720x720,,,latency_ms,{g16},ms,test
g32,kernel,MeshGEMV,,1x32768x32768,720x720,,,latency_ms,{g32},ms,test
speedup,kernel_ratio,chain-GEMV/MeshGEMV,,1x2048x2048;1x16384x16384,720x720,,,cycles_ratio,{r},ratio,test
"""


def _points(tmp_path, hw):
    """A training file whose 'published' values are the model's own on `hw`."""
    probe = tmp_path / "probe.csv"
    probe.write_text(KERNEL_ROWS.format(g16=1, g32=1, r=1))
    values = {p.id: training.predict(p, hw) for p in training.load(probe)}
    path = tmp_path / "training.csv"
    path.write_text(KERNEL_ROWS.format(g16=values["g16"], g32=values["g32"],
                                       r=values["speedup"]))
    return path


def test_training_file_is_checked(tmp_path):
    bad = tmp_path / "t.csv"
    bad.write_text(KERNEL_ROWS.format(g16=-1, g32=1, r=1))
    with pytest.raises(ValueError, match="positive"):
        training.load(bad)
    bad.write_text(KERNEL_ROWS.format(g16=1, g32=1, r=1).replace(",test\n", ",\n", 1))
    with pytest.raises(ValueError, match="source"):
        training.load(bad)
    bad.write_text(KERNEL_ROWS.format(g16=1, g32=1, r=1).replace("kernel,", "table2,", 1))
    with pytest.raises(ValueError, match="kind"):
        training.load(bad)


def test_training_set_is_the_released_points_only():
    """The paper's held-out tables stay out: of Tables 3 and 4 only llama3-8b's released
    points, nothing of Table 2."""
    points = training.load(TRAINING)
    assert {p.model for p in points if p.kind in ("prefill", "decode")} == {"llama3-8b"}
    assert not [p for p in points if "Table 2" in p.source]
    assert len(points) == 10


def test_committed_profile_is_the_fit_of_the_training_file():
    data = load_profile("wse2")
    assert data["training_sha256"] == calibration.training_digest(TRAINING)
    assert data["points"] == len(training.load(TRAINING))
    hw = calibrated(WSE2)
    assert hw.calibration == (f"calibrated on results/reference/training.csv "
                              f"({data['points']} points)")
    for p in training.load(TRAINING):  # its residuals are what the model gives on it now
        assert math.isclose(math.log(training.predict(p, hw) / p.value),
                            data["residuals"][p.id], abs_tol=1e-5), p.id
    bounds = ASSUMPTION_BOUNDS["wse2"]
    for name, value in data["values"].items():
        lo, hi, _ = bounds[name]
        assert lo <= value <= hi, name
        if name in data["at_bound"]:
            assert min(abs(value - lo), abs(value - hi)) <= 1e-3 * (hi - lo), name
    assert set(data["values"]).isdisjoint(data["not_pinned"])


def test_nominal_profile_is_one_option_away():
    assert get_hardware("wse2", profile="nominal") == WSE2
    assert get_hardware("wse2", profile="nominal").calibration == ""
    assert get_hardware("wse2").calibration.startswith("calibrated on")
    with pytest.raises(ValueError, match="profile"):
        get_hardware("wse2", profile="tuned")


def test_fit_recovers_a_known_parameter(tmp_path):
    truth = replace(WSE2, ramp_latency_cycles=3.2)
    points = training.load(_points(tmp_path, truth))
    problem = calibration.Problem(WSE2, points)
    names = ["ramp_latency_cycles"]
    x0 = np.array([problem.to_x(n, getattr(WSE2, n)) for n in names])
    sol = calibration._solve(problem, names, x0)
    assert problem.to_value(names[0], sol.x[0]) == pytest.approx(3.2, abs=0.05)


def test_calibration_reads_nothing_but_its_training_file(tmp_path):
    path = _points(tmp_path, replace(WSE2, ramp_latency_cycles=3.0))
    points = training.load(path)
    opened = []
    active = [False]

    def hook(event, args):
        if active[0] and event == "open" and isinstance(args[0], (str, Path)):
            opened.append(str(args[0]))

    sys.addaudithook(hook)
    import scipy.linalg  # noqa: F401  (imports open files: before the watch)
    import scipy.optimize  # noqa: F401

    active[0] = True
    try:
        calibration.calibrate(WSE2, training.load(path), progress=lambda m: None)
        reread = training.load(path)
    finally:
        active[0] = False
    data = [f for f in opened if not f.endswith((".py", ".pyc", ".so")) and "site-packages"
            not in f and "/proc/" not in f]
    assert set(data) == {str(path)}, data
    assert len(reread) == len(points)


def test_calibrate_command_writes_table_figure_and_profile(tmp_path):
    path = _points(tmp_path, replace(WSE2, ramp_latency_cycles=3.0))
    out = tmp_path / "calibration.csv"
    assert main(["calibrate", "--training", str(path), "--out", str(out), "--figure",
                 str(tmp_path / "c.png"), "--profile-out", str(tmp_path / "p.json")]) == 0
    text = out.read_text()
    assert "parameter" in text and "leave_one_out_rms_log_error" in text
    assert "never counted as agreement" in text
    assert (tmp_path / "c.png").stat().st_size > 1000
    profile = json.loads((tmp_path / "p.json").read_text())
    assert profile["points"] == 3 and profile["band"]["method"] == "leave-one-out"

"""The independent validation table: each published measurement beside the model's
prediction, with the error, and the measurement itself untouched."""

import importlib.util
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def test_validation_table_publishes_prediction_and_error(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "validate", ROOT / "benchmarks/validate_cost_model.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    table = mod.main(tmp_path / "validation.csv")
    ref = pd.read_csv(ROOT / "results/reference/validation.csv")
    measured = table[table["source"] == "measured"]
    assert measured["value"].tolist() == ref["value"].tolist()
    pred = table[(table["source"] == "simulated") & (table["metric"] == "tflops")].iloc[0]
    ratio = table[table["metric"] == "tflops_vs_measured"].iloc[0]
    assert abs(ratio["value"] - pred["value"] / measured["value"].iloc[0]) < 1e-9
    assert pred["low"] <= pred["value"] <= pred["high"]

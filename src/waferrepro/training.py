"""The calibration's training set: results/reference/training.csv, the only published values
that may inform a cost-model parameter (issue 19), and the model's prediction of each.

Each row names what was measured (kind, system, model, shape, cores, lengths, metric), its
source and, optionally, the claim of results/reference/claims.yaml it stands for (`claim`: the
scorecard marks such a claim, and a published number equal to a point, `fitted`, never
agreement). `predict(row, hw)` evaluates the same cycle model the records use (sweep.evaluate,
meshsim.simulate) on a hardware description, so a calibrated parameter changes a prediction
exactly as it changes a record. The paper's kernels run under the `paper-kernels` preset;
Miyajima et al.'s SGEMM is their own code, predicted as a Cannon-family fp32 GEMM in our vector
loop form (the authors' @map form is not theirs).

Nothing else of the paper's Tables 2-4 is read here or anywhere in the calibration: this file
is the one reader of training.csv, and tests/test_calibration.py checks that the calibration
opens no other data file.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from . import sweep
from .experiments import DecodeJob, KernelJob, PrefillJob
from .hardware import Hardware
from .meshsim import simulate
from .meshsim.gemm import run_cannon

TRAINING_CSV = Path("results/reference/training.csv")
PRESET = "paper-kernels"
KINDS = ("prefill", "decode", "kernel", "kernel_ratio", "sgemm")
COLUMNS = ("id", "kind", "system", "model", "shape", "cores", "input_len", "output_len",
           "metric", "value", "unit", "source")
# Optional: `claim`, the id of the claim of results/reference/claims.yaml a point stands for
# (e.g. Fig. 10's 4.6x speedup), so the scorecard marks that claim `fitted`, not a prediction.
# The fit does not read it.
OPTIONAL = ("claim",)


@dataclass(frozen=True)
class Point:
    id: str
    kind: str
    system: str
    model: str
    shape: str
    cores: str
    input_len: int | None
    output_len: int | None
    metric: str
    value: float
    unit: str
    source: str
    claim: str = ""


def _int(v: str) -> int | None:
    return int(v) if v.strip() else None


def load(path: Path) -> list[Point]:
    """The training points of `path`, checked: known kinds, positive finite values, a source."""
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = set(COLUMNS) - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: missing column(s) {sorted(missing)}")
        points = []
        for n, r in enumerate(reader, start=2):
            value = float(r["value"])
            if r["kind"] not in KINDS:
                raise ValueError(f"{path}:{n}: kind {r['kind']!r} not one of {KINDS}")
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{path}:{n}: value must be a positive number, got {value}")
            if not r["source"].strip():
                raise ValueError(f"{path}:{n}: every training point needs its source")
            points.append(Point(r["id"], r["kind"], r["system"], r["model"], r["shape"],
                                r["cores"], _int(r["input_len"]), _int(r["output_len"]),
                                r["metric"], value, r["unit"], r["source"],
                                (r.get("claim") or "").strip()))
    ids = [p.id for p in points]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{path}: duplicate point ids")
    return points


def _grid(cores: str) -> tuple[int, int]:
    px, py = (int(v) for v in cores.split("x"))
    return px, py


def _kernel_cycles(system: str, shape: str, cores: str, hw: Hardware) -> float:
    """A kernel job's cycles as its record gives them (sweep.evaluate)."""
    return float(sweep.evaluate(KernelJob("meshsim", system, shape, cores), hw,
                                PRESET)["cycles"][0])


def sgemm_tflops(hw: Hardware, shape: tuple[int, int, int], cores: str):
    """(TFLOP/s, run) of an fp32 SGEMM as a Cannon-family GEMM (interleaved rings, host
    pre-skew, @fmacs, 32-bit wavelets) in the vector loop form: the prediction of Miyajima
    et al.'s measurement (also benchmarks/validate_cost_model.py)."""
    px, py = _grid(cores)
    kernel = partial(run_cannon, interleaved=True, system="MeshGEMM", operand_bits=32)
    run = simulate("MeshGEMM", shape, px, py, replace(hw, loop_form="vector"), False,
                   kernel=kernel).run
    flops = 2.0 * shape[0] * shape[1] * shape[2]
    return flops / (run.cycles / hw.clock_hz) / 1e12, run


def predict(p: Point, hw: Hardware) -> float:
    """The cycle model's value of point `p` on `hw` (in the point's metric and unit)."""
    if p.kind == "prefill":
        job = PrefillJob("meshsim", p.model, p.cores, p.input_len)
        return float(sweep.evaluate(job, hw, PRESET)[p.metric][0])
    if p.kind == "decode":
        job = DecodeJob("meshsim", p.model, p.cores, p.input_len, p.output_len, "shift")
        return float(sweep.evaluate(job, hw, PRESET)[p.metric][0])
    if p.kind == "kernel":
        if p.metric != "latency_ms":
            raise ValueError(f"{p.id}: kernel points give latency_ms, not {p.metric}")
        return _kernel_cycles(p.system, p.shape, p.cores, hw) / hw.clock_hz * 1e3
    if p.kind == "kernel_ratio":
        num, den = p.system.split("/")
        logs = [math.log(_kernel_cycles(num, s, p.cores, hw)
                         / _kernel_cycles(den, s, p.cores, hw)) for s in p.shape.split(";")]
        return math.exp(sum(logs) / len(logs))
    if p.kind == "sgemm":
        return sgemm_tflops(hw, tuple(int(v) for v in p.shape.split("x")), p.cores)[0]
    raise ValueError(f"{p.id}: unknown kind {p.kind!r}")

"""The calibration's training set: the only measured or published values that may inform a
cost-model parameter, and the model's prediction of each.

Two files (TRAINING_FILES), one per chip, both read here and nowhere else in the calibration:
- results/reference/training.csv (WSE-2): the paper's released points (Table 3 and 4 for
  LLaMA3-8B, Table 6's MeshGEMV latencies, Fig. 10's 4.6x), issue 19;
- results/reference/training-wse3.csv (WSE-3): the authors' MeshGEMM and MeshGEMV measured on
  a CS-3 on small grids (P = 16, 80, 144 and one P = 64 GEMM; issue 23), mean cycles per run.

Each row names what was measured (kind, system, model, shape, cores, lengths, metric), its
source and optionally the hardware (`hardware`, default wse2), the MeshGEMV's `group_num` and
the claim of results/reference/claims.yaml it stands for (`claim`: the scorecard marks such a
claim, and a published number equal to a point, `fitted`, never agreement). `predict(point,
hw)` evaluates the cycle model the records use (sweep.evaluate, meshsim.simulate) on a hardware
description; `prediction_form(point, hw)` gives the same prediction as counts x prices
(meshsim.form), which the calibration fits without re-simulating. Every point runs under the
`paper-kernels` preset: all are the authors' kernels. (Miyajima et al.'s SGEMM, another team's
code that no entry of ours prices, is not a training point: it stays in
results/reference/validation.csv, benchmarks/validate_cost_model.py.)

tests/test_calibration.py checks that the calibration opens no other data file.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from . import presets, sweep
from .experiments import DecodeJob, KernelJob, PrefillJob, parse_dims, square_grid
from .hardware import HARDWARE, Hardware
from .meshsim import simulate
from .meshsim.form import Form
from .meshsim.prefill import prefill_layer
from .model_metrics import decode_step_fabrics
from .models import arch

TRAINING_CSV = Path("results/reference/training.csv")
TRAINING_WSE3_CSV = Path("results/reference/training-wse3.csv")
TRAINING_FILES = (TRAINING_CSV, TRAINING_WSE3_CSV)
PRESET = "paper-kernels"
# kernel: a latency in ms; kernel_ratio: a geometric mean of cycle ratios over shapes;
# kernel_cycles: a kernel's cycles per run as its launcher measures them (the WSE-3 grids).
KINDS = ("prefill", "decode", "kernel", "kernel_ratio", "kernel_cycles")
COLUMNS = ("id", "kind", "system", "model", "shape", "cores", "input_len", "output_len",
           "metric", "value", "unit", "source")
# Optional: `claim` (the fit does not read it), `hardware` (wse2 where absent) and `group_num`.
OPTIONAL = ("claim", "hardware", "group_num")


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
    hardware: str = "wse2"
    group_num: int | None = None

    @property
    def family(self) -> str:
        """The point's family: its chip and what it measures ("wse2 prefill", "wse3
        MeshGEMV", ...); the fit gives each family the same weight."""
        what = self.system if self.kind == "kernel_cycles" else self.kind.replace("_ratio", "")
        return f"{self.hardware} {what}"

    @property
    def grid(self) -> int:
        """The grid's side (the grid a leave-one-grid-out fit leaves out)."""
        return parse_dims(self.cores, 2, "core grid")[0]


def _int(v: str | None) -> int | None:
    return int(v) if v and v.strip() else None


def load(path: Path) -> list[Point]:
    """The training points of `path`, checked: known kinds and hardware, positive finite
    values, a source."""
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = set(COLUMNS) - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: missing column(s) {sorted(missing)}")
        points = []
        for n, r in enumerate(reader, start=2):
            value = float(r["value"])
            hardware = (r.get("hardware") or "wse2").strip()
            if r["kind"] not in KINDS:
                raise ValueError(f"{path}:{n}: kind {r['kind']!r} not one of {KINDS}")
            if hardware not in HARDWARE:
                raise ValueError(f"{path}:{n}: hardware {hardware!r} not one of "
                                 f"{sorted(HARDWARE)}")
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{path}:{n}: value must be a positive number, got {value}")
            if not r["source"].strip():
                raise ValueError(f"{path}:{n}: every training point needs its source")
            points.append(Point(r["id"], r["kind"], r["system"], r["model"], r["shape"],
                                r["cores"], _int(r["input_len"]), _int(r["output_len"]),
                                r["metric"], value, r["unit"], r["source"],
                                (r.get("claim") or "").strip(), hardware,
                                _int(r.get("group_num"))))
    ids = [p.id for p in points]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{path}: duplicate point ids")
    return points


def load_all(paths=TRAINING_FILES) -> list[Point]:
    """The points of every training file (ids unique across them)."""
    points = [p for path in paths for p in load(Path(path))]
    ids = [p.id for p in points]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate point ids across {[str(p) for p in paths]}")
    return points


def _kernel_run(system: str, shape: str, cores: str, hw: Hardware, group_num=None):
    px, py = parse_dims(cores, 2, "core grid")
    return simulate(system, parse_dims(shape, 3, "shape"), px, py,
                    presets.hardware(hw, PRESET), False,
                    kernel=presets.kernel(system, PRESET, group_num)).run


def predict(p: Point, hw: Hardware) -> float:
    """The cycle model's value of point `p` on `hw` (in the point's metric and unit), by the
    path the records take."""
    if p.kind == "prefill":
        job = PrefillJob("meshsim", p.model, p.cores, p.input_len)
        return float(sweep.evaluate(job, hw, PRESET)[p.metric][0])
    if p.kind == "decode":
        job = DecodeJob("meshsim", p.model, p.cores, p.input_len, p.output_len, "shift")
        return float(sweep.evaluate(job, hw, PRESET)[p.metric][0])
    if p.kind == "kernel":
        if p.metric != "latency_ms":
            raise ValueError(f"{p.id}: kernel points give latency_ms, not {p.metric}")
        job = KernelJob("meshsim", p.system, p.shape, p.cores)
        return float(sweep.evaluate(job, hw, PRESET)["latency_ms"][0])
    if p.kind == "kernel_ratio":
        num, den = p.system.split("/")
        logs = [math.log(_kernel_run(num, s, p.cores, hw).cycles
                         / _kernel_run(den, s, p.cores, hw).cycles) for s in p.shape.split(";")]
        return math.exp(sum(logs) / len(logs))
    if p.kind == "kernel_cycles":
        return _kernel_run(p.system, p.shape, p.cores, hw, p.group_num).cycles
    raise ValueError(f"{p.id}: unknown kind {p.kind!r}")


@dataclass(frozen=True)
class PointForm:
    """A prediction as counts x prices: constant * prod(cycles_j ** exponent_j), each
    cycles_j a timeline's Form. The constant holds what no price changes (clock, layers,
    tokens); `predict` and this agree where the forms were built (checked)."""
    constant: float
    parts: tuple[tuple[float, Form], ...]

    def value(self, hw) -> float:
        return self.constant * math.prod(f.value(hw) ** e for e, f in self.parts)


def _forms(p: Point, hw: Hardware) -> tuple[tuple[float, Form], ...]:
    """(exponent, Form) of the timelines point `p`'s prediction is made of, on `hw`."""
    if p.kind in ("kernel", "kernel_cycles"):
        run = _kernel_run(p.system, p.shape, p.cores, hw, p.group_num)
        return ((1.0, Form.of(run.fabric.timeline, p.id)),)
    if p.kind == "kernel_ratio":
        num, den = p.system.split("/")
        shapes = p.shape.split(";")
        out = []
        for s in shapes:
            for system, e in ((num, 1.0), (den, -1.0)):
                run = _kernel_run(system, s, p.cores, hw)
                out.append((e / len(shapes), Form.of(run.fabric.timeline, p.id)))
        return tuple(out)
    hw = presets.hardware(hw, PRESET)
    if p.kind == "prefill":  # tokens/s: input_len x clock / (layers x cycles of one layer)
        run = presets.prefill_run(arch(p.model), PRESET)
        levels, root = run.row_tree
        fab, _ = prefill_layer(hw, run.arch, square_grid(p.cores), p.input_len,
                               tree_levels=levels, causal=run.causal, tree_root=root)
        return ((-1.0, Form.of(fab.timeline, p.id)),)
    if p.kind == "decode":  # tokens/s: clock / (layers x the mean cycles of a step)
        run = presets.decode_run(arch(p.model), "shift", PRESET)
        px, py = parse_dims(p.cores, 2, "core grid")
        steps, _ = decode_step_fabrics(hw, run.arch, px, py, p.input_len, p.output_len,
                                       run.kv, tree_root=run.tree_root)
        form = None
        for fab, count in steps:
            share = Form.of(fab.timeline, p.id).scaled(count / p.output_len)
            form = share if form is None else form + share
        return ((-1.0, form),)
    raise ValueError(f"{p.id}: unknown kind {p.kind!r}")


def prediction_form(p: Point, hw: Hardware, constant: float | None = None) -> PointForm:
    """Point `p`'s prediction on `hw` as counts x prices. `constant`: the price-free factor
    from an earlier build (it depends on no construct cost); None: taken from `predict`,
    which runs the records' path once more."""
    parts = _forms(p, hw)
    at = math.prod(f.value(hw) ** e for e, f in parts)
    if constant is None:
        constant = predict(p, hw) / at
    return PointForm(constant, parts)

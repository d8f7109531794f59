"""The experiment matrix: from the validated config to the list of jobs of each table/figure.

Imported by the Snakefile, so it stays free of heavy imports (no NumPy, pandas, matplotlib):
`snakemake -n` must list the whole paper DAG in a few seconds.

Three kinds of experiment, each with its own job (and Snakemake rule):
- kernel: a GEMM/GEMV system on a core grid (Figures 9, 10; Table 6).
- decode: a model decoding on a core grid for given input/output lengths and KV-cache mode
  (Tables 4, 8).
- kv_capacity: the memory model's longest context for a model, grid and KV mode (Table 5).
- prefill: a model prefilling a prompt on a core grid (Tables 3, 7).
- e2e: prefill on one grid and decode on another, for input/output lengths (Table 2).

On meshsim, decode, prefill, e2e and kv_capacity jobs also name their schedule preset
(presets.py): an experiment's `presets:` list, else the config's `schedule_preset`; the paper
config runs both for the model tables (Table 5 too), so the cost of the full layer is a result
of its own. Their record paths end in `_<preset>.json`. Kernel jobs run the config's preset
(one record per kernel job).

A job's `path` is relative to its run's folder (`records/...` under results/<run>/,
waferrepro.runs): the workflow puts it there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .presets import DEFAULT_PRESET

GEMV_SYSTEMS = ("MeshGEMV", "chain-GEMV")
GEMM_SYSTEMS = ("MeshGEMM", "Cannon", "SUMMA")
# Ids whose table also has a figure (figures/<run>/<id>.png and .pdf).
FIGURE_IDS = ("fig9", "fig10")
# System names of whole-model runs, by KV-cache mode (the paper's design is the shift).
DECODE_SYSTEM = {"shift": "WaferLLM", "concat": "WaferLLM-KVconcat"}


def _suffix(preset: str | None) -> str:
    return f"_{preset}" if preset else ""


@dataclass(frozen=True)
class KernelJob:
    backend: str
    system: str
    shape: str  # MxKxN
    cores: str  # WxH
    # MeshGEMV's group_num (the authors' groups of its two-level tree); None: our tree. It
    # enters the path only when set, so the other records keep theirs.
    group_num: int | None = None

    @property
    def path(self) -> str:
        group = "" if self.group_num is None else f"_g{self.group_num}"
        return f"records/{self.backend}/{self.system}/{self.shape}/{self.cores}{group}.json"


@dataclass(frozen=True)
class DecodeJob:
    backend: str
    model: str
    cores: str
    input_len: int
    output_len: int
    kv: str

    preset: str | None = None  # meshsim's schedule preset; None on the SDK backends

    @property
    def path(self) -> str:
        return (f"records/{self.backend}/decode/{self.model}/{self.cores}/"
                f"in{self.input_len}_out{self.output_len}_kv{self.kv}"
                f"{_suffix(self.preset)}.json")


@dataclass(frozen=True)
class KVCapacityJob:
    backend: str
    model: str
    cores: str
    kv: str

    preset: str | None = None

    @property
    def path(self) -> str:
        return (f"records/{self.backend}/kv_capacity/{self.model}/{self.cores}/"
                f"kv{self.kv}{_suffix(self.preset)}.json")


@dataclass(frozen=True)
class PrefillJob:
    backend: str
    model: str
    cores: str
    input_len: int

    preset: str | None = None

    @property
    def path(self) -> str:
        return (f"records/{self.backend}/prefill/{self.model}/{self.cores}/"
                f"in{self.input_len}{_suffix(self.preset)}.json")


@dataclass(frozen=True)
class EndToEndJob:
    backend: str
    model: str
    prefill_cores: str
    decode_cores: str
    input_len: int
    output_len: int
    preset: str | None = None

    @property
    def cores(self) -> str:
        return self.prefill_cores  # the larger region decides functional vs cycle model

    @property
    def path(self) -> str:
        return (f"records/{self.backend}/e2e/{self.model}/p{self.prefill_cores}_"
                f"d{self.decode_cores}/in{self.input_len}_out{self.output_len}"
                f"{_suffix(self.preset)}.json")


@dataclass(frozen=True)
class MatmulBaselineJob:
    device: str  # requested: auto | cpu | cuda (the record says what ran)
    shape: str

    @property
    def path(self) -> str:
        return f"records/baseline-{self.device}/matmul/{self.shape}.json"


@dataclass(frozen=True)
class LLMBaselineJob:
    device: str  # cuda | cpu
    engine: str  # vllm | sglang
    model: str
    gpus: int
    input_len: int
    output_len: int

    @property
    def path(self) -> str:
        return (f"records/baseline-{self.device}/{self.engine}/{self.model}/"
                f"tp{self.gpus}/in{self.input_len}_out{self.output_len}.json")


def parse_dims(text: str, n: int, what: str) -> tuple[int, ...]:
    parts = str(text).lower().split("x")
    if len(parts) != n or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ValueError(f"{what} {text!r} is not {n} positive integers joined by 'x'")
    return tuple(int(p) for p in parts)


def square_grid(cores: str) -> int:
    """The side of a square core grid (prefill runs MeshGEMM, which needs one)."""
    px, py = parse_dims(cores, 2, "core grid")
    if px != py:
        raise ValueError(f"prefill runs MeshGEMM and needs a square grid, got {cores}")
    return px


def grid_side(cores: str) -> float:
    """The side of a square with as many cores as the grid (figures' x axis, the claims'
    per-side ratios)."""
    px, py = parse_dims(cores, 2, "core grid")
    return math.sqrt(px * py)


def grid_str(grid) -> str:
    if isinstance(grid, int):
        return f"{grid}x{grid}"
    return "x".join(map(str, parse_dims(grid, 2, "core grid")))


def shapes_of(system: str, exp: dict) -> list[str]:
    shapes = ["x".join(map(str, parse_dims(s, 3, "shape"))) for s in exp.get("shapes", [])]
    for size in exp.get("sizes", []):
        shapes.append(f"1x{size}x{size}" if system in GEMV_SYSTEMS else f"{size}x{size}x{size}")
    return shapes


def group_nums_of(system: str, exp: dict) -> list:
    """MeshGEMV runs once per group_num an experiment lists (the authors' group counts); every
    other system, and MeshGEMV without `group_nums`, once with our tree (None)."""
    if system == "MeshGEMV" and exp.get("group_nums"):
        return [int(g) for g in exp["group_nums"]]
    return [None]


def jobs_for(config: dict, exp_id: str, backend: str) -> list:
    """The wafer jobs of an experiment, then its baseline jobs."""
    exp = config["experiments"][exp_id]
    return _wafer_jobs(config, exp_id, backend) + _baseline_jobs(config, exp)


def model_presets(config: dict, exp: dict, backend: str) -> list:
    """The schedule presets a whole-model experiment runs: on meshsim its `presets:`, else the
    config's `schedule_preset`; on the SDK backends the kernels are what they are (None)."""
    if backend != "meshsim":
        return [None]

    return list(exp.get("presets") or [config.get("schedule_preset", DEFAULT_PRESET)])


def _wafer_jobs(config: dict, exp_id: str, backend: str) -> list:
    exp = config["experiments"][exp_id]
    kind = exp.get("kind", "kernel")
    presets = model_presets(config, exp, backend)
    if kind == "kernel":
        grids = [grid_str(g) for g in exp["grids"]]
        return [KernelJob(backend, system, shape, grid, group) for system in exp["systems"]
                for shape in shapes_of(system, exp) for grid in grids
                for group in group_nums_of(system, exp)]
    if kind == "e2e":
        return [EndToEndJob(backend, setup["model"], grid_str(setup["prefill_grid"]),
                            grid_str(setup["decode_grid"]), int(i), int(o), preset)
                for setup in exp["setups"] for i, o in exp["lengths"] for preset in presets]
    grids = [grid_str(g) for g in exp["grids"]]
    if kind == "prefill":
        return [PrefillJob(backend, model, grid, int(i), preset) for model in exp["models"]
                for grid in grids for i in exp["input_lens"] for preset in presets]
    kv_modes = exp.get("kv_modes", ["shift"])
    if kind == "decode":
        return [DecodeJob(backend, model, grid, int(i), int(o), kv, preset)
                for model in exp["models"] for grid in grids for i, o in exp["lengths"]
                for kv in kv_modes for preset in presets]
    if kind == "kv_capacity":
        # The memory model is meshsim's on every backend: it always names its preset.
        return [KVCapacityJob(backend, model, grid, kv, preset) for model in exp["models"]
                for grid in grids for kv in kv_modes
                for preset in model_presets(config, exp, "meshsim")]
    raise ValueError(f"experiment {exp_id}: unknown kind {kind!r}")


def _workloads(exp: dict) -> list[tuple[str, int, int]]:
    """(model, input_len, output_len) of a whole-model experiment; prefill: 1 output token."""
    kind = exp.get("kind", "kernel")
    if kind == "e2e":
        return [(s["model"], int(i), int(o)) for s in exp["setups"] for i, o in exp["lengths"]]
    if kind == "prefill":
        return [(m, int(i), 1) for m in exp["models"] for i in exp["input_lens"]]
    if kind == "decode":
        return [(m, int(i), int(o)) for m in exp["models"] for i, o in exp["lengths"]]
    return []


def _baseline_jobs(config: dict, exp: dict) -> list:
    jobs = []
    for device in exp.get("matmul_baselines", []):
        shapes = dict.fromkeys(s for system in exp["systems"] for s in shapes_of(system, exp))
        jobs += [MatmulBaselineJob(device, shape) for shape in shapes]
    llm_device = config.get("baselines", {}).get("llm_device", "cuda")
    for b in exp.get("llm_baselines", []):
        jobs += [LLMBaselineJob(llm_device, b["engine"], model, int(b["gpus"]), i, o)
                 for model, i, o in _workloads(exp)]
    return jobs


BREAKDOWN_KINDS = ("kernel", "decode", "prefill")


def breakdown_jobs(config: dict, backend: str) -> list:
    """The wafer jobs whose records feed the `breakdown` table: every kernel, decode and
    prefill experiment's (records shared, not rerun)."""
    seen: dict[str, object] = {}
    for exp_id, exp in config["experiments"].items():
        if exp.get("kind", "kernel") in BREAKDOWN_KINDS:
            for job in _wafer_jobs(config, exp_id, backend):
                seen.setdefault(job.path, job)
    return list(seen.values())


def all_jobs(config: dict, backend: str) -> list:
    seen: dict[str, object] = {}
    for exp_id in config["experiments"]:
        for job in jobs_for(config, exp_id, backend):
            seen.setdefault(job.path, job)
    return list(seen.values())


def gpu_resources(device: str, gpus: int) -> dict:
    """Scheduler resources of a baseline job: up to 8 GPUs per node (the paper's A100
    nodes), so tensor parallel 16 spans two nodes."""
    if device != "cuda":
        return {"gpu": 0, "nodes": 1}
    return {"gpu": min(gpus, 8), "nodes": -(-gpus // 8)}


# The schema's defaults of `functional_limits` (tests/test_wse3.py holds them equal), for a
# config that has not been through the schema (waferrepro.wse3 called from Python).
FUNCTIONAL_LIMITS = {"max_cores": 1024, "max_macs": 2048 ** 3, "models": ["tiny-llama"]}


def run_mode(config: dict, job) -> str:
    """functional (data moved and checked) on small grids and shapes, else cycle-model."""
    px, py = parse_dims(job.cores, 2, "core grid")
    limits = config["functional_limits"]
    if isinstance(job, KernelJob):
        m, k, n = parse_dims(job.shape, 3, "shape")
        small = m * k * n <= limits["max_macs"]
    else:
        small = job.model in limits["models"]
    return "functional" if small and px * py <= limits["max_cores"] else "cycle-model"

"""The experiment matrix: from the validated config to the list of jobs of each table/figure.

Imported by the Snakefile, so it stays free of heavy imports (no NumPy, pandas, matplotlib):
`snakemake -n` must list the whole paper DAG in a few seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

GEMV_SYSTEMS = ("MeshGEMV", "chain-GEMV")
GEMM_SYSTEMS = ("MeshGEMM", "Cannon", "SUMMA")
# Ids whose table also has a figure (figures/<id>.png and .pdf).
FIGURE_IDS = ("fig9", "fig10")
SIMULATED_BACKENDS = ("meshsim", "sdk-sim")


@dataclass(frozen=True)
class Job:
    backend: str
    system: str
    shape: str  # MxKxN
    cores: str  # WxH

    @property
    def path(self) -> str:
        return f"results/records/{self.backend}/{self.system}/{self.shape}/{self.cores}.json"


def parse_dims(text: str, n: int, what: str) -> tuple[int, ...]:
    parts = str(text).lower().split("x")
    if len(parts) != n or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ValueError(f"{what} {text!r} is not {n} positive integers joined by 'x'")
    return tuple(int(p) for p in parts)


def grid_str(grid) -> str:
    if isinstance(grid, int):
        return f"{grid}x{grid}"
    return "x".join(map(str, parse_dims(grid, 2, "core grid")))


def shapes_of(system: str, exp: dict) -> list[str]:
    shapes = [ "x".join(map(str, parse_dims(s, 3, "shape"))) for s in exp.get("shapes", [])]
    for size in exp.get("sizes", []):
        shapes.append(f"1x{size}x{size}" if system in GEMV_SYSTEMS else f"{size}x{size}x{size}")
    return shapes


def jobs_for(config: dict, exp_id: str, backend: str) -> list[Job]:
    exp = config["experiments"][exp_id]
    return [Job(backend, system, shape, grid_str(grid))
            for system in exp["systems"]
            for shape in shapes_of(system, exp)
            for grid in exp["grids"]]


def all_jobs(config: dict, backend: str) -> list[Job]:
    seen: dict[str, Job] = {}
    for exp_id in config["experiments"]:
        for job in jobs_for(config, exp_id, backend):
            seen.setdefault(job.path, job)
    return list(seen.values())


def run_mode(config: dict, job: Job) -> str:
    """functional (data moved and checked) on small grids and shapes, else cycle-model."""
    px, py = parse_dims(job.cores, 2, "core grid")
    m, k, n = parse_dims(job.shape, 3, "shape")
    limits = config["functional_limits"]
    small = px * py <= limits["max_cores"] and m * k * n <= limits["max_macs"]
    return "functional" if small else "cycle-model"

# Config validation, backend resolution and the job matrix, shared by every rule file.
import json
import os
import sys

from snakemake.exceptions import WorkflowError
from snakemake.utils import update_config, validate

# Rules call the `waferrepro` console script: make the one installed beside this Python win,
# and pass PATH on to jobs that run elsewhere (a cluster node).
envvars:
    "PATH",


os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
sys.path.insert(0, os.path.join(workflow.basedir, "src"))

from waferrepro.sdk.backends import (  # noqa: E402
    BackendUnavailable,
    check_systems,
    resolve as resolve_backend,
)
from waferrepro.presets import PRESETS  # noqa: E402
from waferrepro.configcheck import one_line_error, typed_command_line_config  # noqa: E402
from waferrepro.placement import check_config as check_placement  # noqa: E402
from waferrepro.experiments import (  # noqa: E402
    FIGURE_IDS,
    GEMM_SYSTEMS,
    GEMV_SYSTEMS,
    all_jobs,
    gpu_resources,
    jobs_for,
    run_mode,
)

KERNEL_SYSTEMS = GEMM_SYSTEMS + GEMV_SYSTEMS

CONFIG_SCHEMA = os.path.join(workflow.basedir, "src/waferrepro/schemas/config.schema.yaml")
# --config values arrive as strings inside dicts and lists: put them back typed (YAML).
update_config(config, typed_command_line_config(workflow.config_settings.config_args))
try:
    validate(config, CONFIG_SCHEMA, set_default=True)
except WorkflowError as exc:
    raise WorkflowError(one_line_error(exc)) from None

try:  # regions meant to be resident together must fit the usable fabric
    check_placement(config, config["hardware"])
except ValueError as exc:
    raise WorkflowError(str(exc)) from None

WHOLE_MODEL_SYSTEMS = {"decode": ["Decode"], "prefill": ["Prefill"],
                       "e2e": ["Prefill", "Decode"], "kv_capacity": []}
try:
    BACKEND = resolve_backend(config["backend"], config["sdk"]["mode"])
    check_systems(BACKEND, [s for exp in config["experiments"].values()
                            for s in exp.get("systems", [])
                            + WHOLE_MODEL_SYSTEMS.get(exp.get("kind", "kernel"), [])],
                  "wse3" if BACKEND == "wse3" else config["hardware"])
except BackendUnavailable as exc:
    raise WorkflowError(str(exc)) from None

EXPERIMENT_IDS = list(config["experiments"])


def _code_fingerprint():
    """Hash of the package's sources and schemas: a job param, so that records made by other
    code are redone (Snakemake's params trigger) rather than silently kept."""
    import hashlib
    from pathlib import Path

    digest = hashlib.sha256()
    root = Path(workflow.basedir) / "src" / "waferrepro"
    for path in sorted(root.rglob("*")):
        if path.suffix in (".py", ".json", ".yaml") and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


CODE = _code_fingerprint()
JOBS = {job.path: job for job in all_jobs(config, BACKEND)}
# Published values, tracked in git beside the workflow (not in the run directory).
REFERENCE_CSV = os.path.join(workflow.basedir, "results/reference/published.csv")


def records_for(exp_id):
    return [job.path for job in jobs_for(config, exp_id, BACKEND)]


def figure_outputs(exp_id):
    if exp_id not in FIGURE_IDS:
        return []
    return [f"figures/{exp_id}.png", f"figures/{exp_id}.pdf"]


def all_targets():
    targets = []
    for exp_id in EXPERIMENT_IDS:
        targets.append(f"results/tables/{exp_id}.csv")
        targets.extend(figure_outputs(exp_id))
    # the breakdown of every kernel, decode and prefill run (workflows/breakdown.smk)
    targets += ["results/tables/breakdown.csv", "figures/breakdown.png", "figures/breakdown.pdf"]
    return targets


# What the run rules share: the job behind an output, the hardware arguments.
def _job(output):
    return JOBS[output[0]]


HARDWARE_ARGS = (
    f"--hardware {config['hardware']} --hardware-profile {config['hardware_profile']} "
    f"--hardware-overrides '{json.dumps(config['hardware_overrides'], sort_keys=True)}'"
)
# meshsim's schedule preset (src/waferrepro/presets.py), for the meshsim rules.
PRESET_ARGS = f"--preset {config['schedule_preset']}"
PRESET_NAMES = "|".join(PRESETS)

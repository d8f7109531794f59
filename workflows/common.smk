# Config validation, the run's name and folders, backend resolution and the job matrix, shared
# by every rule file.
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

# The run's name (waferrepro.runs): the config's `run:`, else derived from the config files and
# what --config changes. Every output of this run lies under RUN_DIR and FIG_DIR, so runs
# (paper, smoke, an 850 MHz run, ...) sit side by side; results/reference/ holds the inputs
# every run shares, and nothing else is shared.
from waferrepro import runs as run_names  # noqa: E402
from waferrepro.training import TRAINING_WSE3_CSV  # noqa: E402


def _file_only_config():
    """The config files alone, validated (None where they do not validate without --config)."""
    from snakemake.common.configfile import load_configfile

    merged = {}
    for path in workflow.configfiles:
        update_config(merged, load_configfile(path))
    try:
        validate(merged, CONFIG_SCHEMA, set_default=True)
    except WorkflowError:
        return None
    return merged


if "run" in config:
    try:
        RUN = run_names.check_name(config["run"])
    except ValueError as exc:
        raise WorkflowError(f"invalid config at run: {exc}") from None
else:
    RUN = run_names.derive(
        run_names.base_name(workflow.overwrite_configfiles,
                            os.path.join(workflow.basedir, run_names.DEFAULT_CONFIGFILE)),
        config, _file_only_config())
    config["run"] = RUN
RUN_DIR = run_names.results_dir(RUN)  # results/<run>: records, tables, logs, report
FIG_DIR = run_names.figures_dir(RUN)  # figures/<run>
TABLES = f"{RUN_DIR}/tables"
LOGS = f"{RUN_DIR}/logs"
RUN_CONFIG = f"{RUN_DIR}/config.yaml"


def in_run(path):
    """A path in this run's folder: results/<run>/<path>."""
    return f"{RUN_DIR}/{path}"


def in_figures(path):
    """A path in this run's figures folder: figures/<run>/<path>."""
    return f"{FIG_DIR}/{path}"


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
# group_nums is meshsim's MeshGEMV parameter: the CSL MeshGEMV the SDK backends build takes
# none, so a config asking for it there stops here rather than lacking a rule.
if BACKEND != "meshsim":
    for _exp_id, _exp in config["experiments"].items():
        if _exp.get("group_nums"):
            raise WorkflowError(f"invalid config at experiments/{_exp_id}/group_nums: "
                                f"backend {BACKEND} runs our CSL MeshGEMV, which takes no "
                                "group_num; group_nums runs on meshsim only")

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
# A job's path is relative to the run's folder (records/...).
JOBS = {f"{RUN_DIR}/{job.path}": job for job in all_jobs(config, BACKEND)}
# Published values, tracked in git beside the workflow (not in the run directory).
REFERENCE_CSV = os.path.join(workflow.basedir, "results/reference/published.csv")


def records_for(exp_id):
    return [f"{RUN_DIR}/{job.path}" for job in jobs_for(config, exp_id, BACKEND)]


def figure_outputs(exp_id):
    if exp_id not in FIGURE_IDS:
        return []
    return [f"{FIG_DIR}/{exp_id}.png", f"{FIG_DIR}/{exp_id}.pdf"]


def all_targets():
    targets = [RUN_CONFIG]
    for exp_id in EXPERIMENT_IDS:
        targets.append(f"{TABLES}/{exp_id}.csv")
        targets.extend(figure_outputs(exp_id))
    # the breakdown of every kernel, decode and prefill run (workflows/breakdown.smk)
    targets += [f"{TABLES}/breakdown.csv", f"{FIG_DIR}/breakdown.png", f"{FIG_DIR}/breakdown.pdf"]
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
RUN_ARGS = f"--run {RUN}"


# `snakemake wse3` (workflows/wse3.smk): the CS-3 measurements set beside the model's points
# (the calibration's WSE-3 training file), and what the table reads from the config.
WSE3_MEASURED = os.path.join(workflow.basedir, str(TRAINING_WSE3_CSV))


def wse3_config():
    """What the wse3 table reads from the config, as JSON (a param: a change reruns it)."""
    if not config.get("wse3"):
        raise WorkflowError("`snakemake wse3` needs a `wse3:` section in the config (the "
                            "matrix; see config/config.yaml)")
    return json.dumps({key: config[key] for key in
                       ("wse3", "hardware_overrides", "hardware_profile", "functional_limits",
                        "seed")})

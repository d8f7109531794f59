"""Runs: every run of the workflow writes under its own name, so runs sit side by side.

Layout (relative to the directory Snakemake runs in):

    results/<run>/config.yaml     the run's effective config (`run:` included): rerun it with
                                  `snakemake --configfile results/<run>/config.yaml`
    results/<run>/records/        one run record per job
    results/<run>/tables/         tidy tables, the sweeps, validation, scorecard.csv
    results/<run>/logs/           one log per job
    results/<run>/report/         the report's front page (written with the scorecard)
    results/<run>/build/, steps/  SDK compile outputs and Decode steps (SDK backends only)
    figures/<run>/                figures (png, pdf), the scorecard's too
    results/reference/            tracked inputs (published values, claims, validation data):
                                  shared by every run, never written by one

Nothing else is shared between runs (Snakemake's own metadata in .snakemake/ aside).

The name is the config's `run:` where it sets one, else derived (`derive`): `paper` for
config/config.yaml, the file's stem for another config file (`smoke`), and where --config
changes the effective config, `<base>[-<value>...]-<hash>`: the values of LABELLED_KEYS that
differ from the file's, then the first 8 hex digits of the SHA-256 of the effective config
(canonical JSON, `run` left out), so a re-run of the same command resumes in the same folder.
Only LABELLED_KEYS differing gives no hash (`paper-wse3` for `--config hardware=wse3`,
`paper-nominal` for `--config hardware_profile=nominal`, beside the calibrated `paper`).

Imported by the Snakefile: standard library only.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

RESULTS = "results"
FIGURES = "figures"
PAPER = "paper"  # the run of config/config.yaml, the paper's matrix
DEFAULT_CONFIGFILE = "config/config.yaml"
# results/reference/ holds tracked inputs: no run may write there.
RESERVED = ("reference",)
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"  # also the config schema's `run` pattern
# Keys whose value, where --config changes it, is spelled out in the derived name.
LABELLED_KEYS = ("hardware", "hardware_profile", "backend", "schedule_preset")


def results_dir(run: str) -> str:
    return f"{RESULTS}/{run}"


def figures_dir(run: str) -> str:
    return f"{FIGURES}/{run}"


def tables_dir(run: str, root: str | os.PathLike = ".") -> Path:
    return Path(root) / RESULTS / run / "tables"


def check_name(run: str) -> str:
    if not isinstance(run, str) or not re.match(NAME_PATTERN, run) or run in RESERVED:
        raise ValueError(f"invalid run name {run!r}: letters, digits, '.', '_' and '-' "
                         f"(not first), not {', '.join(RESERVED)}")
    return run


def _safe(text: str) -> str:
    text = re.sub(r"[^A-Za-z0-9._-]+", "_", text).lstrip("._-")
    return text or "run"


def base_name(configfiles, default_configfile: str | os.PathLike) -> str:
    """`paper` for the default config file (config/config.yaml) or none given, else the
    files' stems (`smoke` for config/smoke.yaml)."""
    default = os.path.realpath(default_configfile)
    names = [PAPER if os.path.realpath(f) == default else _safe(Path(f).stem)
             for f in configfiles]
    name = "_".join(dict.fromkeys(names)) or PAPER
    return f"{name}-run" if name in RESERVED else name


def config_hash(config: dict) -> str:
    """Short, stable hash of an effective config (`run` left out)."""
    body = {k: v for k, v in config.items() if k != "run"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def derive(base: str, effective: dict, file_only: dict | None) -> str:
    """The run name of `effective` (validated, defaults filled in), given `file_only`: the same
    files validated without the command line's --config (None: they do not validate alone)."""
    strip = lambda c: {k: v for k, v in c.items() if k != "run"}  # noqa: E731
    if file_only is not None and config_hash(strip(effective)) == config_hash(strip(file_only)):
        return base
    old = file_only or {}
    labels = [_safe(str(effective[k])) for k in LABELLED_KEYS
              if k in effective and effective.get(k) != old.get(k)]
    rest = {k: v for k, v in strip(effective).items() if k not in LABELLED_KEYS}
    old_rest = {k: v for k, v in strip(old).items() if k not in LABELLED_KEYS}
    if file_only is not None and labels and config_hash(rest) == config_hash(old_rest):
        return "-".join([base, *labels])
    return "-".join([base, *labels, config_hash(effective)])


def runs(root: str | os.PathLike = ".") -> list[str]:
    """Runs with a tables folder under results/, the most recently written first."""
    base = Path(root) / RESULTS
    found = []
    for tables in base.glob("*/tables"):
        name = tables.parent.name
        if name in RESERVED or not tables.is_dir():
            continue
        stamps = [p.stat().st_mtime for p in tables.glob("*.csv")] or [tables.stat().st_mtime]
        found.append((max(stamps), name))
    return [name for _, name in sorted(found, reverse=True)]


def latest(root: str | os.PathLike = ".") -> str | None:
    found = runs(root)
    return found[0] if found else None


def remake_command(run: str, root: str | os.PathLike = ".", target: str = "scorecard") -> str:
    """The command that builds `target` for `run`: the config file a run name comes from, or
    the run's own config.yaml (written when it starts) for a derived or given name."""
    if run == PAPER:
        return f"snakemake {target}"
    saved = Path(RESULTS) / run / "config.yaml"
    if (Path(root) / saved).exists():
        return f"snakemake --configfile {saved} {target}"
    if (Path(root) / "config" / f"{run}.yaml").exists():
        return f"snakemake --configfile config/{run}.yaml {target}"
    return f"snakemake --configfile <its config> --config run={run} {target}"


def write_config(path: str | os.PathLike, config: dict) -> None:
    """The run's effective config as YAML, atomically (results/<run>/config.yaml): a config
    file that runs the same run again, under the same name."""
    import yaml

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(f"# The effective config of run {config['run']}, written by the workflow; run "
                   f"it again with\n#   snakemake --configfile {path}\n"
                   + yaml.safe_dump(config, sort_keys=True))
    os.replace(tmp, path)

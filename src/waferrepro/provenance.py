"""Where a number came from: code version, packages, host, time."""

from __future__ import annotations

import datetime as _dt
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from . import __version__

_PACKAGES = ("numpy", "pandas", "matplotlib", "snakemake", "torch", "vllm", "sglang")


def git_state(start: Path | None = None) -> tuple[str, bool | None]:
    """(commit, dirty) of the checkout holding this package, or ("unknown", None)."""
    where = start or Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=where, capture_output=True, text=True, timeout=10,
                               check=True).stdout.strip() != ""
        return commit or "unknown", dirty
    except (OSError, subprocess.SubprocessError):
        return "unknown", None


def package_versions() -> dict[str, str]:
    out = {}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def collect(device: str, clock_hz: float | None, clock_source: str) -> dict:
    commit, dirty = git_state()
    return {
        "git_commit": commit,
        "git_dirty": dirty,
        "packages": package_versions(),
        "host": platform.node() or "unknown",
        "python": platform.python_version(),
        "device": device,
        "clock_hz": clock_hz,
        "clock_source": clock_source,
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "harness_version": __version__,
    }

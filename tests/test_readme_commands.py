"""Every shell command in README.md's code blocks runs, so the README cannot drift (issue 12).

Commands run in a scratch copy of the working tree, with this environment's `.venv` linked in
and its bin/ first on PATH. Snakemake commands run as dry runs (`-n`: the paper matrix takes
minutes), except those in RUN_FULLY. The ones that cannot run here are listed in SKIP, each
with its reason; any other command is run as written, so a new README command is tested
without touching this file.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent

# Prefixes of commands that cannot run in a test, and why.
SKIP = {
    "python3 -m venv .venv": "creates the environment these tests run in",
    ".venv/bin/pip install": "installs the environment these tests run in (registry, minutes)",
    ".venv/bin/python -m pytest": "the test suite itself",
    ".venv/bin/snakemake --configfile config/sdk-smoke.yaml --config backend=":
        "needs the Cerebras SDK (tests/test_sdk_workflow.py dry-runs these with a fake SDK)",
    "cslc ": "the Cerebras SDK's compiler, not installed here",
    "cs_python ": "the Cerebras SDK's Python, not installed here",
    ".venv/bin/snakemake --profile profiles/slurm": "needs a SLURM cluster (tests/test_slurm.py)",
}
# Snakemake commands short enough to run for real (the rest run with -n).
RUN_FULLY = (".venv/bin/snakemake --configfile config/smoke.yaml",)
# --report needs finished outputs: it is run on those of the smoke run (the paper run is
# minutes), after it, and written in the smoke run's folder (results/smoke/, not results/paper/).
AFTER_SMOKE_RUN = {".venv/bin/snakemake --report": "--configfile config/smoke.yaml"}


def readme_commands(text: str) -> list[str]:
    """Logical commands of the bash code blocks: continuation lines joined, comment lines
    dropped, `a && b` split."""
    commands = []
    for block in re.findall(r"```(?:bash|sh|shell)\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+", " ", line).strip()
            if line and not line.startswith("#"):
                commands += [part.strip() for part in line.split(" && ")]
    return commands


COMMANDS = readme_commands((REPO / "README.md").read_text())


def _plan(command: str):
    """(how to run it, or None, and why)."""
    for prefix, reason in SKIP.items():
        if command.startswith(prefix):
            return None, reason
    if command.startswith(".venv/bin/snakemake"):
        exe, rest = command.split(" ", 1) if " " in command else (command, "")
        for prefix, extra in AFTER_SMOKE_RUN.items():
            if command.startswith(prefix):
                rest = rest.replace("results/paper/", "results/smoke/")
                return f"{exe} {extra} {rest}", "on the smoke run's outputs"
        if command.startswith(RUN_FULLY):
            return command, "full run"
        return f"{exe} -n {rest}".strip(), "dry run"
    return command, "as written"


def test_readme_has_the_commands_this_test_knows():
    assert len(COMMANDS) >= 10
    planned = [_plan(c) for c in COMMANDS]
    assert any(run for run, _ in planned) and any(run is None for run, _ in planned)
    used = {p for p in SKIP if any(c.startswith(p) for c in COMMANDS)}
    assert used == set(SKIP), f"SKIP entries no README command uses: {set(SKIP) - used}"


def test_readme_commands_work_from_a_fresh_shell():
    # No activated venv: the package's command is .venv/bin/waferrepro wherever a command
    # calls it (also inside $(...)); and what a command writes goes where git ignores it
    # (results/, figures/), never an untracked build/ or file in the repository root.
    for command in COMMANDS:
        for call in re.finditer(r"waferrepro\s", command):
            assert command[:call.start()].endswith(".venv/bin/"), command
        for flag, path in re.findall(r"(--out|--out-json|-o|--name)[ =](\S+)", command):
            if not path.startswith("<"):
                assert path.startswith(("results/", "figures/")), (flag, path, command)
        assert not re.search(r"(?:^|[\s=])(?:\./)?build/", command), command


@pytest.fixture(scope="module")
def scratch_repo(tmp_path_factory):
    """The working tree (tracked and untracked, not ignored) copied, .venv linked."""
    dest = tmp_path_factory.mktemp("readme") / "repo"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, files):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    (dest / ".venv").symlink_to(VENV_BIN.parent)
    return dest


def _order(commands):  # full runs first, so the commands that read their outputs find them
    return sorted(commands, key=lambda c: not c.startswith(RUN_FULLY))


@pytest.mark.workflow
@pytest.mark.parametrize("command", _order(COMMANDS))
def test_readme_command_runs(command, scratch_repo):
    run, why = _plan(command)
    if run is None:
        pytest.skip(f"not run: {why}")
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}

    def bash(line):
        return subprocess.run(["bash", "-c", line], cwd=scratch_repo, env=env,
                              capture_output=True, text=True, timeout=600)

    smoke_done = (scratch_repo / "results/smoke/tables").exists()
    if command.startswith(tuple(AFTER_SMOKE_RUN)) and not smoke_done:
        assert bash(RUN_FULLY[0]).returncode == 0, "the smoke run failed"
    res = bash(run)
    assert res.returncode == 0, f"{run} ({why}) failed:\n{(res.stdout + res.stderr)[-3000:]}"

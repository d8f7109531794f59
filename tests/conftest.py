import shutil
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def snakemake_cmd() -> list[str]:
    """Snakemake from the same environment as the tests (the README's venv)."""
    exe = Path(sys.executable).with_name("snakemake")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("snakemake")
    if not found:
        pytest.fail("snakemake is not installed: run the README's install command first")
    return [found]


# One audit hook for the whole session (a hook cannot be removed): it reports each file
# opened to the lists `watch_opens` has open at the time.
_WATCHING: list[list[str]] = []


def _report_open(event, args):
    if event == "open" and _WATCHING and isinstance(args[0], (str, Path)):
        for opened in _WATCHING:
            opened.append(str(args[0]))


@contextmanager
def _watch():
    if not getattr(_report_open, "installed", False):
        sys.addaudithook(_report_open)
        _report_open.installed = True
    opened: list[str] = []
    _WATCHING.append(opened)
    try:
        yield opened
    finally:
        _WATCHING.remove(opened)


@pytest.fixture
def watch_opens():
    """`with watch_opens() as opened:` the paths of the files opened inside the block."""
    return _watch

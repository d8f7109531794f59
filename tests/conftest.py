import shutil
import sys
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

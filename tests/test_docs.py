"""The docs the code points to exist (issue 12: references to a design file not in the repo)."""

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEXT = (".py", ".md", ".smk", ".yaml", ".yml", ".csl", ".rst", ".toml", "Snakefile")


def _tracked_text_files():
    names = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.splitlines()
    return [REPO / n for n in names if n.endswith(TEXT) and (REPO / n).is_file()]


def test_every_referenced_markdown_file_exists():
    existing = {p.relative_to(REPO).as_posix() for p in REPO.rglob("*.md")
                if ".venv" not in p.parts and ".snakemake" not in p.parts}
    names = {Path(p).name for p in existing}
    missing = []
    for path in _tracked_text_files():
        for ref in re.findall(r"[\w./-]*\b[\w-]+\.md\b", path.read_text(errors="replace")):
            ref = ref.lstrip("./")
            rel = (path.parent / ref).resolve()
            if ref in existing or Path(ref).name in names or rel.exists():
                continue
            missing.append(f"{path.relative_to(REPO)}: {ref}")
    assert not missing, missing


def test_architecture_covers_what_a_newcomer_needs():
    text = (REPO / "ARCHITECTURE.md").read_text()
    for heading in ("## Data flow", "## Modules", "## The cost model", "## How to add"):
        assert heading in text
    for what in ("**A kernel**", "**A model:**", "**A backend:**"):
        assert what in text

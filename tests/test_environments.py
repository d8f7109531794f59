"""The environments say the same thing: pyproject.toml's dependencies and extras, env.yml (the
whole environment) and the per-rule environments in workflows/envs/ (Snakemake's
`--software-deployment-method conda`) name the same packages with the same version floors."""

import re
from pathlib import Path

import pytest
import yaml

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]
# conda-forge names of the pip packages that differ.
CONDA_NAME = {"snakemake": "snakemake-minimal", "matplotlib": "matplotlib-base"}


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _specs(items) -> dict[str, str]:
    """{name: floor} from 'name>=1.2' strings (pip or conda), pip names mapped to conda's."""
    out = {}
    for item in items:
        if not isinstance(item, str) or item.startswith("-e"):
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*(?:>=\s*([0-9.]+))?", item.strip())
        assert m, f"unparsed requirement {item!r}"
        out[CONDA_NAME.get(m.group(1), m.group(1))] = m.group(2) or ""
    return out


def _conda(path: Path) -> dict[str, str]:
    deps = yaml.safe_load(path.read_text())["dependencies"]
    pip = [d for dep in deps if isinstance(dep, dict) for d in dep.get("pip", [])]
    return _specs([d for d in deps if isinstance(d, str)] + pip)


def test_env_yml_has_every_runtime_and_test_dependency():
    proj = _pyproject()
    want = _specs(proj["dependencies"] + proj["optional-dependencies"]["test"]
                  + proj["optional-dependencies"]["slurm"])
    got = _conda(ROOT / "env.yml")
    assert {k: v for k, v in got.items() if k in want} == want


@pytest.mark.parametrize("env,extras", [("waferrepro", []), ("gpu", ["gpu", "vllm", "sglang"])])
def test_rule_environments_match_the_package(env, extras):
    proj = _pyproject()
    # Snakemake itself runs the workflow; the rules' environments need only what jobs import.
    runtime = {k: v for k, v in _specs(proj["dependencies"]).items()
               if k != "snakemake-minimal"}
    for extra in extras:
        runtime.update(_specs(proj["optional-dependencies"][extra]))
    got = _conda(ROOT / "workflows" / "envs" / f"{env}.yaml")
    got.pop("python"), got.pop("pip")
    assert got == runtime


def test_every_rule_names_an_environment_that_exists():
    for smk in (ROOT / "workflows").glob("*.smk"):
        for env in re.findall(r'conda:\n\s+"([^"]+)"', smk.read_text()):
            assert (smk.parent / env).is_file(), f"{smk.name}: {env} missing"

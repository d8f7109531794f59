"""Appliance mode: compile and run the CSL kernels on a Wafer-Scale Cluster through the
`cerebras-sdk` client (SdkCompiler / SdkLauncher) instead of a local cslc and cs_python.

The client uploads the staged source folder, compiles on the cluster and returns an artifact
id; the launcher stages the kernel's run.py with a zip of the harness's host code next to it,
runs it on a worker (`--cmaddr %CMADDR%`: the cluster fills in the system's address) and
downloads the launcher's JSON result, from which `waferrepro sdk record` builds the record.
The client packages pin an old numpy, so they live in their own environment; that
environment needs only this module, numpy and the standard library.

NOT RUN HERE: no cluster and no `cerebras-sdk` package on the machines this was written on.
Tested here: the options, the staged bundle, the remote command and the missing-package
message.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

BUNDLE = "waferrepro_host.zip"
RESULT = "result.json"

CLIENT_HELP = ("appliance mode needs the `cerebras-sdk` and `cerebras-appliance` packages "
               "(from Cerebras, for your cluster's release) in their own environment, since "
               "they pin an old numpy; run Snakemake from that environment, or use "
               "`sdk: {mode: direct}` with a local SDK")


class ClientMissing(RuntimeError):
    pass


def _client():
    try:
        from cerebras.sdk import client  # pylint: disable=import-error
    except ImportError as err:
        raise ClientMissing(f"cerebras.sdk.client not importable ({err}): {CLIENT_HELP}") from err
    return client


def host_bundle(dest: str) -> str:
    """A zip of the harness's Python modules, importable with zipimport: what the launchers
    import on a worker (sdk.launch, host, and for Decode and Prefill meshsim's packing; numpy
    only)."""
    pkg = Path(__file__).resolve().parent.parent  # the waferrepro package
    with zipfile.ZipFile(dest, "w") as zf:
        for path in sorted(pkg.rglob("*.py")):
            if "__pycache__" not in path.parts:
                zf.write(path, f"waferrepro/{path.relative_to(pkg).as_posix()}")
    return dest


def remote_command(launcher_args: str, simulator: bool) -> str:
    """The command the launcher runs on the worker; %CMADDR% is only allowed on hardware."""
    cmd = f"cs_python run.py --name out {launcher_args} --out-json {RESULT}"
    return cmd if simulator else f"{cmd} --cmaddr %CMADDR%"


def compile_kernel(app_dir: str, options: list[str], out_dir: str) -> str:
    """Compile the staged folder on the cluster; the artifact id goes to out_dir/artifact.json."""
    client = _client()
    opts = " ".join(options)
    with client.SdkCompiler(disable_version_check=True) as compiler:
        artifact_id = compiler.compile(app_path=app_dir, csl_main="layout.csl", options=opts,
                                       out_path=out_dir)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    Path(out_dir, "artifact.json").write_text(json.dumps(
        {"artifact_id": artifact_id, "options": opts}, indent=2))
    return artifact_id


def run_kernel(artifact_json: str, app_dir: str, launcher_args: str, simulator: bool,
               out_json: str) -> str:
    """Run a compiled artifact on the cluster and download the launcher's result."""
    client = _client()
    artifact_id = json.loads(Path(artifact_json).read_text())["artifact_id"]
    bundle = host_bundle(str(Path(app_dir) / BUNDLE))
    with client.SdkLauncher(artifact_id, simulator=simulator,
                            disable_version_check=True) as launcher:
        launcher.stage(str(Path(app_dir) / "run.py"))
        launcher.stage(bundle)
        response = launcher.run(remote_command(launcher_args, simulator))
        launcher.download_artifact(RESULT, out_json)
    return str(response)

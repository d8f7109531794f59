"""Which backend runs the CSL modules, and a clear stop when the one asked for is missing."""

from __future__ import annotations

import os
import shutil

# The SDK's tools; CEREBRAS_SDK_DIR may point at an unpacked SDK (its `cslc` and `cs_python`).
SDK_TOOLS = ("cslc", "cs_python")
SDK_HELP = (
    "The Cerebras SDK is available on request from Cerebras (https://www.cerebras.ai/developers/"
    "sdk-request); put its `cslc` and `cs_python` on PATH or set CEREBRAS_SDK_DIR to the folder "
    "holding them. Appliance mode needs the `cerebras-sdk` and `cerebras-appliance` packages in "
    "their own environment (they pin an old numpy). Use `backend: meshsim` to run without it.")


# Modules whose CSL program exists (kernels/<module>/layout.csl, pe_program.csl, run.py).
CSL_SYSTEMS = {"MeshGEMV": "kernels/MeshGEMV", "MeshGEMM": "kernels/MeshGEMM",
               "Prefill": "kernels/Prefill", "Decode": "kernels/Decode"}
# Kernels written for WSE-2 only (their layout.csl says why).
WSE2_ONLY = {"Prefill", "Decode"}
SDK_MODES = ("direct", "appliance")
# Which SDK releases the CSL targets (kernels/README.md, "SDK versions"): 1.x syntax, as the
# authors' kernels (MeshInfra/WaferLLM: SDK 1.2 on WSE-2, 1.4 on WSE-3).
# Where the CSL kernels run: the SDK simulator or a wafer.
SDK_BACKENDS = ("sdk-sim", "wse2", "wse3")
SDK_RELEASES = (
    "The CSL kernels target Cerebras SDK 1.x (written against the 1.4 docs, as the authors' "
    "kernels: SDK 1.2 on WSE-2, 1.4 on WSE-3). On SDK 2.x they will not compile as they are: "
    "`comptime_struct` parameters (memcpy params, roles) changed form, WSE-2 queue binding "
    "with @initialize_queue and `fabin_dsd` taking an input queue follow new rules; see "
    "kernels/README.md.")


class BackendUnavailable(RuntimeError):
    """The configured backend cannot run on this machine."""


def find_sdk_tool(tool: str) -> str | None:
    sdk_dir = os.environ.get("CEREBRAS_SDK_DIR")
    if sdk_dir:
        candidate = os.path.join(sdk_dir, tool)
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which(tool)


def appliance_client_found() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("cerebras.sdk.client") is not None
    except ImportError:  # no `cerebras` package at all
        return False


def resolve(requested: str, mode: str = "direct") -> str:
    """The backend that will run: `auto` becomes sdk-sim or meshsim; others are checked.

    mode "direct" uses a local SDK (cslc, cs_python); "appliance" the cerebras-sdk client
    of a Wafer-Scale Cluster (SdkCompiler / SdkLauncher, waferrepro.sdk.appliance).
    """
    if mode not in SDK_MODES:
        raise BackendUnavailable(f"unknown sdk mode {mode!r}; one of {', '.join(SDK_MODES)}")
    if mode == "appliance":
        sdk_found, missing = appliance_client_found(), ["the cerebras-sdk client package"]
    else:
        missing = [t for t in SDK_TOOLS if not find_sdk_tool(t)]
        sdk_found = not missing
    if requested == "auto":
        requested = "sdk-sim" if sdk_found else "meshsim"
    if requested == "meshsim":
        return requested
    if requested in SDK_BACKENDS:
        if not sdk_found:
            raise BackendUnavailable(
                f"backend {requested!r} ({mode} mode) needs the Cerebras SDK, but "
                f"{', '.join(missing)} not found. {SDK_HELP} {SDK_RELEASES}")
        return requested
    raise BackendUnavailable(f"unknown backend {requested!r}")


def check_systems(backend: str, systems, arch: str = "wse2") -> None:
    """An SDK backend runs only the modules whose CSL exists; say which are missing."""
    if backend == "meshsim":
        return
    missing = sorted(set(systems) - set(CSL_SYSTEMS))
    if missing:
        raise BackendUnavailable(
            f"backend {backend!r}: no CSL program yet for {', '.join(missing)} (written so "
            f"far: {', '.join(sorted(CSL_SYSTEMS))}); run those on `backend: meshsim`")
    wse2_only = sorted(set(systems) & WSE2_ONLY)
    if arch == "wse3" and wse2_only:
        raise BackendUnavailable(
            f"backend {backend!r} on WSE-3: the CSL of {', '.join(wse2_only)} targets WSE-2 "
            f"(their layouts refuse --arch=wse3 at compile time; kernels/README.md); use "
            f"`hardware: wse2` with sdk-sim or wse2. {SDK_RELEASES}")

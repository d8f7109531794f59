"""Host side of the Cerebras SDK backends: kernel parameters, staging, command lines (the
kernels' timestamps are decoded by `timing`).

Shared with the simulator where it can be: tiling and pre-skew come from `host.py` (the same
code meshsim's tests exercise). What needs the SDK itself (compiling with `cslc`, running with
`cs_python` or on a wafer) is not run here: this module only builds the commands and decodes
what the kernels send back. Verified here: parameter derivation, exact command lines and
timestamp decoding, by unit tests; not verified here: that the commands compile and run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .. import presets
from ..hardware import DEVICE_FABRIC, FABRIC_OFFSETS, MEMCPY_HALO, WSE2, Hardware
from ..host import group_size
from ..presets import DEFAULT_PRESET, options
from .dsd_limits import check
from .routes import tree_middle


@dataclass(frozen=True)
class CompileSpec:
    module: str  # MeshGEMV, MeshGEMM, ...
    width: int
    height: int
    params: dict  # the kernel's compile-time parameters (--params)
    arch: str = "wse2"


def twin_hardware(preset: str, hw: Hardware | None = None) -> Hardware:
    """The hardware meshsim's twin of a kernel runs on under `preset`: `hw` (the config's, with
    its hardware_overrides) with the preset's wavelet packing and accumulate, except a field
    the overrides set (presets.hardware). The kernels' `packed` and `acc32` follow it, so the
    CSL and its twin make the same transfers whatever the config says."""
    return presets.hardware(hw or WSE2, preset)


def packed_fabric(preset: str, hw: Hardware | None = None) -> bool:
    """Whether the twin sends two fp16 per 32-bit wavelet (`fp16_per_wavelet`): the kernels'
    fabric DSDs then use a 16-bit SIMD mode and need even lengths."""
    return twin_hardware(preset, hw).fp16_per_wavelet == 2


def fp32_accumulate(preset: str, hw: Hardware | None = None) -> bool:
    """Whether the twin accumulates in fp32 (`accumulate`): the kernels' accumulators are then
    f32 and their MACs @fmachs, their partial sums travel as f32 one per wavelet (the `acc32`
    parameter), as meshsim charges it."""
    return twin_hardware(preset, hw).accumulate == "fp32"


def kernel_params(module: str, shape: tuple[int, int, int], px: int, py: int,
                  preset: str = DEFAULT_PRESET, hw: Hardware | None = None) -> dict:
    """The `--params` of a kernel module for a shape on a px x py grid (names as in its
    layout.csl). Tile sizes are those of the simulator's twin (the host pads to even division);
    the schedule preset picks the forms its twin runs (MeshGEMV: the tree's roots; both:
    `packed`, two fp16 per wavelet, the kernels then padding an odd transfer buffer by one
    element so every transfer is ceil(n/2) whole wavelets, as meshsim charges it; `acc32`, the
    accumulate precision: 1 fp32 (@fmachs, f32 accumulators and partial sums), 0 fp16; these
    two from the twin's hardware, `twin_hardware(preset, hw)`, so a hardware override of
    fp16_per_wavelet or accumulate reaches the CSL as it reaches meshsim).
    """
    m, k, n = shape
    packed = packed_fabric(preset, hw)
    acc32 = int(fp32_accumulate(preset, hw))
    if module == "MeshGEMV":
        if m != 1:
            raise ValueError(f"MeshGEMV is a GEMV: M must be 1, got {m}")
        # the two-level tree of meshsim.gemv.run_gemv(tree_levels=2, tree_root), its roots
        # as the preset puts them (routes.tree_middle)
        return {"width": px, "height": py, "kt": math.ceil(k / py), "nt": math.ceil(n / px),
                "group": group_size(py, 2),
                "tree_middle": tree_middle(options(preset)["tree_root"]), "packed": int(packed),
                "acc32": acc32}
    if module == "MeshGEMM":
        if px != py:
            raise ValueError(f"MeshGEMM needs a square grid, got {px}x{py}")
        return {"P": px, "Mt": math.ceil(m / px), "Kt": math.ceil(k / px),
                "Nt": math.ceil(n / px), "packed": int(packed), "acc32": acc32}
    raise ValueError(f"no CSL parameters for module {module!r} yet")


def stage_sources(kernels_dir: str, module: str, dest: str) -> str:
    """Copy a module's CSL and launcher, with the shared library as `common/`, into one
    folder: what cslc compiles (imports are relative to the layout) and what appliance mode
    uploads. Returns the layout's path."""
    import shutil
    from pathlib import Path

    src, out = Path(kernels_dir), Path(dest)
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(src / module, out)
    shutil.copytree(src / "common", out / "common")
    return str(out / "layout.csl")


def fabric_dims(spec: CompileSpec, target: str) -> tuple[int, int]:
    """--fabric-dims: the kernel plus memcpy's halo on the simulator, the device's on a wafer."""
    if target == "simulator":
        return spec.width + MEMCPY_HALO[0], spec.height + MEMCPY_HALO[1]
    if target == "device":
        dims = DEVICE_FABRIC[spec.arch]
        if spec.width + MEMCPY_HALO[0] > dims[0] or spec.height + MEMCPY_HALO[1] > dims[1]:
            raise ValueError(f"{spec.width}x{spec.height} kernel does not fit the {spec.arch} "
                             f"fabric {dims[0]}x{dims[1]} with memcpy's halo")
        return dims
    raise ValueError(f"target must be 'simulator' or 'device', got {target!r}")


def compiler_options(spec: CompileSpec, target: str, out_dir: str) -> list[str]:
    """cslc's options for one kernel and parameter set (everything but the layout file).
    Refuses a parameter set whose DSDs the kernel cannot encode (waferrepro.sdk.dsd_limits)."""
    check(spec.module, spec.params)
    fw, fh = fabric_dims(spec, target)
    params = ",".join(f"{k}:{v}" for k, v in spec.params.items())
    return [f"--arch={spec.arch}", f"--fabric-dims={fw},{fh}",
            f"--fabric-offsets={FABRIC_OFFSETS[0]},{FABRIC_OFFSETS[1]}",
            f"--params={params}", "-o", out_dir, "--memcpy", "--channels=1",
            "--width-west-buf=0", "--width-east-buf=0"]


def compile_command(spec: CompileSpec, target: str, layout: str, out_dir: str,
                    cslc: str = "cslc") -> list[str]:
    """The `cslc` command line for one kernel and parameter set."""
    opts = compiler_options(spec, target, out_dir)
    return [cslc, opts[0], layout, *opts[1:]]


def run_command(launcher: str, out_dir: str, target: str, cmaddr: str | None = None,
                cs_python: str = "cs_python", extra: tuple[str, ...] = ()) -> list[str]:
    """The `cs_python` command that runs a compiled kernel on the simulator or a wafer."""
    cmd = [cs_python, launcher, "--name", out_dir, *extra]
    if target == "device":
        if not cmaddr:
            raise ValueError("running on a wafer needs --cmaddr IP:PORT of the CS system")
        cmd += ["--cmaddr", cmaddr]
    return cmd


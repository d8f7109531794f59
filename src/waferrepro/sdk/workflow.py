"""The command lines `workflows/sdk.smk` runs: stage and compile a CSL module (with `cslc`,
or on a Wafer-Scale Cluster in appliance mode), run its launcher, and Decode's step plan.

Plain functions of the config and the wildcards' values, so they are testable without
Snakemake; the rules only call them.
"""

from __future__ import annotations

import os
import shlex
from glob import glob

from ..experiments import parse_dims, square_grid
from ..hardware_profiles import get_hardware
from ..meshsim.decode_layout import DecodeLayout
from ..model_metrics import decode_step_plan
from ..models import arch
from ..presets import decode_run
from ..runs import results_dir
from . import toolchain
from .backends import SDK_BACKENDS, find_sdk_tool
from .inputs import decode_params, prefill_params
from .timing import runs_for

# The SDK backends and where their kernels run.
SDK_TARGET = {backend: "simulator" if backend == "sdk-sim" else "device"
              for backend in SDK_BACKENDS}
SDK_BACKEND_PATTERN = "|".join(SDK_BACKENDS)  # a Snakemake wildcard constraint


def kernel_sources(kernels_dir: str, module: str) -> list[str]:
    """A module's CSL, its launcher and the shared library: editing one recompiles."""
    return sorted(glob(f"{kernels_dir}/{module}/*") + glob(f"{kernels_dir}/common/*"))


def compile_cmd(config: dict, kernels_dir: str, backend: str, cores: str, module: str,
                params: dict, build: str) -> str:
    """Stage the module, then compile it with cslc (direct) or on the cluster (appliance)."""
    px, py = parse_dims(cores, 2, "core grid")
    arch_name = "wse3" if backend == "wse3" else config["hardware"]
    spec = toolchain.CompileSpec(module, px, py, params, arch=arch_name)
    stage = shlex.join(["waferrepro", "sdk", "stage", "--kernels", kernels_dir,
                        "--system", module, "--out", f"{build}/src"])
    if config["sdk"]["mode"] == "appliance":
        opts = toolchain.compiler_options(spec, SDK_TARGET[backend], "out")
        compile_ = shlex.join(["waferrepro", "appliance", "compile", "--app", f"{build}/src",
                               f"--options={shlex.join(opts)}", "--out", f"{build}/out"])
    else:
        compile_ = shlex.join(toolchain.compile_command(spec, SDK_TARGET[backend],
                                                        f"{build}/src/layout.csl",
                                                        f"{build}/out",
                                                        cslc=find_sdk_tool("cslc")))
    return f"{stage} && {compile_}"


def config_hardware(config: dict):
    """The config's hardware with its overrides (what the records are computed on)."""
    return get_hardware(config["hardware"], config.get("hardware_overrides"),
                      config.get("hardware_profile", "calibrated"))


def run_cmd(config: dict, backend: str, build: str, launcher_args: list[str]) -> str:
    """Run a compiled kernel's launcher: cs_python (direct) or the cluster's SdkLauncher,
    with the warm-up and timed runs of the config or, where it leaves them out, the authors'."""
    warmup, repeats = runs_for(backend, config["sdk"].get("warmup"), config["sdk"].get("repeats"))
    launcher_args = [*launcher_args, "--warmup", str(warmup), "--repeats", str(repeats)]
    if config["sdk"]["mode"] == "appliance":
        cmd = ["waferrepro", "appliance", "run", "--artifact", f"{build}/out/artifact.json",
               "--app", f"{build}/src", f"--launcher-args={shlex.join(launcher_args)}"]
        return shlex.join(cmd + (["--simulator"] if backend == "sdk-sim" else []))
    return shlex.join(toolchain.run_command(f"{build}/src/run.py", f"{build}/out",
                                            SDK_TARGET[backend], config["sdk"]["cmaddr"],
                                            cs_python=find_sdk_tool("cs_python"),
                                            extra=tuple(launcher_args)))


def _run_dir(config: dict) -> str:
    """The run's folder (results/<run>, waferrepro.runs), where its builds go."""
    return results_dir(config["run"])


def kernel_compile_cmd(config: dict, kernels_dir: str, backend: str, system: str, shape: str,
                       cores: str) -> str:
    px, py = parse_dims(cores, 2, "core grid")
    params = toolchain.kernel_params(system, parse_dims(shape, 3, "shape"), px, py,
                                     preset=config["schedule_preset"], hw=config_hardware(config))
    return compile_cmd(config, kernels_dir, backend, cores, system, params,
                       f"{_run_dir(config)}/build/{backend}/{system}/{shape}/{cores}")


def decode_plan(model: str, cores: str, input_len: int, output_len: int, kv: str,
                preset: str):
    """(cache capacity, [(context, steps it stands for), ...]): one kernel step per group of
    equal-cost decode steps (model_metrics.decode_step_plan, what meshsim simulates too) of
    the layer and cache mode the preset runs (presets.decode_run)."""
    px, py = parse_dims(cores, 2, "core grid")
    run = decode_run(arch(model), kv, preset)
    return decode_step_plan(DecodeLayout(run.arch, px, py), input_len, output_len, run.kv)


def decode_step_paths(run_dir: str, backend: str, model: str, cores: str, input_len: int,
                      output_len: int, kv: str, preset: str) -> list[str]:
    cap, plan = decode_plan(model, cores, input_len, output_len, kv, preset)
    return [f"{run_dir}/steps/{backend}/decode/{model}/{cores}/cap{cap}/ctx{t}_kv{kv}.json"
            for t, _ in plan]


def decode_compile_cmd(config: dict, kernels_dir: str, backend: str, model: str, cores: str,
                       cap: int) -> str:
    px, py = parse_dims(cores, 2, "core grid")
    params = decode_params(arch(model), px, py, 0, "shift", cap=cap,
                           preset=config["schedule_preset"], hw=config_hardware(config))
    return compile_cmd(config, kernels_dir, backend, cores, "Decode", params,
                       f"{_run_dir(config)}/build/{backend}/Decode/{model}/{cores}/cap{cap}")


def prefill_compile_cmd(config: dict, kernels_dir: str, backend: str, model: str, cores: str,
                        input_len: int) -> str:
    params = prefill_params(arch(model), square_grid(cores), input_len,
                            preset=config["schedule_preset"], hw=config_hardware(config))
    return compile_cmd(config, kernels_dir, backend, cores, "Prefill", params,
                       f"{_run_dir(config)}/build/{backend}/Prefill/{model}/{cores}/in{input_len}")


def kernels_dir(basedir: str) -> str:
    return os.path.join(basedir, "kernels")


def decode_step_counts(model: str, cores: str, input_len: int, output_len: int,
                       kv: str, preset: str) -> str:
    """How many decode steps each kernel step stands for, as `--counts` takes them."""
    _, plan = decode_plan(model, cores, input_len, output_len, kv, preset)
    return " ".join(str(n) for _, n in plan)

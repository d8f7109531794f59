# One job per record: run it on the backend, write its run record (results/records/...).
# Each rule states its resources so a scheduler can place it.


def _job(output):
    return JOBS[output[0]]


HARDWARE_ARGS = (
    f"--hardware {config['hardware']} "
    f"--hardware-overrides '{json.dumps(config['hardware_overrides'], sort_keys=True)}'"
)
# meshsim's schedule preset (src/waferrepro/presets.py), for the meshsim rules.
PRESET_ARGS = f"--preset {config['schedule_preset']}"


rule run_kernel:
    output:
        "results/records/{backend}/{system}/{shape}/{cores}.json",
    log:
        "results/logs/{backend}/{system}/{shape}/{cores}.log",
    wildcard_constraints:
        backend="meshsim",
        system="|".join(KERNEL_SYSTEMS),
        shape=r"\d+x\d+x\d+",
        cores=r"\d+x\d+",
    params:
        mode=lambda wc, output: run_mode(config, _job(output)),
        hardware=HARDWARE_ARGS,
        seed=config["seed"],
        preset=PRESET_ARGS,
        code=CODE,
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "waferrepro run --backend {wildcards.backend} --system {wildcards.system}"
        " --shape {wildcards.shape} --cores {wildcards.cores} --mode {params.mode}"
        " {params.hardware} --seed {params.seed} {params.preset} --out {output} 2> {log}"


rule run_decode:
    output:
        "results/records/{backend}/decode/{model}/{cores}/in{input_len}_out{output_len}_kv{kv}.json",
    log:
        "results/logs/{backend}/decode/{model}/{cores}/in{input_len}_out{output_len}_kv{kv}.log",
    wildcard_constraints:
        backend="meshsim",
        cores=r"\d+x\d+",
        input_len=r"\d+",
        output_len=r"\d+",
        kv="shift|concat",
    params:
        mode=lambda wc, output: run_mode(config, _job(output)),
        hardware=HARDWARE_ARGS,
        seed=config["seed"],
        preset=PRESET_ARGS,
        code=CODE,
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "waferrepro decode --model {wildcards.model} --cores {wildcards.cores}"
        " --input-len {wildcards.input_len} --output-len {wildcards.output_len}"
        " --kv {wildcards.kv} --mode {params.mode} {params.hardware} --seed {params.seed}"
        " {params.preset} --out {output} 2> {log}"


rule run_kv_capacity:
    output:
        "results/records/{backend}/kv_capacity/{model}/{cores}/kv{kv}.json",
    log:
        "results/logs/{backend}/kv_capacity/{model}/{cores}/kv{kv}.log",
    wildcard_constraints:
        cores=r"\d+x\d+",
        kv="shift|concat",
    params:
        hardware=HARDWARE_ARGS,
        code=CODE,
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "waferrepro kv-capacity --model {wildcards.model} --cores {wildcards.cores}"
        " --kv {wildcards.kv} {params.hardware} --out {output} 2> {log}"


rule run_prefill:
    output:
        "results/records/{backend}/prefill/{model}/{cores}/in{input_len}.json",
    log:
        "results/logs/{backend}/prefill/{model}/{cores}/in{input_len}.log",
    wildcard_constraints:
        backend="meshsim",  # the SDK backends: run_csl_prefill
        cores=r"\d+x\d+",
        input_len=r"\d+",
    params:
        mode=lambda wc, output: run_mode(config, _job(output)),
        hardware=HARDWARE_ARGS,
        seed=config["seed"],
        preset=PRESET_ARGS,
        code=CODE,
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "waferrepro prefill --model {wildcards.model} --cores {wildcards.cores}"
        " --input-len {wildcards.input_len} --mode {params.mode} {params.hardware}"
        " --seed {params.seed} {params.preset} --out {output} 2> {log}"


rule run_end_to_end:
    output:
        "results/records/{backend}/e2e/{model}/p{pcores}_d{dcores}/in{input_len}_out{output_len}.json",
    log:
        "results/logs/{backend}/e2e/{model}/p{pcores}_d{dcores}/in{input_len}_out{output_len}.log",
    wildcard_constraints:
        backend="meshsim",  # the SDK backends: record_csl_e2e
        pcores=r"\d+x\d+",
        dcores=r"\d+x\d+",
        input_len=r"\d+",
        output_len=r"\d+",
    params:
        mode=lambda wc, output: run_mode(config, _job(output)),
        hardware=HARDWARE_ARGS,
        seed=config["seed"],
        preset=PRESET_ARGS,
        code=CODE,
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    shell:
        "waferrepro e2e --model {wildcards.model} --prefill-cores {wildcards.pcores}"
        " --decode-cores {wildcards.dcores} --input-len {wildcards.input_len}"
        " --output-len {wildcards.output_len} --mode {params.mode} {params.hardware}"
        " --seed {params.seed} {params.preset} --out {output} 2> {log}"


# Baselines. A missing GPU, engine or package ends as a skipped record with the reason.
BASELINES = config["baselines"]


rule run_matmul_baseline:
    output:
        "results/records/baseline-{device}/matmul/{shape}.json",
    log:
        "results/logs/baseline-{device}/matmul/{shape}.log",
    wildcard_constraints:
        device="auto|cpu|cuda",
        shape=r"\d+x\d+x\d+",
    params:
        timing=(
            f"--warmup {BASELINES['warmup']} --repeats {BASELINES['repeats']}"
            f" --cpu-warmup {BASELINES['cpu_warmup']} --cpu-repeats {BASELINES['cpu_repeats']}"
            f" --min-energy-window-s {BASELINES['min_energy_window_s']}"
        ),
        seed=config["seed"],
        code=CODE,
    threads: 2
    resources:
        mem_mb=16000,
        runtime=20,
        gpu=lambda wc: 1 if wc.device == "cuda" else 0,
    shell:
        "waferrepro baseline-matmul --device {wildcards.device} --shape {wildcards.shape}"
        " {params.timing} --seed {params.seed} --out {output} 2> {log}"


rule run_llm_baseline:
    output:
        "results/records/baseline-{device}/{engine}/{model}/tp{gpus}/in{input_len}_out{output_len}.json",
    log:
        "results/logs/baseline-{device}/{engine}/{model}/tp{gpus}/in{input_len}_out{output_len}.log",
    wildcard_constraints:
        device="cpu|cuda",
        engine="vllm|sglang",
        gpus=r"\d+",
        input_len=r"\d+",
        output_len=r"\d+",
    params:
        repeats=BASELINES["llm_repeats"],
        window=BASELINES["min_energy_window_s"],
        seed=config["seed"],
        code=CODE,
    threads: 2
    resources:
        mem_mb=32000,
        runtime=60,
        gpu=lambda wc: gpu_resources(wc.device, int(wc.gpus))["gpu"],
        nodes=lambda wc: gpu_resources(wc.device, int(wc.gpus))["nodes"],
    shell:
        "waferrepro baseline-llm --engine {wildcards.engine} --model {wildcards.model}"
        " --input-len {wildcards.input_len} --output-len {wildcards.output_len}"
        " --gpus {wildcards.gpus} --device {wildcards.device} --repeats {params.repeats}"
        " --min-energy-window-s {params.window} --seed {params.seed} --out {output} 2> {log}"


# CSL kernels on the Cerebras SDK simulator or a wafer (backend sdk-sim, wse2, wse3), with a
# local SDK (sdk.mode: direct) or a Wafer-Scale Cluster's client (sdk.mode: appliance). The
# compile output is a Snakemake output: one compile per parameter set, reused by every run.
# It holds src/ (the module's CSL, kernels/common as common/, run.py and a zip of the host
# code the launcher imports: `waferrepro sdk-stage`) and out/ (cslc's output, or in appliance
# mode the artifact id).
SDK_TARGET = {"sdk-sim": "simulator", "wse2": "device", "wse3": "device"}
SDK_MODE = config["sdk"]["mode"]
SDK_BACKENDS = "sdk-sim|wse2|wse3"


def _kernel_sources(module):
    """A module's CSL, its launcher and the shared library: editing one recompiles."""
    from glob import glob

    base = os.path.join(workflow.basedir, "kernels")
    return lambda wc: sorted(glob(f"{base}/{module or wc.system}/*") + glob(f"{base}/common/*"))


def _csl_compile(wc, module, params, build):
    """Stage the module, then compile it with cslc (direct) or on the cluster (appliance)."""
    import shlex

    from waferrepro import sdk
    from waferrepro.backends import find_sdk_tool
    from waferrepro.experiments import parse_dims

    px, py = parse_dims(wc.cores, 2, "core grid")
    arch = "wse3" if wc.backend == "wse3" else config["hardware"]
    spec = sdk.CompileSpec(module, px, py, params, arch=arch)
    stage = shlex.join(["waferrepro", "sdk-stage", "--kernels",
                        os.path.join(workflow.basedir, "kernels"), "--system", module,
                        "--out", f"{build}/src"])
    if SDK_MODE == "appliance":
        opts = sdk.compiler_options(spec, SDK_TARGET[wc.backend], "out")
        compile_ = shlex.join(["waferrepro", "appliance-compile", "--app", f"{build}/src",
                               f"--options={shlex.join(opts)}", "--out", f"{build}/out"])
    else:
        compile_ = shlex.join(sdk.compile_command(spec, SDK_TARGET[wc.backend],
                                                  f"{build}/src/layout.csl", f"{build}/out",
                                                  cslc=find_sdk_tool("cslc")))
    return f"{stage} && {compile_}"


def _csl_run(wc, build, launcher_args):
    """Run a compiled kernel's launcher: cs_python (direct) or the cluster's SdkLauncher."""
    import shlex

    from waferrepro import sdk
    from waferrepro.backends import find_sdk_tool

    if SDK_MODE == "appliance":
        cmd = ["waferrepro", "appliance-run", "--artifact", f"{build}/out/artifact.json",
               "--app", f"{build}/src", f"--launcher-args={shlex.join(launcher_args)}"]
        return shlex.join(cmd + (["--simulator"] if wc.backend == "sdk-sim" else []))
    return shlex.join(sdk.run_command(f"{build}/src/run.py", f"{build}/out",
                                      SDK_TARGET[wc.backend], config["sdk"]["cmaddr"],
                                      cs_python=find_sdk_tool("cs_python"),
                                      extra=tuple(launcher_args)))


def _kernel_compile_cmd(wc):
    from waferrepro import sdk
    from waferrepro.experiments import parse_dims

    px, py = parse_dims(wc.cores, 2, "core grid")
    params = sdk.kernel_params(wc.system, parse_dims(wc.shape, 3, "shape"), px, py)
    return _csl_compile(wc, wc.system, params,
                        f"results/build/{wc.backend}/{wc.system}/{wc.shape}/{wc.cores}")


def _kernel_run_cmd(wc, input):
    return _csl_run(wc, str(input), ["--shape", wc.shape, "--seed", str(config["seed"])])


rule compile_csl:
    input:
        _kernel_sources(None),
    output:
        directory("results/build/{backend}/{system}/{shape}/{cores}"),
    log:
        "results/logs/{backend}/{system}/{shape}/{cores}.compile.log",
    wildcard_constraints:
        backend=SDK_BACKENDS,
        shape=r"\d+x\d+x\d+",
        cores=r"\d+x\d+",
    params:
        cmd=_kernel_compile_cmd,
    threads: 1
    resources:
        mem_mb=8000,
        runtime=30,
    shell:
        "{params.cmd} > {log} 2>&1"


rule run_csl:
    input:
        "results/build/{backend}/{system}/{shape}/{cores}",
    output:
        "results/records/{backend}/{system}/{shape}/{cores}.json",
    log:
        "results/logs/{backend}/{system}/{shape}/{cores}.log",
    wildcard_constraints:
        backend=SDK_BACKENDS,
        shape=r"\d+x\d+x\d+",
        cores=r"\d+x\d+",
    params:
        cmd=_kernel_run_cmd,
        hardware=HARDWARE_ARGS,
        code=CODE,
    threads: 1
    resources:
        mem_mb=8000,
        runtime=120,
    shell:
        "{params.cmd} --out-json {output}.launcher.json > {log} 2>&1 && "
        "waferrepro sdk-record --result {output}.launcher.json --system {wildcards.system}"
        " --shape {wildcards.shape} --cores {wildcards.cores} --backend {wildcards.backend}"
        " --command {params.cmd:q} {params.hardware} --out {output} 2>> {log}"


# Decode on the SDK backends: one compile per (model, grid, cache capacity); one kernel step
# per group of equal-cost decode steps (waferrepro.llm.decode_step_plan, what meshsim
# simulates too); the record weights the steps' cycles by their groups' sizes.
def _decode_plan(wc):
    from waferrepro.experiments import parse_dims
    from waferrepro.llm import decode_step_plan
    from waferrepro.meshsim.decode import DecodeLayout
    from waferrepro.models import arch

    px, py = parse_dims(wc.cores, 2, "core grid")
    return decode_step_plan(DecodeLayout(arch(wc.model), px, py), int(wc.input_len),
                            int(wc.output_len), wc.kv)


def _decode_steps(wc):
    cap, plan = _decode_plan(wc)
    return [f"results/steps/{wc.backend}/decode/{wc.model}/{wc.cores}/cap{cap}/"
            f"ctx{t}_kv{wc.kv}.json" for t, _ in plan]


def _decode_compile_cmd(wc):
    from waferrepro.csl_inputs import decode_params
    from waferrepro.experiments import parse_dims
    from waferrepro.models import arch

    px, py = parse_dims(wc.cores, 2, "core grid")
    params = decode_params(arch(wc.model), px, py, 0, "shift", cap=int(wc.cap))
    return _csl_compile(wc, "Decode", params,
                        f"results/build/{wc.backend}/Decode/{wc.model}/{wc.cores}/cap{wc.cap}")


def _decode_step_cmd(wc, input):
    return _csl_run(wc, str(input), ["--model", wc.model, "--context", wc.context,
                                     "--kv", wc.kv, "--seed", str(config["seed"])])


rule compile_csl_decode:
    input:
        _kernel_sources("Decode"),
    output:
        directory("results/build/{backend}/Decode/{model}/{cores}/cap{cap}"),
    log:
        "results/logs/{backend}/Decode/{model}/{cores}/cap{cap}.compile.log",
    wildcard_constraints:
        backend=SDK_BACKENDS,
        cores=r"\d+x\d+",
        cap=r"\d+",
    params:
        cmd=_decode_compile_cmd,
    threads: 1
    resources:
        mem_mb=8000,
        runtime=30,
    shell:
        "{params.cmd} > {log} 2>&1"


rule run_csl_decode_step:
    input:
        "results/build/{backend}/Decode/{model}/{cores}/cap{cap}",
    output:
        "results/steps/{backend}/decode/{model}/{cores}/cap{cap}/ctx{context}_kv{kv}.json",
    log:
        "results/logs/{backend}/decode/{model}/{cores}/cap{cap}/ctx{context}_kv{kv}.log",
    wildcard_constraints:
        backend=SDK_BACKENDS,
        cores=r"\d+x\d+",
        context=r"\d+",
        kv="shift|concat",
    params:
        cmd=_decode_step_cmd,
        code=CODE,
    threads: 1
    resources:
        mem_mb=8000,
        runtime=120,
    shell:
        "{params.cmd} --out-json {output} > {log} 2>&1"


rule record_csl_decode:
    input:
        _decode_steps,
    output:
        "results/records/{backend}/decode/{model}/{cores}/in{input_len}_out{output_len}_kv{kv}.json",
    log:
        "results/logs/{backend}/decode/{model}/{cores}/in{input_len}_out{output_len}_kv{kv}.log",
    wildcard_constraints:
        backend=SDK_BACKENDS,
        cores=r"\d+x\d+",
        input_len=r"\d+",
        output_len=r"\d+",
        kv="shift|concat",
    params:
        counts=lambda wc: " ".join(str(n) for _, n in _decode_plan(wc)[1]),
        hardware=HARDWARE_ARGS,
        code=CODE,
    localrule: True
    shell:
        "waferrepro sdk-decode-record --steps {input} --counts {params.counts}"
        " --model {wildcards.model} --cores {wildcards.cores}"
        " --input-len {wildcards.input_len} --output-len {wildcards.output_len}"
        " --kv {wildcards.kv} --backend {wildcards.backend} {params.hardware}"
        " --out {output} 2> {log}"


# Prefill on the SDK backends: one compile per (model, grid, prompt length), one run of the
# kernel (one layer), the record through the same metrics as meshsim's.
def _prefill_compile_cmd(wc):
    from waferrepro.csl_inputs import prefill_params
    from waferrepro.experiments import square_grid
    from waferrepro.models import arch

    params = prefill_params(arch(wc.model), square_grid(wc.cores), int(wc.input_len))
    return _csl_compile(wc, "Prefill", params,
                        f"results/build/{wc.backend}/Prefill/{wc.model}/{wc.cores}/in{wc.input_len}")


def _prefill_run_cmd(wc, input):
    return _csl_run(wc, str(input), ["--model", wc.model, "--input-len", wc.input_len,
                                     "--seed", str(config["seed"])])


rule compile_csl_prefill:
    input:
        _kernel_sources("Prefill"),
    output:
        directory("results/build/{backend}/Prefill/{model}/{cores}/in{input_len}"),
    log:
        "results/logs/{backend}/Prefill/{model}/{cores}/in{input_len}.compile.log",
    wildcard_constraints:
        backend=SDK_BACKENDS,
        cores=r"\d+x\d+",
        input_len=r"\d+",
    params:
        cmd=_prefill_compile_cmd,
    threads: 1
    resources:
        mem_mb=8000,
        runtime=30,
    shell:
        "{params.cmd} > {log} 2>&1"


rule run_csl_prefill:
    input:
        "results/build/{backend}/Prefill/{model}/{cores}/in{input_len}",
    output:
        "results/records/{backend}/prefill/{model}/{cores}/in{input_len}.json",
    log:
        "results/logs/{backend}/prefill/{model}/{cores}/in{input_len}.log",
    wildcard_constraints:
        backend=SDK_BACKENDS,
        cores=r"\d+x\d+",
        input_len=r"\d+",
    params:
        cmd=_prefill_run_cmd,
        hardware=HARDWARE_ARGS,
        code=CODE,
    threads: 1
    resources:
        mem_mb=8000,
        runtime=120,
    shell:
        "{params.cmd} --out-json {output}.launcher.json > {log} 2>&1 && "
        "waferrepro sdk-prefill-record --result {output}.launcher.json"
        " --model {wildcards.model} --cores {wildcards.cores}"
        " --input-len {wildcards.input_len} --backend {wildcards.backend}"
        " --command {params.cmd:q} {params.hardware} --out {output} 2>> {log}"


# End to end on the SDK backends: the CSL Prefill and Decode records (KV shift, the paper's
# Table 2 setup, as meshsim's e2e) combined by llm.combine_end_to_end.
rule record_csl_e2e:
    input:
        prefill="results/records/{backend}/prefill/{model}/{pcores}/in{input_len}.json",
        decode="results/records/{backend}/decode/{model}/{dcores}/in{input_len}_out{output_len}_kvshift.json",
    output:
        "results/records/{backend}/e2e/{model}/p{pcores}_d{dcores}/in{input_len}_out{output_len}.json",
    log:
        "results/logs/{backend}/e2e/{model}/p{pcores}_d{dcores}/in{input_len}_out{output_len}.log",
    wildcard_constraints:
        backend=SDK_BACKENDS,
        pcores=r"\d+x\d+",
        dcores=r"\d+x\d+",
        input_len=r"\d+",
        output_len=r"\d+",
    params:
        hardware=HARDWARE_ARGS,
        code=CODE,
    localrule: True
    shell:
        "waferrepro e2e-from-parts --prefill-record {input.prefill}"
        " --decode-record {input.decode} --model {wildcards.model}"
        " --prefill-cores {wildcards.pcores} --decode-cores {wildcards.dcores}"
        " --input-len {wildcards.input_len} --output-len {wildcards.output_len}"
        " --backend {wildcards.backend} {params.hardware} --out {output} 2> {log}"

# One job per record: run it on the backend, write its run record (results/records/...).
# Each rule states its resources so a scheduler can place it.


def _job(output):
    return JOBS[output[0]]


HARDWARE_ARGS = (
    f"--hardware {config['hardware']} "
    f"--hardware-overrides '{json.dumps(config['hardware_overrides'], sort_keys=True)}'"
)


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
        code=CODE,
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "waferrepro run --backend {wildcards.backend} --system {wildcards.system}"
        " --shape {wildcards.shape} --cores {wildcards.cores} --mode {params.mode}"
        " {params.hardware} --seed {params.seed} --out {output} 2> {log}"


rule run_decode:
    output:
        "results/records/{backend}/decode/{model}/{cores}/in{input_len}_out{output_len}_kv{kv}.json",
    log:
        "results/logs/{backend}/decode/{model}/{cores}/in{input_len}_out{output_len}_kv{kv}.log",
    wildcard_constraints:
        cores=r"\d+x\d+",
        input_len=r"\d+",
        output_len=r"\d+",
        kv="shift|concat",
    params:
        mode=lambda wc, output: run_mode(config, _job(output)),
        hardware=HARDWARE_ARGS,
        seed=config["seed"],
        code=CODE,
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "waferrepro decode --model {wildcards.model} --cores {wildcards.cores}"
        " --input-len {wildcards.input_len} --output-len {wildcards.output_len}"
        " --kv {wildcards.kv} --mode {params.mode} {params.hardware} --seed {params.seed}"
        " --out {output} 2> {log}"


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
        cores=r"\d+x\d+",
        input_len=r"\d+",
    params:
        mode=lambda wc, output: run_mode(config, _job(output)),
        hardware=HARDWARE_ARGS,
        seed=config["seed"],
        code=CODE,
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "waferrepro prefill --model {wildcards.model} --cores {wildcards.cores}"
        " --input-len {wildcards.input_len} --mode {params.mode} {params.hardware}"
        " --seed {params.seed} --out {output} 2> {log}"


rule run_end_to_end:
    output:
        "results/records/{backend}/e2e/{model}/p{pcores}_d{dcores}/in{input_len}_out{output_len}.json",
    log:
        "results/logs/{backend}/e2e/{model}/p{pcores}_d{dcores}/in{input_len}_out{output_len}.log",
    wildcard_constraints:
        pcores=r"\d+x\d+",
        dcores=r"\d+x\d+",
        input_len=r"\d+",
        output_len=r"\d+",
    params:
        mode=lambda wc, output: run_mode(config, _job(output)),
        hardware=HARDWARE_ARGS,
        seed=config["seed"],
        code=CODE,
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    shell:
        "waferrepro e2e --model {wildcards.model} --prefill-cores {wildcards.pcores}"
        " --decode-cores {wildcards.dcores} --input-len {wildcards.input_len}"
        " --output-len {wildcards.output_len} --mode {params.mode} {params.hardware}"
        " --seed {params.seed} --out {output} 2> {log}"


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


def _build_dir(wc):
    return f"results/build/{wc.backend}/{wc.system}/{wc.shape}/{wc.cores}"


def _kernel_sources(wc):
    """A module's CSL, its launcher and the shared library: editing one recompiles."""
    from glob import glob

    from waferrepro.backends import CSL_SYSTEMS

    base = os.path.join(workflow.basedir, "kernels")
    folder = CSL_SYSTEMS.get(wc.system, f"kernels/{wc.system}").split("/")[-1]
    return sorted(glob(f"{base}/{folder}/*") + glob(f"{base}/common/*"))


def _compile_cmd(wc):
    import shlex

    from waferrepro import sdk
    from waferrepro.backends import find_sdk_tool
    from waferrepro.experiments import parse_dims

    px, py = parse_dims(wc.cores, 2, "core grid")
    params = sdk.kernel_params(wc.system, parse_dims(wc.shape, 3, "shape"), px, py)
    arch = "wse3" if wc.backend == "wse3" else config["hardware"]
    spec = sdk.CompileSpec(wc.system, px, py, params, arch=arch)
    output = _build_dir(wc)
    stage = shlex.join(["waferrepro", "sdk-stage", "--kernels",
                        os.path.join(workflow.basedir, "kernels"), "--system", wc.system,
                        "--out", f"{output}/src"])
    if SDK_MODE == "appliance":
        opts = sdk.compiler_options(spec, SDK_TARGET[wc.backend], "out")
        build = shlex.join(["waferrepro", "appliance-compile", "--app", f"{output}/src",
                            f"--options={shlex.join(opts)}", "--out", f"{output}/out"])
    else:
        build = shlex.join(sdk.compile_command(spec, SDK_TARGET[wc.backend],
                                               f"{output}/src/layout.csl", f"{output}/out",
                                               cslc=find_sdk_tool("cslc")))
    return f"{stage} && {build}"


def _run_cmd(wc, input):
    import shlex

    from waferrepro import sdk
    from waferrepro.backends import find_sdk_tool

    if SDK_MODE == "appliance":
        cmd = ["waferrepro", "appliance-run", "--artifact", f"{input}/out/artifact.json",
               "--app", f"{input}/src", "--shape", wc.shape, "--seed", str(config["seed"])]
        return shlex.join(cmd + (["--simulator"] if wc.backend == "sdk-sim" else []))
    cmd = sdk.run_command(f"{input}/src/run.py", f"{input}/out", SDK_TARGET[wc.backend],
                          config["sdk"]["cmaddr"], cs_python=find_sdk_tool("cs_python"),
                          extra=("--shape", wc.shape, "--seed", str(config["seed"])))
    return shlex.join(cmd)


rule compile_csl:
    input:
        _kernel_sources,
    output:
        directory("results/build/{backend}/{system}/{shape}/{cores}"),
    log:
        "results/logs/{backend}/{system}/{shape}/{cores}.compile.log",
    wildcard_constraints:
        backend="sdk-sim|wse2|wse3",
        shape=r"\d+x\d+x\d+",
        cores=r"\d+x\d+",
    params:
        cmd=_compile_cmd,
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
        backend="sdk-sim|wse2|wse3",
        shape=r"\d+x\d+x\d+",
        cores=r"\d+x\d+",
    params:
        cmd=_run_cmd,
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

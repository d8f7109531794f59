# CSL kernels on the Cerebras SDK simulator or a wafer (backend sdk-sim, wse2, wse3), with a
# local SDK (sdk.mode: direct) or a Wafer-Scale Cluster's client (sdk.mode: appliance). The
# compile output is a Snakemake output: one compile per parameter set, reused by every run.
# It holds src/ (the module's CSL, kernels/common as common/, run.py and a zip of the host
# code the launcher imports: `waferrepro sdk stage`) and out/ (cslc's output, or in appliance
# mode the artifact id).
from waferrepro.sdk import workflow as sdkflow  # noqa: E402

KERNELS_DIR = sdkflow.kernels_dir(workflow.basedir)
SDK_BACKENDS = sdkflow.SDK_BACKEND_PATTERN



# The config's schedule_preset picks the kernel forms of meshsim's twin (MeshGEMV: the tree's
# roots, `tree_middle` in the params; sdk.toolchain.kernel_params; Decode and Prefill: the
# layer the preset runs, sdk.inputs): a new preset recompiles (its params differ).
rule compile_csl:
    input:
        lambda wc: sdkflow.kernel_sources(KERNELS_DIR, wc.system),
    output:
        directory(in_run("build/{backend}/{system}/{shape}/{cores}")),
    log:
        in_run("logs/{backend}/{system}/{shape}/{cores}.compile.log"),
    wildcard_constraints:
        backend=SDK_BACKENDS,
        shape=r"\d+x\d+x\d+",
        cores=r"\d+x\d+",
    params:
        cmd=lambda wc: sdkflow.kernel_compile_cmd(
            config, KERNELS_DIR, wc.backend, wc.system, wc.shape, wc.cores
        ),
    threads: 1
    resources:
        mem_mb=8000,
        runtime=30,
    conda:
        "envs/waferrepro.yaml"
    shell:
        "{params.cmd} > {log} 2>&1"


rule run_csl:
    input:
        in_run("build/{backend}/{system}/{shape}/{cores}"),
    output:
        in_run("records/{backend}/{system}/{shape}/{cores}.json"),
    log:
        in_run("logs/{backend}/{system}/{shape}/{cores}.log"),
    wildcard_constraints:
        backend=SDK_BACKENDS,
        shape=r"\d+x\d+x\d+",
        cores=r"\d+x\d+",
    params:
        cmd=lambda wc, input: sdkflow.run_cmd(
            config, wc.backend, str(input), ["--shape", wc.shape, "--seed", str(config["seed"])]
        ),
        hardware=HARDWARE_ARGS,
        code=CODE,
    threads: 1
    resources:
        mem_mb=8000,
        runtime=120,
    conda:
        "envs/waferrepro.yaml"
    shell:
        "{params.cmd} --out-json {output}.launcher.json > {log} 2>&1 && "
        "waferrepro sdk record --result {output}.launcher.json --system {wildcards.system}"
        " --shape {wildcards.shape} --cores {wildcards.cores} --backend {wildcards.backend}"
        " --command {params.cmd:q} {params.hardware} --out {output} 2>> {log}"


# Decode on the SDK backends: one compile per (model, grid, cache capacity); one kernel step
# per group of equal-cost decode steps (what meshsim simulates too); the record weights the
# steps' cycles by their groups' sizes.


rule compile_csl_decode:
    input:
        sdkflow.kernel_sources(KERNELS_DIR, "Decode"),
    output:
        directory(in_run("build/{backend}/Decode/{model}/{cores}/cap{cap}")),
    log:
        in_run("logs/{backend}/Decode/{model}/{cores}/cap{cap}.compile.log"),
    wildcard_constraints:
        backend=SDK_BACKENDS,
        cores=r"\d+x\d+",
        cap=r"\d+",
    params:
        cmd=lambda wc: sdkflow.decode_compile_cmd(
            config, KERNELS_DIR, wc.backend, wc.model, wc.cores, int(wc.cap)
        ),
    threads: 1
    resources:
        mem_mb=8000,
        runtime=30,
    conda:
        "envs/waferrepro.yaml"
    shell:
        "{params.cmd} > {log} 2>&1"


rule run_csl_decode_step:
    input:
        in_run("build/{backend}/Decode/{model}/{cores}/cap{cap}"),
    output:
        in_run("steps/{backend}/decode/{model}/{cores}/cap{cap}/ctx{context}_kv{kv}.json"),
    log:
        in_run("logs/{backend}/decode/{model}/{cores}/cap{cap}/ctx{context}_kv{kv}.log"),
    wildcard_constraints:
        backend=SDK_BACKENDS,
        cores=r"\d+x\d+",
        context=r"\d+",
        kv="shift|concat",
    params:
        cmd=lambda wc, input: sdkflow.run_cmd(
            config,
            wc.backend,
            str(input),
            ["--model", wc.model, "--context", wc.context, "--kv", wc.kv]
            + ["--seed", str(config["seed"]), "--preset", config["schedule_preset"]],
        ),
        code=CODE,
    threads: 1
    resources:
        mem_mb=8000,
        runtime=120,
    conda:
        "envs/waferrepro.yaml"
    shell:
        "{params.cmd} --out-json {output} > {log} 2>&1"


rule record_csl_decode:
    input:
        lambda wc: sdkflow.decode_step_paths(
            RUN_DIR,
            wc.backend,
            wc.model,
            wc.cores,
            int(wc.input_len),
            int(wc.output_len),
            wc.kv,
            config["schedule_preset"],
        ),
    output:
        in_run("records/{backend}/decode/{model}/{cores}/in{input_len}_out{output_len}_kv{kv}.json"),
    log:
        in_run("logs/{backend}/decode/{model}/{cores}/in{input_len}_out{output_len}_kv{kv}.log"),
    wildcard_constraints:
        backend=SDK_BACKENDS,
        cores=r"\d+x\d+",
        input_len=r"\d+",
        output_len=r"\d+",
        kv="shift|concat",
    params:
        counts=lambda wc: sdkflow.decode_step_counts(
            wc.model,
            wc.cores,
            int(wc.input_len),
            int(wc.output_len),
            wc.kv,
            config["schedule_preset"],
        ),
        hardware=HARDWARE_ARGS,
        code=CODE,
    localrule: True
    conda:
        "envs/waferrepro.yaml"
    shell:
        "waferrepro sdk decode-record --steps {input} --counts {params.counts}"
        " --model {wildcards.model} --cores {wildcards.cores}"
        " --input-len {wildcards.input_len} --output-len {wildcards.output_len}"
        " --kv {wildcards.kv} --backend {wildcards.backend} {params.hardware}"
        " --out {output} 2> {log}"


# Prefill on the SDK backends: one compile per (model, grid, prompt length), one run of the
# kernel (one layer), the record through the same metrics as meshsim's.

rule compile_csl_prefill:
    input:
        sdkflow.kernel_sources(KERNELS_DIR, "Prefill"),
    output:
        directory(in_run("build/{backend}/Prefill/{model}/{cores}/in{input_len}")),
    log:
        in_run("logs/{backend}/Prefill/{model}/{cores}/in{input_len}.compile.log"),
    wildcard_constraints:
        backend=SDK_BACKENDS,
        cores=r"\d+x\d+",
        input_len=r"\d+",
    params:
        cmd=lambda wc: sdkflow.prefill_compile_cmd(
            config, KERNELS_DIR, wc.backend, wc.model, wc.cores, int(wc.input_len)
        ),
    threads: 1
    resources:
        mem_mb=8000,
        runtime=30,
    conda:
        "envs/waferrepro.yaml"
    shell:
        "{params.cmd} > {log} 2>&1"


rule run_csl_prefill:
    input:
        in_run("build/{backend}/Prefill/{model}/{cores}/in{input_len}"),
    output:
        in_run("records/{backend}/prefill/{model}/{cores}/in{input_len}.json"),
    log:
        in_run("logs/{backend}/prefill/{model}/{cores}/in{input_len}.log"),
    wildcard_constraints:
        backend=SDK_BACKENDS,
        cores=r"\d+x\d+",
        input_len=r"\d+",
    params:
        cmd=lambda wc, input: sdkflow.run_cmd(
            config,
            wc.backend,
            str(input),
            ["--model", wc.model, "--input-len", wc.input_len, "--seed", str(config["seed"])]
            + ["--preset", config["schedule_preset"]],
        ),
        hardware=HARDWARE_ARGS,
        code=CODE,
    threads: 1
    resources:
        mem_mb=8000,
        runtime=120,
    conda:
        "envs/waferrepro.yaml"
    shell:
        "{params.cmd} --out-json {output}.launcher.json > {log} 2>&1 && "
        "waferrepro sdk prefill-record --result {output}.launcher.json"
        " --model {wildcards.model} --cores {wildcards.cores}"
        " --input-len {wildcards.input_len} --backend {wildcards.backend}"
        " --command {params.cmd:q} {params.hardware} --out {output} 2>> {log}"


# End to end on the SDK backends: the CSL Prefill and Decode records (KV shift, the paper's
# Table 2 setup, as meshsim's e2e) combined by model_metrics.combine_end_to_end.
rule record_csl_e2e:
    input:
        prefill=in_run("records/{backend}/prefill/{model}/{pcores}/in{input_len}.json"),
        decode=in_run("records/{backend}/decode/{model}/{dcores}/in{input_len}_out{output_len}_kvshift.json"),
    output:
        in_run("records/{backend}/e2e/{model}/p{pcores}_d{dcores}/in{input_len}_out{output_len}.json"),
    log:
        in_run("logs/{backend}/e2e/{model}/p{pcores}_d{dcores}/in{input_len}_out{output_len}.log"),
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
    conda:
        "envs/waferrepro.yaml"
    shell:
        "waferrepro sdk e2e-from-parts --prefill-record {input.prefill}"
        " --decode-record {input.decode} --model {wildcards.model}"
        " --prefill-cores {wildcards.pcores} --decode-cores {wildcards.dcores}"
        " --input-len {wildcards.input_len} --output-len {wildcards.output_len}"
        " --backend {wildcards.backend} {params.hardware} --out {output} 2> {log}"

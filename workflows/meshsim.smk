# The embedded simulator's jobs: one run record per job (results/<run>/records/meshsim/...).
# Each rule states its resources so a scheduler can place it.


# A MeshGEMV with the authors' group_num (a kernel experiment's group_nums) names it in its
# record's name (experiments.KernelJob.path: <cores>_g<group_num>).
rule run_kernel:
    output:
        in_run("records/{backend}/{system}/{shape}/{cores}.json"),
    log:
        in_run("logs/{backend}/{system}/{shape}/{cores}.log"),
    wildcard_constraints:
        backend="meshsim",
        system="|".join(KERNEL_SYSTEMS),
        shape=r"\d+x\d+x\d+",
        cores=r"\d+x\d+(_g\d+)?",
    params:
        mode=lambda wc, output: run_mode(config, _job(output)),
        grid=lambda wc, output: _job(output).cores,
        group=lambda wc, output: (
            "" if _job(output).group_num is None else f"--group-num {_job(output).group_num}"
        ),
        hardware=HARDWARE_ARGS,
        seed=config["seed"],
        preset=PRESET_ARGS,
        code=CODE,
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "envs/waferrepro.yaml"
    shell:
        "waferrepro run --backend {wildcards.backend} --system {wildcards.system}"
        " --shape {wildcards.shape} --cores {params.grid} {params.group} --mode {params.mode}"
        " {params.hardware} --seed {params.seed} {params.preset} --out {output} 2> {log}"


rule run_decode:
    output:
        in_run("records/{backend}/decode/{model}/{cores}/in{input_len}_out{output_len}_kv{kv}_{preset}.json"),
    log:
        in_run("logs/{backend}/decode/{model}/{cores}/in{input_len}_out{output_len}_kv{kv}_{preset}.log"),
    wildcard_constraints:
        preset=PRESET_NAMES,
        backend="meshsim",
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
    conda:
        "envs/waferrepro.yaml"
    shell:
        "waferrepro decode --model {wildcards.model} --cores {wildcards.cores}"
        " --input-len {wildcards.input_len} --output-len {wildcards.output_len}"
        " --kv {wildcards.kv} --mode {params.mode} {params.hardware} --seed {params.seed}"
        " --preset {wildcards.preset} --out {output} 2> {log}"


rule run_kv_capacity:
    output:
        in_run("records/{backend}/kv_capacity/{model}/{cores}/kv{kv}_{preset}.json"),
    log:
        in_run("logs/{backend}/kv_capacity/{model}/{cores}/kv{kv}_{preset}.log"),
    wildcard_constraints:
        preset=PRESET_NAMES,
        cores=r"\d+x\d+",
        kv="shift|concat",
    params:
        hardware=HARDWARE_ARGS,
        code=CODE,
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "envs/waferrepro.yaml"
    shell:
        "waferrepro kv-capacity --model {wildcards.model} --cores {wildcards.cores}"
        " --kv {wildcards.kv} {params.hardware} --preset {wildcards.preset} --out {output} 2> {log}"


rule run_prefill:
    output:
        in_run("records/{backend}/prefill/{model}/{cores}/in{input_len}_{preset}.json"),
    log:
        in_run("logs/{backend}/prefill/{model}/{cores}/in{input_len}_{preset}.log"),
    wildcard_constraints:
        preset=PRESET_NAMES,
        backend="meshsim",  # the SDK backends: run_csl_prefill
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
    conda:
        "envs/waferrepro.yaml"
    shell:
        "waferrepro prefill --model {wildcards.model} --cores {wildcards.cores}"
        " --input-len {wildcards.input_len} --mode {params.mode} {params.hardware}"
        " --seed {params.seed} --preset {wildcards.preset} --out {output} 2> {log}"


rule run_end_to_end:
    output:
        in_run("records/{backend}/e2e/{model}/p{pcores}_d{dcores}/in{input_len}_out{output_len}_{preset}.json"),
    log:
        in_run("logs/{backend}/e2e/{model}/p{pcores}_d{dcores}/in{input_len}_out{output_len}_{preset}.log"),
    wildcard_constraints:
        preset=PRESET_NAMES,
        backend="meshsim",  # the SDK backends: record_csl_e2e
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
    conda:
        "envs/waferrepro.yaml"
    shell:
        "waferrepro e2e --model {wildcards.model} --prefill-cores {wildcards.pcores}"
        " --decode-cores {wildcards.dcores} --input-len {wildcards.input_len}"
        " --output-len {wildcards.output_len} --mode {params.mode} {params.hardware}"
        " --seed {params.seed} --preset {wildcards.preset} --out {output} 2> {log}"

# One job per (backend, system, shape, core grid): run the kernel, write its run record.


rule run_kernel:
    output:
        "results/records/{backend}/{system}/{shape}/{cores}.json",
    log:
        "results/logs/{backend}/{system}/{shape}/{cores}.log",
    wildcard_constraints:
        shape=r"\d+x\d+x\d+",
        cores=r"\d+x\d+",
    params:
        mode=lambda wc, output: run_mode(config, JOBS[output[0]]),
        hardware=config["hardware"],
        overrides=json.dumps(config["hardware_overrides"], sort_keys=True),
        seed=config["seed"],
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "waferrepro run --backend {wildcards.backend} --system {wildcards.system}"
        " --shape {wildcards.shape} --cores {wildcards.cores} --mode {params.mode}"
        " --hardware {params.hardware} --hardware-overrides {params.overrides:q}"
        " --seed {params.seed} --out {output} 2> {log}"

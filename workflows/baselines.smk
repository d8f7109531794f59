# Baselines on GPUs (or this CPU). A missing GPU, engine or package ends as a skipped record
# with the reason. Each rule states its resources so a scheduler can place it.
BASELINES = config["baselines"]


rule run_matmul_baseline:
    output:
        in_run("records/baseline-{device}/matmul/{shape}.json"),
    log:
        in_run("logs/baseline-{device}/matmul/{shape}.log"),
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
    conda:
        "envs/gpu.yaml"
    shell:
        "waferrepro baseline matmul --device {wildcards.device} --shape {wildcards.shape}"
        " {params.timing} --seed {params.seed} --out {output} 2> {log}"


rule run_llm_baseline:
    output:
        in_run("records/baseline-{device}/{engine}/{model}/tp{gpus}/in{input_len}_out{output_len}.json"),
    log:
        in_run("logs/baseline-{device}/{engine}/{model}/tp{gpus}/in{input_len}_out{output_len}.log"),
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
    conda:
        "envs/gpu.yaml"
    shell:
        "waferrepro baseline llm --engine {wildcards.engine} --model {wildcards.model}"
        " --input-len {wildcards.input_len} --output-len {wildcards.output_len}"
        " --gpus {wildcards.gpus} --device {wildcards.device} --repeats {params.repeats}"
        " --min-energy-window-s {params.window} --seed {params.seed} --out {output} 2> {log}"

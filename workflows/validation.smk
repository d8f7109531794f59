# `snakemake validation`: the cost model against independent measurements on real Cerebras
# hardware (results/reference/validation.csv), error published.
rule validation:
    input:
        os.path.join(workflow.basedir, "results/reference/validation.csv"),
    output:
        "results/tables/validation.csv",
    log:
        "results/logs/tables/validation.log",
    params:
        script=os.path.join(workflow.basedir, "benchmarks/validate_cost_model.py"),
        code=CODE,
    localrule: True
    conda:
        "envs/waferrepro.yaml"
    shell:
        "python {params.script} --out {output} > {log} 2>&1"

# `snakemake validation`: the cost model against independent measurements on real Cerebras
# hardware (results/reference/validation.csv), error published. Its numbers do not depend on the
# run's config today; the table is written per run all the same (results/<run>/tables/), so a
# run on another hardware profile can validate its own.
rule validation:
    input:
        os.path.join(workflow.basedir, "results/reference/validation.csv"),
    output:
        f"{TABLES}/validation.csv",
    log:
        f"{LOGS}/tables/validation.log",
    params:
        script=os.path.join(workflow.basedir, "benchmarks/validate_cost_model.py"),
        run=RUN_ARGS,
        code=CODE,
    localrule: True
    conda:
        "envs/waferrepro.yaml"
    shell:
        "python {params.script} {params.run} --out {output} > {log} 2>&1"

# Aggregate each experiment's records into its tidy table (results/<run>/tables/<id>.csv, a
# `run` column naming the run), and one named target per id.

localrules:
    table,


rule table:
    input:
        records=lambda wc: records_for(wc.id),
        reference=REFERENCE_CSV,
    output:
        report(in_run("tables/{id}.csv"), caption="report/table.rst", category="Tables"),
    log:
        in_run("logs/tables/{id}.log"),
    params:
        metrics=lambda wc: " ".join(config["experiments"][wc.id].get("metrics", [])),
        run=RUN_ARGS,
        code=CODE,
    wildcard_constraints:
        id="|".join(EXPERIMENT_IDS),
    conda:
        "envs/waferrepro.yaml"
    shell:
        "waferrepro table --id {wildcards.id} --reference {input.reference}"
        " --metrics {params.metrics} {params.run}"
        " --out {output} {input.records} 2> {log}"


# `snakemake fig10`, `snakemake table6`, ...: this run's table and, where one exists, figure.
for _exp_id in EXPERIMENT_IDS:

    rule:
        name:
            _exp_id
        localrule: True
        input:
            [f"{TABLES}/{_exp_id}.csv"] + figure_outputs(_exp_id),

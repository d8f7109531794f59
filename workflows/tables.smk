# Aggregate each experiment's records into its tidy table, and one named target per id.

localrules:
    table,


rule table:
    input:
        records=lambda wc: records_for(wc.id),
        reference=REFERENCE_CSV,
    output:
        report("results/tables/{id}.csv", caption="report/table.rst", category="Tables"),
    log:
        "results/logs/tables/{id}.log",
    params:
        metrics=lambda wc: " ".join(config["experiments"][wc.id].get("metrics", [])),
        code=CODE,
    wildcard_constraints:
        id="|".join(EXPERIMENT_IDS),
    conda:
        "envs/waferrepro.yaml"
    shell:
        "waferrepro table --id {wildcards.id} --reference {input.reference}"
        " --metrics {params.metrics}"
        " --out {output} {input.records} 2> {log}"


# `snakemake fig10`, `snakemake table6`, ...: the table and, where one exists, the figure.
for _exp_id in EXPERIMENT_IDS:

    rule:
        name:
            _exp_id
        localrule: True
        input:
            [f"results/tables/{_exp_id}.csv"] + figure_outputs(_exp_id),

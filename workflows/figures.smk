# Draw each figure from its table only.

localrules:
    figure,


rule figure:
    input:
        "results/tables/{id}.csv",
    output:
        png=report("figures/{id}.png", caption="report/figure.rst", category="Figures"),
        pdf="figures/{id}.pdf",
    log:
        "results/logs/figures/{id}.log",
    params:
        code=CODE,
    wildcard_constraints:
        id="|".join(FIGURE_IDS),
    conda:
        "envs/waferrepro.yaml"
    shell:
        "waferrepro figure --id {wildcards.id} --table {input}"
        " --out {output.png} {output.pdf} 2> {log}"

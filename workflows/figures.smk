# Draw each figure from its table only (figures/<run>/<id>.png and .pdf; the title names the run).

localrules:
    figure,


rule figure:
    input:
        in_run("tables/{id}.csv"),
    output:
        png=report(in_figures("{id}.png"), caption="report/figure.rst", category="Figures"),
        pdf=in_figures("{id}.pdf"),
    log:
        in_run("logs/figures/{id}.log"),
    params:
        code=CODE,
    wildcard_constraints:
        id="|".join(FIGURE_IDS),
    conda:
        "envs/waferrepro.yaml"
    shell:
        "waferrepro figure --id {wildcards.id} --table {input}"
        " --out {output.png} {output.pdf} 2> {log}"

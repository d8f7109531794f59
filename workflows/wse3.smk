# `snakemake wse3`: the model's cycles (simulated: meshsim, wse3 hardware in the run's profile,
# the `wse3:` section's preset) for the authors' WSE-3 benchmark matrix, the CS-3 measurements
# of results/reference/training-wse3.csv beside their points (waferrepro.wse3), and its figure.
# One process for the whole matrix (about 1,345 points), not one job a point; its config and
# measurement file: wse3_config and WSE3_MEASURED (common.smk).


rule wse3_table:
    input:
        WSE3_MEASURED,
    output:
        report(f"{TABLES}/wse3.csv", caption="report/table.rst", category="Tables"),
    log:
        f"{LOGS}/tables/wse3.log",
    params:
        config=lambda wildcards: wse3_config(),
        run=RUN_ARGS,
        code=CODE,
    threads: 2
    conda:
        "envs/waferrepro.yaml"
    # Progress (a line per grid) to the terminal as well as to the log: it runs a minute or so.
    shell:
        "waferrepro wse3 --config {params.config:q} --measured {input} {params.run}"
        " --workers {threads} --out {output} 2>&1 | tee {log}"


rule wse3_figure:
    input:
        f"{TABLES}/wse3.csv",
    output:
        png=report(f"{FIG_DIR}/wse3.png", caption="report/figure.rst", category="Figures"),
        pdf=f"{FIG_DIR}/wse3.pdf",
    log:
        f"{LOGS}/figures/wse3.log",
    params:
        code=CODE,
    localrule: True
    conda:
        "envs/waferrepro.yaml"
    shell:
        "waferrepro figure --id wse3 --table {input} --out {output.png} {output.pdf} 2> {log}"


rule wse3:
    input:
        f"{TABLES}/wse3.csv",
        f"{FIG_DIR}/wse3.png",
        f"{FIG_DIR}/wse3.pdf",
    localrule: True

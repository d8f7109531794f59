# `snakemake breakdown`: every kernel, decode and prefill record's cycles by cause
# (cycles_<cause> metrics) in one table and one stacked-bar figure. Reuses the records of the
# other experiments; no job of its own.

from waferrepro.experiments import breakdown_jobs  # noqa: E402
from waferrepro.meshsim.cost import CAUSES  # noqa: E402

BREAKDOWN_RECORDS = [job.path for job in breakdown_jobs(config, BACKEND)]
BREAKDOWN_METRICS = ["cycles"] + [f"cycles_{cause}" for cause in CAUSES]


localrules:
    breakdown_table,
    breakdown_figure,
    breakdown,


rule breakdown_table:
    input:
        BREAKDOWN_RECORDS,
    output:
        report("results/tables/breakdown.csv", caption="report/table.rst", category="Tables"),
    log:
        "results/logs/tables/breakdown.log",
    params:
        metrics=" ".join(BREAKDOWN_METRICS),
        code=CODE,
    conda:
        "envs/waferrepro.yaml"
    shell:
        "waferrepro table --id breakdown --metrics {params.metrics} --out {output} {input}"
        " 2> {log}"


rule breakdown_figure:
    input:
        "results/tables/breakdown.csv",
    output:
        png=report("figures/breakdown.png", caption="report/figure.rst", category="Figures"),
        pdf="figures/breakdown.pdf",
    log:
        "results/logs/figures/breakdown.log",
    params:
        code=CODE,
    conda:
        "envs/waferrepro.yaml"
    shell:
        "waferrepro figure --id breakdown --table {input} --out {output.png} {output.pdf}"
        " 2> {log}"


rule breakdown:
    input:
        "results/tables/breakdown.csv",
        "figures/breakdown.png",
        "figures/breakdown.pdf",

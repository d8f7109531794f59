# `snakemake breakdown`: every kernel, decode and prefill record's cycles by cause
# (cycles_<cause> metrics) in one table and one stacked-bar figure. Reuses the records of the
# other experiments; no job of its own.

from waferrepro.experiments import breakdown_jobs  # noqa: E402
from waferrepro.meshsim.cost import CAUSES  # noqa: E402

BREAKDOWN_RECORDS = [f"{RUN_DIR}/{job.path}" for job in breakdown_jobs(config, BACKEND)]
BREAKDOWN_METRICS = ["cycles"] + [f"cycles_{cause}" for cause in CAUSES]


localrules:
    breakdown_table,
    breakdown_figure,
    breakdown,


rule breakdown_table:
    input:
        BREAKDOWN_RECORDS,
    output:
        report(f"{TABLES}/breakdown.csv", caption="report/table.rst", category="Tables"),
    log:
        f"{LOGS}/tables/breakdown.log",
    params:
        metrics=" ".join(BREAKDOWN_METRICS),
        run=RUN_ARGS,
        code=CODE,
    conda:
        "envs/waferrepro.yaml"
    shell:
        "waferrepro table --id breakdown --metrics {params.metrics} {params.run} --out {output}"
        " {input} 2> {log}"


rule breakdown_figure:
    input:
        f"{TABLES}/breakdown.csv",
    output:
        png=report(f"{FIG_DIR}/breakdown.png", caption="report/figure.rst", category="Figures"),
        pdf=f"{FIG_DIR}/breakdown.pdf",
    log:
        f"{LOGS}/figures/breakdown.log",
    params:
        code=CODE,
    conda:
        "envs/waferrepro.yaml"
    shell:
        "waferrepro figure --id breakdown --table {input} --out {output.png} {output.pdf}"
        " 2> {log}"


rule breakdown:
    input:
        f"{TABLES}/breakdown.csv",
        f"{FIG_DIR}/breakdown.png",
        f"{FIG_DIR}/breakdown.pdf",

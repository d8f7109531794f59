# The scorecard: the paper's published numbers and claims beside this run's tables, with verdicts
# (src/waferrepro/scorecard/), naming the run. `snakemake scorecard` builds every table and
# figure of the run first.

CLAIMS_YAML = os.path.join(workflow.basedir, "results/reference/claims.yaml")

localrules:
    scorecard,


rule scorecard:
    input:
        all_targets(),
        published=REFERENCE_CSV,
        claims=CLAIMS_YAML,
        training=os.path.join(workflow.basedir, "results/reference/training.csv"),
        intro=os.path.join(workflow.basedir, "workflows/report/workflow.rst"),
    output:
        csv=report(
            f"{TABLES}/scorecard.csv",
            caption="report/scorecard.rst",
            category="Scorecard",
        ),
        png=report(
            f"{FIG_DIR}/scorecard.png", caption="report/scorecard_figure.rst", category="Scorecard"
        ),
        pdf=f"{FIG_DIR}/scorecard.pdf",
        front=SCORECARD_FRONT,
    log:
        f"{LOGS}/scorecard.log",
    params:
        run=RUN_ARGS,
        tables=lambda wildcards, output: os.path.dirname(output.csv),
        code=CODE,
    conda:
        "envs/waferrepro.yaml"
    shell:
        "waferrepro scorecard {params.run} --tables {params.tables} --published {input.published}"
        " --claims {input.claims} --training {input.training} --out {output.csv}"
        " --figure {output.png} {output.pdf}"
        " --front-page {output.front} --front-intro {input.intro} 2>&1 | tee {log}"

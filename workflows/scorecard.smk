# The scorecard: the paper's published numbers and claims beside this run's tables, with verdicts
# (src/waferrepro/scorecard/). `snakemake scorecard` builds every table and figure first.

CLAIMS_YAML = os.path.join(workflow.basedir, "results/reference/claims.yaml")

localrules:
    scorecard,


rule scorecard:
    input:
        all_targets(),
        published=REFERENCE_CSV,
        claims=CLAIMS_YAML,
        intro=os.path.join(workflow.basedir, "workflows/report/workflow.rst"),
    output:
        csv=report(
            "results/tables/scorecard.csv",
            caption="report/scorecard.rst",
            category="Scorecard",
        ),
        png=report(
            "figures/scorecard.png", caption="report/scorecard_figure.rst", category="Scorecard"
        ),
        pdf="figures/scorecard.pdf",
        front=SCORECARD_FRONT,
    log:
        "results/logs/scorecard.log",
    params:
        code=CODE,
    conda:
        "envs/waferrepro.yaml"
    shell:
        "waferrepro scorecard --tables results/tables --published {input.published}"
        " --claims {input.claims} --out {output.csv} --figure {output.png} {output.pdf}"
        " --front-page {output.front} --front-intro {input.intro} 2>&1 | tee {log}"

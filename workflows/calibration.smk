# `snakemake calibrate`: the uncertain construct costs fitted to results/reference/training.csv
# and nothing else (src/waferrepro/calibration.py): the table (fitted values with their
# uncertainty and bounds, residual and leave-one-out error per training point), the figure
# (predicted vs published) and the profile the fit gives. Runs use the committed profile
# (src/waferrepro/profiles/wse2-calibrated.json); the log says whether this fit differs from it.
# Not part of `all`: it takes a few minutes (benchmarks/bench_calibration.py).
rule calibrate:
    input:
        os.path.join(workflow.basedir, "results/reference/training.csv"),
    output:
        table=f"{TABLES}/calibration.csv",
        figures=[in_figures("calibration.png"), in_figures("calibration.pdf")],
        profile=in_run("calibration/wse2-calibrated.json"),
    log:
        f"{LOGS}/tables/calibration.log",
    params:
        code=CODE,
    localrule: True
    conda:
        "envs/waferrepro.yaml"
    shell:
        "waferrepro calibrate --training {input} --out {output.table}"
        " --figure {output.figures} --profile-out {output.profile} 2> {log}"

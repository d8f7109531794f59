# `snakemake calibrate`: one set of construct costs for both chips, fitted to the training
# files and nothing else (src/waferrepro/calibration.py): results/reference/training.csv
# (WSE-2, the paper's released points) and results/reference/training-wse3.csv (the authors'
# kernels measured on a CS-3's small grids). Writes the table (fitted values with their
# uncertainty, bounds and the data that pin them; residual, leave-one-out, leave-one-grid-out
# and zero-shot error per point and family; each chip's band), the figure (predicted vs
# measured) and the profile the fit gives. Runs use the committed profile
# (src/waferrepro/profiles/calibrated.json); the log says whether this fit differs from it.
# Not part of `all`: it takes a few minutes (benchmarks/bench_calibration.py).
from waferrepro.training import TRAINING_FILES  # noqa: E402


rule calibrate:
    input:
        [os.path.join(workflow.basedir, str(path)) for path in TRAINING_FILES],
    output:
        table=f"{TABLES}/calibration.csv",
        figures=[in_figures("calibration.png"), in_figures("calibration.pdf")],
        profile=in_run("calibration/calibrated.json"),
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

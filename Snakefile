# WaferLLM reproduction harness: the whole paper evaluation as one DAG.
#   snakemake --cores all            everything in config/config.yaml
#   snakemake --cores all fig10      one table or figure (fig9, fig10, table2 ... table8,
#                                    breakdown, sensitivity, whatif, wse3)
#   snakemake --cores all --configfile config/smoke.yaml   the small smoke run
#   snakemake --cores all --config run=mine   the same matrix under another run name
# Every run writes under its own name (config `run:`, else derived: paper, smoke,
# paper-<hash> with --config overrides; src/waferrepro/runs.py), so runs sit side by side.
# Data flows one way: config -> one run record per job (results/<run>/records/) -> tidy tables
# (results/<run>/tables/<id>.csv) -> figures (figures/<run>/<id>.png, .pdf).

from snakemake.utils import min_version

min_version("9.19")


# The paper's matrix, unless --configfile names another (which then replaces it, not extends).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "workflows/common.smk"


# The report opens on the scorecard (counts, figure, claims, published beside reproduced) once
# `snakemake scorecard` has written its front page; before that, on the plain description.
SCORECARD_FRONT = f"{RUN_DIR}/report/front.rst"


report: os.path.abspath(SCORECARD_FRONT) if os.path.exists(SCORECARD_FRONT) else "workflows/report/workflow.rst"


rule all:
    input:
        all_targets(),
        f"{TABLES}/scorecard.csv",
    default_target: True
    localrule: True


include: "workflows/run.smk"
include: "workflows/meshsim.smk"
include: "workflows/baselines.smk"
include: "workflows/sdk.smk"
include: "workflows/tables.smk"
include: "workflows/figures.smk"
include: "workflows/breakdown.smk"
include: "workflows/validation.smk"
include: "workflows/calibration.smk"
include: "workflows/scorecard.smk"
include: "workflows/whatif.smk"
include: "workflows/wse3.smk"

# WaferLLM reproduction harness: the whole paper evaluation as one DAG.
#   snakemake --cores all            everything in config/config.yaml
#   snakemake --cores all fig10      one table or figure (fig9, fig10, table2 ... table8,
#                                    breakdown, sensitivity, whatif)
#   snakemake --cores all --configfile config/smoke.yaml   the small smoke run
# Data flows one way: config -> one run record per job (results/records/) -> tidy tables
# (results/tables/<id>.csv) -> figures (figures/<id>.png, .pdf).

from snakemake.utils import min_version

min_version("9.19")


# The paper's matrix, unless --configfile names another (which then replaces it, not extends).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "workflows/common.smk"


# The report opens on the scorecard (counts, figure, claims, published beside reproduced) once
# `snakemake scorecard` has written its front page; before that, on the plain description.
SCORECARD_FRONT = "results/report/front.rst"


report: os.path.abspath(SCORECARD_FRONT) if os.path.exists(SCORECARD_FRONT) else "workflows/report/workflow.rst"


rule all:
    input:
        all_targets(),
        "results/tables/scorecard.csv",
    default_target: True
    localrule: True


include: "workflows/meshsim.smk"
include: "workflows/baselines.smk"
include: "workflows/sdk.smk"
include: "workflows/tables.smk"
include: "workflows/figures.smk"
include: "workflows/breakdown.smk"
include: "workflows/validation.smk"
include: "workflows/scorecard.smk"
include: "workflows/whatif.smk"

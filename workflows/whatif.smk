# `snakemake sensitivity` and `snakemake whatif`: hardware sweeps of the cycle model (many
# variants in one process, waferrepro.sweep) over the jobs the config's `sensitivity` and
# `whatif` sections name. Simulated numbers only; no record of their own.


def sweep_config(section):
    """What a sweep needs from the config, as JSON (a param: a change reruns the sweep)."""
    if section not in config:
        raise WorkflowError(f"`snakemake {section}` needs a `{section}:` section in the "
                            "config (see config/config.yaml)")
    return json.dumps({key: config[key] for key in
                       ("hardware", "hardware_overrides", "schedule_preset", "experiments",
                        section)})


for _sweep in ("sensitivity", "whatif"):

    rule:
        name:
            f"{_sweep}_table"
        output:
            report(f"{TABLES}/{_sweep}.csv", caption="report/table.rst",
                   category="Tables"),
        log:
            f"{LOGS}/tables/{_sweep}.log",
        params:
            id=_sweep,
            config=lambda wildcards, _s=_sweep: sweep_config(_s),
            run=RUN_ARGS,
            code=CODE,
        threads: 2
        conda:
            "envs/waferrepro.yaml"
        shell:
            "waferrepro sweep --id {params.id} --config {params.config:q} {params.run}"
            " --workers {threads} --out {output} 2> {log}"

    rule:
        name:
            f"{_sweep}_figure"
        input:
            f"{TABLES}/{_sweep}.csv",
        output:
            png=report(f"{FIG_DIR}/{_sweep}.png", caption="report/figure.rst",
                       category="Figures"),
            pdf=f"{FIG_DIR}/{_sweep}.pdf",
        log:
            f"{LOGS}/figures/{_sweep}.log",
        params:
            id=_sweep,
            code=CODE,
        localrule: True
        conda:
            "envs/waferrepro.yaml"
        shell:
            "waferrepro figure --id {params.id} --table {input} --out {output.png} {output.pdf}"
            " 2> {log}"

    rule:
        name:
            _sweep
        input:
            f"{TABLES}/{_sweep}.csv",
            f"{FIG_DIR}/{_sweep}.png",
            f"{FIG_DIR}/{_sweep}.pdf",
        localrule: True

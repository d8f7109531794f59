# The run's effective config, `run:` included (results/<run>/config.yaml): what the run's name
# stands for, and the config file that runs it again
# (`snakemake --configfile results/<run>/config.yaml`).

localrules:
    run_config,


rule run_config:
    output:
        RUN_CONFIG,
    log:
        in_run("logs/config.log"),
    params:
        config=json.dumps(config, sort_keys=True, default=str),
    run:
        run_names.write_config(output[0], json.loads(params.config))

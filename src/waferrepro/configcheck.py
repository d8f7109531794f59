"""Turn a config schema violation into one line that names the offending key."""

from __future__ import annotations


def one_line_error(exc: BaseException) -> str:
    """'invalid config at experiments/fig10: ...' from snakemake's validate() WorkflowError."""
    import jsonschema

    # validate() raises WorkflowError while handling jsonschema's ValidationError.
    cause = exc
    while cause is not None and not isinstance(cause, jsonschema.exceptions.ValidationError):
        cause = cause.__cause__ or cause.__context__
    if cause is None:
        return f"invalid config: {str(exc).splitlines()[0] if str(exc) else exc!r}"
    where = "/".join(str(p) for p in cause.absolute_path) or "(top level)"
    message = cause.message.replace("\n", " ")
    if len(message) > 300:
        message = message[:300] + "..."
    return f"invalid config at {where}: {message}"


def _yaml_loader():
    """PyYAML's safe loader that also reads floats such as 850.0e6 or 1e9 as numbers (YAML 1.2
    does; PyYAML's YAML 1.1 rules want a sign after the e and a dot in the mantissa)."""
    import re

    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
        list("-+0123456789."))
    return Loader


def typed_command_line_config(config_args) -> dict:
    """The values given with `--config key=value ...`, read as YAML.

    Snakemake reads a value that is not a plain number or boolean with YAML's BaseLoader, so
    `hardware_overrides={clock_hz: 850.0e6}` arrives as {'clock_hz': '850.0e6'} (a string) and
    fails the schema; merging this on top of the config (snakemake.utils.update_config) puts
    the typed values in their place before validation."""
    import yaml

    loader = _yaml_loader()
    out = {}
    for entry in config_args or []:
        key, sep, value = str(entry).partition("=")
        if not sep or not value:
            continue  # snakemake has already refused or handled it (an empty value is None)
        try:
            out[key] = yaml.load(value, Loader=loader)
        except yaml.YAMLError:
            out[key] = value  # snakemake's last resort too: the text itself
    return out

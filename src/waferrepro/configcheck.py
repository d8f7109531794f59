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

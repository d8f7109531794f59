"""The facts of a schema-validated config that the schema cannot state, checked with the same
functions as the command line and the jobs (waferrepro.validate) at the config's key paths.

Apart from validate.py because it needs the run's hardware (hardware_profiles.get_hardware),
which itself sits above validate.
"""

from __future__ import annotations

from .hardware_profiles import get_hardware
from .validate import ValidationError, grid, hardware_name, length, model, shape


def check_config(config: dict) -> None:
    """The facts of a schema-validated config that the schema cannot state: hardware overrides
    (finite, informational fields unchanged), every grid within the usable fabric, prefill
    grids square (prefill runs MeshGEMM), shapes and models known to the jobs. Raises
    ValidationError naming the key path ('invalid config at experiments/table3/grids/0: ...',
    as the schema's errors, configcheck.one_line_error)."""
    try:
        _check_config(config)
    except ValidationError as exc:
        raise ValidationError(f"invalid config at {exc}") from None


def _check_config(config: dict) -> None:
    hw = get_hardware(hardware_name(config.get("hardware", "wse2")),
                      config.get("hardware_overrides"))
    for exp_id, exp in config.get("experiments", {}).items():
        at = f"experiments/{exp_id}"
        kind = exp.get("kind", "kernel")
        prefill = kind == "prefill"
        for i, g in enumerate(exp.get("grids", [])):
            grid(g, f"{at}/grids/{i}", hw, square=prefill, why="prefill (MeshGEMM)")
        for i, s in enumerate(exp.get("shapes", [])):
            shape(s, f"{at}/shapes/{i}")
        for i, m in enumerate(exp.get("models", [])):
            model(m, f"{at}/models/{i}")
        for i, setup in enumerate(exp.get("setups", [])):
            model(setup.get("model"), f"{at}/setups/{i}/model")
            grid(setup.get("prefill_grid"), f"{at}/setups/{i}/prefill_grid", hw, square=True,
                 why="prefill (MeshGEMM)")
            grid(setup.get("decode_grid"), f"{at}/setups/{i}/decode_grid", hw)
        for i, pair in enumerate(exp.get("lengths", [])):
            length(pair[0], f"{at}/lengths/{i}/0")
            length(pair[1], f"{at}/lengths/{i}/1")
        for i, n in enumerate(exp.get("input_lens", [])):
            length(n, f"{at}/input_lens/{i}")
    sweeps = [("sensitivity", [hw])]
    if config.get("whatif"):
        sweeps.append(("whatif", [get_hardware(name, {
            k: v for k, v in (config.get("hardware_overrides") or {}).items()
            if k != "sram_bytes_per_core"}) for name in config["whatif"].get("hardware", [])]))
    for section, hws in sweeps:
        for kind, spec in (config.get(section) or {}).items():
            if not isinstance(spec, dict) or "grid" not in spec:
                continue
            exp = config.get("experiments", {}).get(spec.get("experiment"), {})
            for h in hws:
                grid(spec["grid"], f"{section}/{kind}/grid", h,
                     square=exp.get("kind") == "prefill" or kind == "prefill",
                     why="prefill (MeshGEMM)")

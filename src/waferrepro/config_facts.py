"""The facts of a schema-validated config that the schema cannot state, checked with the same
functions as the command line and the jobs (waferrepro.validate) at the config's key paths.

Apart from validate.py because it needs the run's hardware (hardware_profiles.get_hardware),
which itself sits above validate.
"""

from __future__ import annotations

from .hardware import Hardware
from .hardware_profiles import get_hardware
from .validate import ValidationError, grid, group_num, hardware_name, length, model, shape


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
        _check_group_nums(exp, at, kind, hw)
    if config.get("wse3") is not None:
        # The target runs on wse3 whatever `hardware` says, with the config's overrides.
        wse3_matrix(config["wse3"], get_hardware("wse3", config.get("hardware_overrides")))
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


def _check_group_nums(exp: dict, at: str, kind: str, hw: Hardware) -> None:
    """A kernel experiment's group_nums: MeshGEMV among its systems, each value fitting
    every grid's columns (validate.group_num)."""
    if not exp.get("group_nums"):
        return
    if kind != "kernel" or "MeshGEMV" not in exp.get("systems", []):
        raise ValidationError(f"{at}/group_nums: only a kernel experiment that runs MeshGEMV "
                              "takes group_nums (the authors' MeshGEMV parameter)")
    for i, g in enumerate(exp["group_nums"]):
        for j, value in enumerate(exp.get("grids", [])):
            px, py = grid(value, f"{at}/grids/{j}", hw)
            group_num(g, py, f"{at}/group_nums/{i} (grid {px}x{py})")


def wse3_matrix(spec: dict, hw: Hardware, what: str = "wse3") -> None:
    """The `wse3` section (waferrepro.wse3's matrix): grids within the usable WSE-3 fabric,
    every group_num fitting every grid, the extra GEMM shapes well formed on grids that fit.
    ValidationError names the key path."""
    if not isinstance(spec, dict) or not spec.get("grids"):
        raise ValidationError(f"{what}: give an object with at least `grids` (square grid "
                              "sides P)")
    for i, p in enumerate(spec["grids"]):
        grid(p, f"{what}/grids/{i}", hw)
    for i, g in enumerate(spec.get("group_nums", [])):
        for p in spec["grids"]:
            group_num(g, grid(p)[1], f"{what}/group_nums/{i} (grid {p}x{p})")
    for key in ("gemm_multiples", "gemv_multiples"):
        for i, n in enumerate(spec.get(key, [])):
            length(n, f"{what}/{key}/{i}")
    for i, point in enumerate(spec.get("gemm_shapes", [])):
        if not isinstance(point, dict):
            raise ValidationError(f"{what}/gemm_shapes/{i}: give an object "
                                  "{grid: P, shape: MxKxN}")
        grid(point.get("grid"), f"{what}/gemm_shapes/{i}/grid", hw)
        shape(point.get("shape"), f"{what}/gemm_shapes/{i}/shape")

"""The `sensitivity` and `whatif` tables: hardware sweeps (waferrepro.sweep) over the config's
headline jobs, written in the table contract (tables.OUTPUT_COLUMNS) plus the sweep's columns.

- sensitivity (one at a time): each assumption of hardware.ASSUMPTION_BOUNDS at its low and at
  its high bound, the others nominal, for GEMV latency (Table 6's shapes), decode TPR (Table
  4's models) and prefill TPR (Table 3's models), each on the grid the config names.
- whatif: decode and prefill TPR vs SRAM per core, on WSE-2 and WSE-3 (both at their nominal
  assumptions). SRAM changes no cycle count in this model, only whether a plan fits: a size
  whose per-layer plan does not fit is a missing value with the reason, never a number.

Every value is simulated (meshsim's cycle model); nothing here is measured.
"""

from __future__ import annotations

from dataclasses import replace

from .experiments import DecodeJob, KernelJob, PrefillJob, grid_str, shapes_of
from .hardware_profiles import get_hardware
from .sweep import HEADLINE, one_at_a_time, sweep
from .tables import OUTPUT_COLUMNS

SWEEP_COLUMNS = ["hardware", "parameter", "bound", "parameter_value"]


def _jobs(config: dict, section: dict) -> list:
    """The jobs a sensitivity/whatif section covers: each entry names a paper experiment
    (whose models, shapes and lengths it takes) and the one grid to run them on."""
    jobs = []
    for kind in ("gemv", "decode", "prefill"):
        if kind not in section:
            continue
        spec = section[kind]
        exp = config["experiments"][spec["experiment"]]
        grid = grid_str(spec["grid"])
        if kind == "gemv":
            jobs += [KernelJob("meshsim", system, shape, grid) for system in exp["systems"]
                     for shape in shapes_of(system, exp)]
        elif kind == "decode":
            (i, o), kv = exp["lengths"][0], exp.get("kv_modes", ["shift"])[0]
            jobs += [DecodeJob("meshsim", m, grid, int(i), int(o), kv) for m in exp["models"]]
        else:
            jobs += [PrefillJob("meshsim", m, grid, int(exp["input_lens"][0]))
                     for m in exp["models"]]
    return jobs


def _contract(frame, table_id: str, preset: str, note: str):
    """The sweep's frame in the table contract: simulated rows, missing values as skipped."""
    import pandas as pd

    out = frame.copy()
    out["id"] = table_id
    out["backend"] = "meshsim"
    out["gpus"] = None
    out["preset"] = preset
    out["low"] = out["high"] = None
    out["run"] = None  # set by the caller (`waferrepro sweep --run`)
    missing = out["value"].isna()
    out["source"] = ["skipped" if m else "simulated" for m in missing]
    out["note"] = [n if m else note for n, m in zip(out["note"], missing, strict=True)]
    return pd.DataFrame(out)[OUTPUT_COLUMNS + SWEEP_COLUMNS]


def sensitivity_table(config: dict, workers: int = 1):
    """One-at-a-time sweep of every assumption over config["sensitivity"]'s jobs."""
    hw = get_hardware(config["hardware"], config.get("hardware_overrides"),
                      config.get("hardware_profile", "calibrated"))
    preset = config["schedule_preset"]
    variants, columns = one_at_a_time(hw)
    frame = sweep(variants, _jobs(config, config["sensitivity"]), preset, workers=workers,
                  variant_columns=[{"hardware": v.name, **c}
                                   for v, c in zip(variants, columns, strict=True)])
    return _contract(frame, "sensitivity", preset,
                     f"simulated by meshsim (cycle model, {hw.name}, preset {preset}); "
                     "one assumption at a bound (hardware.ASSUMPTION_BOUNDS), the others "
                     "nominal")


def whatif_table(config: dict, workers: int = 1):
    """Decode and prefill TPR vs SRAM per core on each hardware of config["whatif"]."""
    spec = config["whatif"]
    preset = config["schedule_preset"]
    overrides = dict(config.get("hardware_overrides") or {})
    overrides.pop("sram_bytes_per_core", None)  # the swept parameter
    variants, columns = [], []
    for name in spec["hardware"]:
        base = get_hardware(name, overrides, config.get("hardware_profile", "calibrated"))
        for kb in spec["sram_kb"]:
            variants.append(replace(base, sram_bytes_per_core=int(kb * 1024)))
            columns.append({"hardware": name, "parameter": "sram_bytes_per_core",
                            "bound": "what-if", "parameter_value": float(kb * 1024)})
    metrics = {kind: HEADLINE[kind] + ("fits_grid_whole_model",)
               for kind in ("decode", "prefill")}
    jobs = _jobs(config, spec)
    frame = sweep(variants, jobs, preset, metrics=metrics, workers=workers,
                  variant_columns=columns)
    return _contract(frame, "whatif", preset,
                     f"simulated by meshsim (cycle model, preset {preset}, nominal "
                     "assumptions); SRAM per core replaced, which changes only whether a "
                     "plan fits, not its cycles")

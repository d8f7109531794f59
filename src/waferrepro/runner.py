"""Run one kernel job on the embedded simulator and turn it into a run record."""

from __future__ import annotations

import time

from . import meshsim, provenance
from .experiments import parse_dims
from .hardware import Hardware
from .meshsim.fabric import PlanError
from .records import metrics_list

RAW_METRICS = {"cycles", "compute_cycles", "comm_cycles", "comm_hidden_cycles",
               "bytes_per_core", "colors_per_core"}


def run_meshsim(system: str, shape: str, cores: str, hw: Hardware, mode: str,
                seed: int = 0) -> dict:
    """Simulate one job and return its record (a plan that does not fit gives a skipped record).

    A numeric mismatch in functional mode raises NumericMismatch: the job fails, no record.
    """
    m, k, n = parse_dims(shape, 3, "shape")
    px, py = parse_dims(cores, 2, "core grid")
    started = time.perf_counter()
    record = {
        "schema_version": 1,
        "job": f"meshsim/{system}/{shape}/{cores}",
        "what": {"system": system, "module": meshsim.MODULE_OF[system], "shape": shape,
                 "cores": cores, "gpus": None, "model": None, "input_len": None,
                 "output_len": None, "params": {"seed": seed}},
        "backend": "meshsim",
        "hardware": hw.as_dict(),
    }
    try:
        outcome = meshsim.simulate(system, (m, k, n), px, py, hw, mode == "functional", seed)
    except PlanError as exc:
        record.update(source="skipped", mode="skipped", metrics=[],
                      check={"performed": False, "passed": None, "reason": str(exc)},
                      note=f"plan does not fit the hardware: {exc}")
    else:
        run = outcome.run
        record["what"]["params"].update(run.params)
        check = ({"performed": True, **outcome.check.as_dict()} if outcome.check else
                 {"performed": False, "passed": None,
                  "reason": "cycle-model run: no data computed (same schedule as functional)"})
        record.update(source="simulated", mode=mode,
                      metrics=metrics_list(run.metrics(), RAW_METRICS), check=check,
                      note=f"simulated by meshsim ({mode}) with the {hw.name} cost model")
    prov = provenance.collect(device=f"meshsim virtual {hw.name} {cores} grid",
                              clock_hz=hw.clock_hz, clock_source=hw.clock_source)
    prov["wall_seconds"] = time.perf_counter() - started
    record["provenance"] = prov
    return record

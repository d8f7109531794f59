"""Placement of core regions that are meant to be resident on one wafer at the same time.

Table 2 runs prefill and decode on grids of their own (8B: 660x660 + 360x360, 13B: 750x750 +
375x375). Together they exceed the usable 750x994 fabric along either side, so what the
harness models by default is `sequential`: prefill on its grid, then decode on its grid, the
wafer re-loaded in between; the end-to-end time is prefill + decode time, and the re-load
(weights in the decode layout, the prompt's KV cache moved into it) is not timed. An e2e
experiment may instead ask for `regions: coexist`; then both grids must fit side by side or
stacked, and a setup that does not is refused before any job runs.
"""

from __future__ import annotations

from .config_facts import check_config as check_values
from .experiments import grid_str, parse_dims
from .hardware import Hardware
from .hardware_profiles import get_hardware

# What every end-to-end record says about the time it reports (true in both placements).
E2E_NOTE = ("end-to-end time = prefill time + decode time, each on its own grid; not timed: "
            "loading the weights and handing the prompt's KV cache from the prefill to the "
            "decode layout (Table 2's grids cannot share one wafer: regions: sequential, the "
            "wafer re-loaded between the phases)")


class PlacementError(ValueError):
    """Regions meant to coexist do not fit the usable fabric."""


def check_coexist(hw: Hardware, regions: dict[str, str]) -> None:
    """Raise PlacementError unless two regions ({name: 'WxH'}) fit on the usable fabric side
    by side or stacked. For two rectangles this is exact: disjoint axis-aligned rectangles are
    always separated by a vertical or a horizontal line."""
    if len(regions) != 2:
        raise ValueError(f"placement is checked for two regions, got {len(regions)}")
    (na, a), (nb, b) = ((name, parse_dims(cores, 2, "core grid"))
                        for name, cores in regions.items())
    side_by_side = (a[0] + b[0], max(a[1], b[1]))
    stacked = (max(a[0], b[0]), a[1] + b[1])
    fabric = (hw.fabric_width, hw.fabric_height)
    if any(w <= fabric[0] and h <= fabric[1] for w, h in (side_by_side, stacked)):
        return
    raise PlacementError(
        f"{na} {a[0]}x{a[1]} and {nb} {b[0]}x{b[1]} cannot coexist on the usable {hw.name} "
        f"fabric {fabric[0]}x{fabric[1]}: side by side they need {side_by_side[0]}x"
        f"{side_by_side[1]}, stacked {stacked[0]}x{stacked[1]}")


def check_config(config: dict, hardware: str) -> None:
    """The checks of a schema-validated config beyond the schema, before any job: first
    waferrepro.config_facts.check_config (the same facts the command line and the jobs check:
    hardware overrides, grids within the fabric, prefill grids square, ...; ValidationError
    naming the key), then every e2e setup whose experiment says `regions: coexist` fits
    (PlacementError naming the experiment and setup otherwise)."""
    check_values({**config, "hardware": hardware})
    hw = get_hardware(hardware, config.get("hardware_overrides"),
                      config.get("hardware_profile", "calibrated"))
    for exp_id, exp in config["experiments"].items():
        if exp.get("kind") != "e2e" or exp.get("regions", "sequential") != "coexist":
            continue
        for i, setup in enumerate(exp["setups"]):
            try:
                check_coexist(hw, {"prefill": grid_str(setup["prefill_grid"]),
                                   "decode": grid_str(setup["decode_grid"])})
            except PlacementError as exc:
                raise PlacementError(f"experiments/{exp_id}/setups/{i} ({setup['model']}, "
                                     f"regions: coexist): {exc}") from None

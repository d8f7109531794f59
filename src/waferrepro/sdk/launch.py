"""What every CSL launcher does around its kernel, under `cs_python` on the SDK simulator, a
wafer, or an appliance worker: open the SDK runtime, copy fp16 tiles in and out, read the
timestamps back, check against NumPy, and write the JSON that `waferrepro sdk record` turns
into a run record.

The pure parts (16-bit values in memcpy's 32-bit words, the result document) are tested
without an SDK; the SdkRuntime calls follow the SDK's memcpy tutorials and are NOT RUN HERE.
Kept to numpy and the standard library: the appliance packages pin an old numpy.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ..check import compare, tolerance
from ..hardware import ACCUMULATE
from ..presets import DEFAULT_PRESET, PRESETS
from .timing import STAMP_WORDS, run_statistics

# Decode and Prefill keep activations in fp16 between phases, which meshsim does not model,
# whatever they accumulate in: a looser fixed bound than check.tolerance's, written into their
# result documents (layer_check names the accumulate). MeshGEMM and MeshGEMV, one reduction
# each, are checked as meshsim checks its twin (accumulate_check).
DEVICE_RTOL = 2e-2
DEVICE_ATOL = 1e-3


def f16_to_words(tiles: np.ndarray) -> np.ndarray:
    """memcpy's 16-bit mode carries one value in the low half of each 32-bit word."""
    return np.ascontiguousarray(tiles, dtype=np.float16).view(np.uint16).astype(np.uint32).ravel()


def words_to_f16(words: np.ndarray, shape) -> np.ndarray:
    return (np.asarray(words) & 0xFFFF).astype(np.uint16).view(np.float16).reshape(shape)


def words_to_f32(words: np.ndarray, shape) -> np.ndarray:
    """memcpy's 32-bit mode: one f32 per word (an f32 accumulator read back as it is held)."""
    return np.ascontiguousarray(words, dtype=np.uint32).view(np.float32).reshape(shape)


def accumulate_check(params: dict, k: int) -> dict:
    """How a MeshGEMM / MeshGEMV result is checked: with the tolerance meshsim's check uses for
    the kernel's accumulate precision (`acc32` in its compile parameters; check.tolerance over
    reductions of K terms), naming what the device did."""
    acc = "fp32" if params.get("acc32", 0) else "fp16"
    return {**tolerance(acc, k),
            "reference": f"numpy float64; device accumulates in {acc} (@{ACCUMULATE[acc]['mac']})"}


def layer_check(params: dict) -> dict:
    """How a whole layer (Decode, Prefill) is checked: the fixed device bound under either
    accumulate form (its activations are fp16 between phases whatever `acc32` says, which
    meshsim does not model), naming the accumulate the kernel was compiled for: fp32
    (@fmachs, f32 partial sums) under `acc32`, else fp16."""
    acc = "fp32" if params.get("acc32", 0) else "fp16"
    return {"rtol": DEVICE_RTOL, "atol": DEVICE_ATOL,
            "reference": f"numpy float64; device accumulates in {acc} "
                         f"(@{ACCUMULATE[acc]['mac']}), activations fp16 between phases"}


def parser(module: str, shape: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=f"Run the {module} CSL kernel (cs_python)")
    p.add_argument("--name", required=True, help="compile output folder")
    p.add_argument("--cmaddr", help="IP:port of the CS system (wafer runs)")
    if shape:
        p.add_argument("--shape", required=True, help="MxKxN")
    p.add_argument("--seed", type=int, default=0)
    # waferrepro.sdk.timing.runs_for gives the workflow's values (the authors' by backend)
    p.add_argument("--warmup", type=int, default=1, help="untimed runs before the timed ones")
    p.add_argument("--repeats", type=int, default=5, help="timed runs")
    p.add_argument("--out-json", required=True)
    return p


def add_preset_argument(p: argparse.ArgumentParser) -> None:
    """--preset for the Decode and Prefill launchers: the schedule preset whose layer
    (attention heads, KV cache, mask) the kernel was compiled for and the inputs are built
    for (waferrepro.sdk.inputs)."""
    p.add_argument("--preset", choices=sorted(PRESETS), default=DEFAULT_PRESET,
                   help="schedule preset (as the compile's)")


# Parameters that pick how a kernel moves and adds values (the twin's hardware: the preset and
# the config's hardware overrides, sdk.toolchain.twin_hardware), not which layer or inputs it
# takes: a launcher checks the others against what its job needs.
DATAPATH_PARAMS = ("packed", "acc32")


def layer_params(params: dict) -> dict:
    """`params` without DATAPATH_PARAMS."""
    return {k: v for k, v in params.items() if k not in DATAPATH_PARAMS}


def compile_params(name: str) -> dict:
    """The --params a kernel was compiled with (cslc writes them to out.json)."""
    return {k: int(v) for k, v in json.loads(Path(name, "out.json").read_text())["params"].items()}


class Session:
    """One loaded kernel on a width x height rectangle (SdkRuntime with memcpy)."""

    def __init__(self, name: str, cmaddr: str | None, width: int, height: int):
        from cerebras.sdk.runtime.sdkruntimepybind import MemcpyDataType, MemcpyOrder, SdkRuntime  # pylint: disable=import-error

        self._types, self._order = MemcpyDataType, MemcpyOrder
        self.width, self.height = width, height
        self.runner = SdkRuntime(name, cmaddr=cmaddr) if cmaddr else SdkRuntime(name)
        self.runner.load()
        self.runner.run()

    def _copy(self, direction: str, symbol: str, data: np.ndarray, per_core: int, bits: int):
        kind = self._types.MEMCPY_16BIT if bits == 16 else self._types.MEMCPY_32BIT
        args = (0, 0, self.width, self.height, per_core)
        kw = dict(streaming=False, order=self._order.ROW_MAJOR, data_type=kind, nonblock=False)
        sym = self.runner.get_id(symbol)
        if direction == "h2d":
            self.runner.memcpy_h2d(sym, data, *args, **kw)
        else:
            self.runner.memcpy_d2h(data, sym, *args, **kw)

    def put(self, symbol: str, tiles: np.ndarray) -> None:
        """tiles: (height, width, ...) by physical core, row-major inside each core; fp16 and
        int16 travel as 16-bit values, float32 as 32-bit words."""
        per_core = int(np.prod(tiles.shape[2:]))
        if tiles.dtype == np.float32:
            words = np.ascontiguousarray(tiles).view(np.uint32).ravel()
            self._copy("h2d", symbol, words, per_core, 32)
        elif tiles.dtype == np.int16:
            words = np.ascontiguousarray(tiles).view(np.uint16).astype(np.uint32).ravel()
            self._copy("h2d", symbol, words, per_core, 16)
        else:
            self._copy("h2d", symbol, f16_to_words(tiles), per_core, 16)

    def get_f16(self, symbol: str, per_core: int) -> np.ndarray:
        words = np.zeros(self.height * self.width * per_core, dtype=np.uint32)
        self._copy("d2h", symbol, words, per_core, 16)
        return words_to_f16(words, (self.height, self.width, per_core))

    def get_f32(self, symbol: str, per_core: int) -> np.ndarray:
        words = np.zeros(self.height * self.width * per_core, dtype=np.uint32)
        self._copy("d2h", symbol, words, per_core, 32)
        return words_to_f32(words, (self.height, self.width, per_core))

    def get_acc(self, symbol: str, per_core: int, params: dict) -> np.ndarray:
        """An accumulator as the kernel holds it: f32 under `acc32`, else fp16."""
        if params.get("acc32", 0):
            return self.get_f32(symbol, per_core)
        return self.get_f16(symbol, per_core)

    def run(self, warmup: int, repeats: int) -> dict:
        """One launch of the kernel: align the counters (arm, then sync: every core posts its
        receive before (0,0) sends; common/sync_timer.csl), then `warmup` untimed and
        `repeats` timed runs. Returns the per-run cycles with their mean and max."""
        self.runner.launch("arm", nonblock=False)
        self.runner.launch("sync", nonblock=False)
        self.runner.launch("compute", np.int16(warmup), np.int16(repeats), nonblock=False)
        words = np.zeros(self.height * self.width * STAMP_WORDS, dtype=np.uint32)
        self._copy("d2h", "time_buf", words, STAMP_WORDS, 16)
        stats = run_statistics(words.reshape(self.height, self.width, STAMP_WORDS), repeats)
        return {**stats, "warmup": warmup}

    def stop(self) -> None:
        self.runner.stop()


def check_then_time(session: Session, read, warmup: int, repeats: int):
    """The authors' launch pattern: one launch of a single run whose result is checked, then
    the timed launch (warm-up + repeats). `read()` fetches the result from the device. Every
    kernel restores its state between runs, so the result after the timed launch must be
    bit-identical to the first one (`rerun_identical`). Returns (result, timing)."""
    session.run(0, 1)
    first = read()
    timing = session.run(warmup, repeats)
    again = read()
    timing["rerun_identical"] = bool(np.array_equal(np.asarray(again).view(np.uint16),
                                                    np.asarray(first).view(np.uint16)))
    return first, timing


def finish(out_json: str, module: str, shape: str, actual, reference, timing: dict,
           width: int, height: int, params: dict, rows_agree: bool | None = None,
           check: dict | None = None, preset: str | None = None) -> int:
    """Check, write the result document, print one line; exit status 1 on a mismatch.
    `check`: rtol, atol and reference name (accumulate_check, layer_check); layer_check's if
    None.
    `preset`: the schedule preset whose layer the inputs were built for (Decode, Prefill)."""
    doc = result_document(actual, reference, timing, width, height, params, rows_agree, check)
    if preset:
        doc["preset"] = preset
    Path(out_json).write_text(json.dumps(doc, indent=2))
    ok = (doc["check"]["passed"] and rows_agree is not False
          and timing.get("rerun_identical") is not False)
    print(f"{module} {shape} on {width}x{height}: mean {timing['cycles_mean']:.0f}, max "
          f"{timing['cycles_max']} cycles over {timing['repeats']} runs (after "
          f"{timing['warmup']} warm-up), per run {timing['cycles_per_run']}; check "
          f"{'passed' if ok else 'FAILED'}")
    return 0 if ok else 1


def result_document(actual, reference, timing: dict, width: int, height: int, params: dict,
                    rows_agree: bool | None, check: dict | None = None) -> dict:
    """What `waferrepro sdk record` reads: `cycles` is the mean over the timed runs (the
    headline), `timing` keeps the max and every run (waferrepro.sdk.timing.run_statistics).
    rows_agree: for kernels that leave a result on every row (MeshGEMV's broadcast), whether
    all rows hold the same one; None otherwise. check: as in `finish`."""
    how = check or layer_check(params)
    check = compare(actual, reference, rtol=how["rtol"], atol=how["atol"],
                    reference_name=how["reference"])
    return {"cycles": float(timing["cycles_mean"]), "timing": timing, "check": check.as_dict(),
            "rows_agree": rows_agree, "width": width, "height": height, "params": params}

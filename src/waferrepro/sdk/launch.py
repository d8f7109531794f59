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

from ..check import compare
from .toolchain import elapsed_cycles

# fp16 accumulation on the device (the simulator accumulates in fp32): a looser bound,
# written into every result document.
DEVICE_RTOL = 2e-2
DEVICE_ATOL = 1e-3
DEVICE_REFERENCE = "numpy float64; device accumulates in fp16"


def f16_to_words(tiles: np.ndarray) -> np.ndarray:
    """memcpy's 16-bit mode carries one value in the low half of each 32-bit word."""
    return np.ascontiguousarray(tiles, dtype=np.float16).view(np.uint16).astype(np.uint32).ravel()


def words_to_f16(words: np.ndarray, shape) -> np.ndarray:
    return (np.asarray(words) & 0xFFFF).astype(np.uint16).view(np.float16).reshape(shape)


def parser(module: str, shape: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=f"Run the {module} CSL kernel (cs_python)")
    p.add_argument("--name", required=True, help="compile output folder")
    p.add_argument("--cmaddr", help="IP:port of the CS system (wafer runs)")
    if shape:
        p.add_argument("--shape", required=True, help="MxKxN")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out-json", required=True)
    return p


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

    def launch(self, function: str = "compute") -> None:
        self.runner.launch(function, nonblock=False)

    def cycles(self) -> int:
        """Kernel cycles from every core's ref/start/end stamps (common/sync_timer.csl)."""
        words = np.zeros(self.height * self.width * 9, dtype=np.uint32)
        self._copy("d2h", "time_buf", words, 9, 32)
        t = words.reshape(self.height, self.width, 9)
        return elapsed_cycles(t[..., 3:6], t[..., 6:9], t[..., 0:3])

    def stop(self) -> None:
        self.runner.stop()


def finish(out_json: str, module: str, shape: str, actual, reference, cycles: int,
           width: int, height: int, params: dict, rows_agree: bool | None = None) -> int:
    """Check, write the result document, print one line; exit status 1 on a mismatch."""
    doc = result_document(actual, reference, cycles, width, height, params, rows_agree)
    Path(out_json).write_text(json.dumps(doc, indent=2))
    ok = doc["check"]["passed"] and rows_agree is not False
    print(f"{module} {shape} on {width}x{height}: {cycles} cycles, check "
          f"{'passed' if ok else 'FAILED'}")
    return 0 if ok else 1


def result_document(actual, reference, cycles: int, width: int, height: int, params: dict,
                    rows_agree: bool | None) -> dict:
    """What `waferrepro sdk record` reads. rows_agree: for kernels that leave a result on
    every row (MeshGEMV's broadcast), whether all rows hold the same one; None otherwise."""
    check = compare(actual, reference, rtol=DEVICE_RTOL, atol=DEVICE_ATOL,
                    reference_name=DEVICE_REFERENCE)
    return {"cycles": int(cycles), "check": check.as_dict(), "rows_agree": rows_agree,
            "width": width, "height": height, "params": params}

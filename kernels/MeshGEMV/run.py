#!/usr/bin/env cs_python
"""Launcher for MeshGEMV on the SDK simulator or a wafer (run with cs_python).

Packs W and x with the harness's own host code (waferrepro.host, the functions meshsim's
tests exercise), copies them in, launches, copies y and the timestamps back, checks y
against NumPy, decodes the timestamps (waferrepro.sdk.elapsed_cycles) and writes a JSON
result that `waferrepro sdk-record` turns into the standard run record.

NOT RUN HERE: no SDK on the machines this was written on. The SdkRuntime calls follow the
SDK's GEMV tutorials (memcpy_h2d/d2h with ROW_MAJOR order over a rectangle of PEs).
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))
from waferrepro.check import compare  # noqa: E402
from waferrepro.host import pad2d, to_tiles  # noqa: E402
from waferrepro.sdk import elapsed_cycles  # noqa: E402

from cerebras.sdk.runtime.sdkruntimepybind import (  # noqa: E402  pylint: disable=no-name-in-module
    MemcpyDataType, MemcpyOrder, SdkRuntime)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True, help="compile output folder")
    parser.add_argument("--cmaddr", help="IP:port of the CS system (wafer runs)")
    parser.add_argument("--shape", required=True, help="1xKxN")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-json", required=True)
    args = parser.parse_args()

    params = json.loads(Path(args.name, "out.json").read_text())["params"]
    width, height = int(params["width"]), int(params["height"])
    kt, nt = int(params["kt"]), int(params["nt"])
    _, k, n = (int(v) for v in args.shape.split("x"))

    rng = np.random.default_rng(args.seed)  # the same draw as meshsim.make_inputs
    x = rng.standard_normal((1, k)).astype(np.float16)
    w = rng.standard_normal((k, n)).astype(np.float16)
    w_tiles = to_tiles(w, height, width)                       # (height, width, kt, nt)
    x_rows = pad2d(x, 1, kt * height).reshape(height, kt)      # row py holds x block py
    x_tiles = np.broadcast_to(x_rows[:, None, :], (height, width, kt))

    runner = SdkRuntime(args.name, cmaddr=args.cmaddr)
    sym = {s: runner.get_id(s) for s in ("W", "x", "y", "time_buf")}
    runner.load()
    runner.run()

    def h2d(symbol, tiles, per_pe):
        # 16-bit data travel in 32-bit containers, one value each (MEMCPY_16BIT).
        data = tiles.reshape(height, width, per_pe).view(np.uint16).astype(np.uint32)
        runner.memcpy_h2d(symbol, data.ravel(), 0, 0, width, height, per_pe, streaming=False,
                          order=MemcpyOrder.ROW_MAJOR, data_type=MemcpyDataType.MEMCPY_16BIT,
                          nonblock=False)

    h2d(sym["W"], np.ascontiguousarray(w_tiles), kt * nt)
    h2d(sym["x"], np.ascontiguousarray(x_tiles), kt)
    runner.launch("compute", nonblock=False)

    y_raw = np.zeros(height * width * nt, dtype=np.uint32)
    runner.memcpy_d2h(y_raw, sym["y"], 0, 0, width, height, nt, streaming=False,
                      order=MemcpyOrder.ROW_MAJOR, data_type=MemcpyDataType.MEMCPY_16BIT,
                      nonblock=False)
    t_raw = np.zeros(height * width * 9, dtype=np.uint32)
    runner.memcpy_d2h(t_raw, sym["time_buf"], 0, 0, width, height, 9, streaming=False,
                      order=MemcpyOrder.ROW_MAJOR, data_type=MemcpyDataType.MEMCPY_32BIT,
                      nonblock=False)
    runner.stop()

    y_tiles = (y_raw & 0xFFFF).astype(np.uint16).view(np.float16).reshape(height, width, nt)
    # Every row must hold the column's sum (the broadcast); read the last row, as meshsim does.
    y = y_tiles[height - 1].reshape(-1)[:n].astype(np.float64)
    rows_agree = bool((y_tiles == y_tiles[height - 1][None]).all())
    # fp16 accumulation on the device: a looser bound than meshsim's fp32 (stated in JSON).
    check = compare(y[None, :], x.astype(np.float64) @ w, rtol=2e-2, atol=1e-3,
                    reference_name="numpy float64; device accumulates in fp16")
    t = t_raw.reshape(height, width, 9).astype(np.uint16)
    cycles = elapsed_cycles(t[..., 3:6], t[..., 6:9], t[..., 0:3])
    Path(args.out_json).write_text(json.dumps({
        "cycles": cycles, "check": check.as_dict(), "rows_agree": rows_agree,
        "width": width, "height": height, "params": params}, indent=2))
    print(f"MeshGEMV {args.shape} on {width}x{height}: {cycles} cycles, check "
          f"{'passed' if check.passed and rows_agree else 'FAILED'}")
    return 0 if check.passed and rows_agree else 1


if __name__ == "__main__":
    sys.exit(main())

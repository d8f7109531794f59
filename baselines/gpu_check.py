"""Prepared GPU check: cuBLAS GEMV and GEMM with energy, as % of the device's peak.

    pip install -e '.[gpu]' && python baselines/gpu_check.py      # about 2 minutes on an H100

Targets (baselines issue): GEMV >= 85% of HBM peak, GEMM >= 70% of dense fp16/bf16 peak.
Prints one line per shape and exits non-zero when a target is missed, so the cause (clocks,
shapes, L2, timing method) gets looked at before numbers are used.
"""

from __future__ import annotations

import sys

from waferrepro.baselines import matmul

SHAPES = [(1, 16384, 16384), (1, 32768, 32768), (2048, 2048, 2048), (8192, 8192, 8192)]
GEMV_TARGET, GEMM_TARGET = 0.85, 0.70


def main() -> int:
    if matmul.resolve_device("auto") != "cuda":
        print("no CUDA GPU visible to PyTorch: nothing to check", file=sys.stderr)
        return 2
    missed = 0
    for shape in SHAPES:
        result = matmul.run_cuda(shape, warmup=10, repeats=100)
        if not result["check"].passed:
            print(f"{shape}: WRONG RESULT (max rel err {result['check'].max_rel_err:.3g})")
            return 1
        m = matmul.metrics(shape, result)
        target = GEMV_TARGET if shape[0] == 1 else GEMM_TARGET
        util = m.get("utilization", (float("nan"), ""))[0]
        ok = util >= target
        missed += not ok
        energy = f"{m['energy_j'][0]:.4f} J/run at {m['power_w'][0]:.0f} W" if "energy_j" in m \
            else result["energy_reason"]
        print(f"{result['device']} {'x'.join(map(str, shape)):>18}: "
              f"{m['latency_ms'][0]:.4f} ms (p10 {m['latency_p10_ms'][0]:.4f}, p90 "
              f"{m['latency_p90_ms'][0]:.4f}), {m['tflops'][0]:.1f} TFLOP/s, "
              f"{m['bandwidth_gbs'][0]:.0f} GB/s, {util:.1%} of peak "
              f"(target {target:.0%}: {'ok' if ok else 'MISSED'}); {energy}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())

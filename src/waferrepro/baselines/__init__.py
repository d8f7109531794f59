"""GPU and CPU comparators (cuBLAS/NumPy GEMM and GEMV, vLLM, SGLang), writing the same run
records as the wafer kernels. Heavy packages (torch, vllm, sglang, pynvml) are imported only
inside the runner that needs them, so the default install stays light."""


class BaselineUnavailable(RuntimeError):
    """The package or device a baseline needs is not here; the run is recorded as skipped."""

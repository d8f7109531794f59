"""The Cerebras SDK side: what compiles and runs the CSL kernels (`kernels/`) and checks them
without an SDK.

- `backends`: which backend runs (meshsim, the SDK simulator, a wafer) and what is missing.
- `toolchain`: kernel parameters, `cslc` / `cs_python` command lines, staging.
- `timing`: the kernels' timestamps -> cycles per run, mean and max; warm-up/repeat counts.
- `inputs`: each core's inputs for the Decode and Prefill kernels (meshsim's own packing).
- `launch`: the launchers' shared host code (runs under `cs_python`, numpy only).
- `routes`: the Python twin of `kernels/common/roles.csl` and a router-level route tracer.
- `appliance`: compile and run on a Wafer-Scale Cluster (cerebras-sdk client).

Kept free of imports here: the launchers import `waferrepro.sdk.launch` on a worker that has
numpy and nothing else of this package's dependencies.
"""

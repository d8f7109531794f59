"""One job = one run record. Jobs by backend: `meshsim` (the embedded simulator), `baselines`
(GPUs or this CPU) and `sdk` (the CSL kernels' launcher results on the SDK simulator or a
wafer). What every record shares is built in `waferrepro.records`."""

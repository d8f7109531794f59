"""Peak rates of the GPUs the paper and the lent machines use: the one place they live.

Dense (no sparsity) tensor-core fp16/bf16 FLOP/s and HBM bandwidth, from NVIDIA's datasheets.
Utilization is achieved / peak; a device missing here gets no utilization (never a guess).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DevicePeak:
    name: str
    fp16_tflops: float  # dense tensor-core fp16/bf16
    hbm_gbs: float
    source: str


PEAKS = [
    # Order matters: the first whose key is found in the CUDA device name wins.
    DevicePeak("A100-SXM4-80GB", 312.0, 2039.0, "NVIDIA A100 datasheet (2021): 312 TFLOPS "
               "dense fp16/bf16 tensor core; 2,039 GB/s HBM2e (80GB SXM)"),
    DevicePeak("A100-SXM4-40GB", 312.0, 1555.0, "NVIDIA A100 datasheet (2021): 312 TFLOPS; "
               "1,555 GB/s HBM2 (40GB)"),
    DevicePeak("A100 80GB PCIe", 312.0, 1935.0, "NVIDIA A100 datasheet (2021): 312 TFLOPS; "
               "1,935 GB/s (80GB PCIe)"),
    DevicePeak("H100 PCIe", 756.0, 2000.0, "NVIDIA H100 datasheet (2023): 756 TFLOPS dense "
               "bf16 (1,513 sparse); 2.0 TB/s"),
    DevicePeak("H100 NVL", 835.0, 3900.0, "NVIDIA H100 NVL datasheet (2023): 835 TFLOPS dense "
               "bf16; 3.9 TB/s"),
    DevicePeak("H100", 989.4, 3350.0, "NVIDIA H100 SXM datasheet (2023): 989 TFLOPS dense "
               "bf16 (1,979 sparse); 3.35 TB/s HBM3"),
    DevicePeak("H200", 989.4, 4800.0, "NVIDIA H200 SXM datasheet (2024): 989 TFLOPS dense "
               "bf16; 4.8 TB/s HBM3e"),
]


def peak_for(device_name: str) -> DevicePeak | None:
    """The peak entry for a CUDA device name such as 'NVIDIA H100 80GB HBM3'."""
    name = device_name.upper()
    for peak in PEAKS:
        if peak.name.upper() in name:
            return peak
    # 'NVIDIA A100-SXM4-80GB' and 'NVIDIA A100 80GB PCIe' are matched above; a bare A100
    # name without its memory size cannot be told apart, so it gets no peak.
    return None

"""Facts about the machine a benchmark ran on: device and CPU names, versions, the BF16 peak, load."""

from __future__ import annotations

import os
import platform

import torch

# Dense BF16 tensor-core peak (FLOP/s), by a substring of torch.cuda.get_device_name().
PEAK_BF16 = {"H200": 989e12, "H100": 989e12, "A100": 312e12}


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "cpu":
        return cpu_name()
    return str(device)


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def peak_flops(name: str) -> float | None:
    """The device's dense BF16 peak, when its name is in :data:`PEAK_BF16`; None otherwise (CPUs)."""
    return next((peak for key, peak in PEAK_BF16.items() if key in name), None)


def environment(device: torch.device) -> dict:
    name = device_name(device)
    env = {
        "device": str(device),
        "device_name": name,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "peak_bf16_flops": peak_flops(name) if device.type == "cuda" else None,
    }
    if device.type == "cuda":
        env |= {
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
            "tf32_conv": torch.backends.cudnn.allow_tf32,
            "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        }
    return env


def load_average() -> float | None:
    """The 1-minute load average (other work on the machine skews every figure); None where unknown."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None

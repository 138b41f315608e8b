"""Which device a run uses, resolved in one place for the CLI, the GUI and the core.

A device spec is what a user types: `auto`, `cpu`, `cuda` or `cuda:N`. `resolve_device` turns it
into the device a run trains on (checked against the GPUs torch can use), `metering_device` does
the same without importing torch (for `pepr meter`, which only reads the meters), `list_devices`
is what the GUI offers, and `device_name` names a resolved device for the run record.
"""

from __future__ import annotations

import logging
import platform

from pepr_desktop.core.errors import UserError

log = logging.getLogger(__name__)

DEVICE_FORMS = "auto, cpu, cuda or cuda:N"


def resolve_device(spec: str) -> str:
    """'auto' -> 'cuda' when a GPU is usable, else 'cpu'; 'cuda:i' checked against the GPUs."""
    spec = (spec or "auto").lower()
    if spec not in ("auto", "cpu") and not (spec == "cuda" or spec.startswith("cuda:")):
        raise UserError(f"device must be {DEVICE_FORMS}, not '{spec}'.")
    if spec == "cpu":
        return "cpu"
    import torch

    if spec == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available():
        raise UserError(f"device {spec} was asked for but no CUDA GPU is usable; use --device cpu.")
    if ":" in spec:
        idx = spec.split(":", 1)[1]
        if not idx.isdigit() or int(idx) >= torch.cuda.device_count():
            raise UserError(
                f"no GPU {spec}; this machine has {torch.cuda.device_count()} (cuda:0...)."
            )
    return spec


def metering_device(spec: str) -> str:
    """The device whose meters to read: 'auto' -> 'cuda' when NVML sees a GPU, else 'cpu'; any
    other spec is only checked for its form (a missing GPU is the meter's to report). Does not
    import torch, so a meter readout starts at once."""
    from pepr_desktop.core.metering.nvml import gpu_count

    spec = (spec or "auto").lower()
    if spec == "auto":
        return "cuda" if gpu_count() > 0 else "cpu"
    if spec == "cpu" or spec == "cuda" or (spec.startswith("cuda:") and spec[5:].isdigit()):
        return spec
    raise UserError(f"device must be {DEVICE_FORMS}, not '{spec}'.")


def device_name(device: str) -> str:
    """A resolved device's hardware name: the GPU's model, or the CPU's."""
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(torch.device(device))
    return platform.processor() or platform.machine() or "CPU"


def _no_gpu_driver() -> bool:
    """True where no CUDA device can exist: Linux without the NVIDIA, AMD (ROCm) or WSL GPU
    driver. Lets the GUI list the devices at start-up without a 1-2 s torch import."""
    import os
    import sys

    if not sys.platform.startswith("linux") or "torch" in sys.modules:
        return False
    nodes = ("/proc/driver/nvidia", "/dev/nvidiactl", "/dev/kfd", "/dev/dxg")
    return not any(os.path.exists(p) for p in nodes)


def list_devices() -> list[tuple[str, str]]:
    """(label, device spec) of each device a run can use: each CUDA GPU by name and memory, then
    the CPU (always there, always last)."""
    cpu = (f"CPU ({platform.processor() or platform.machine()})", "cpu")
    if _no_gpu_driver():  # torch.cuda would find no GPU either
        return [cpu]
    out: list[tuple[str, str]] = []
    try:
        import torch

        if torch.cuda.is_available():
            for i in range(torch.cuda.device_count()):
                p = torch.cuda.get_device_properties(i)
                out.append((f"GPU {i}: {p.name} ({p.total_memory / 2**30:.0f} GiB)", f"cuda:{i}"))
    except Exception:  # no usable CUDA: the CPU remains
        log.debug("CUDA detection failed", exc_info=True)
    out.append(cpu)
    return out

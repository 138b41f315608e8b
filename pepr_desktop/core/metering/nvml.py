"""GPU energy through NVML (pynvml, from the nvidia-ml-py package).

Energy comes from the device's total-energy counter (`nvmlDeviceGetTotalEnergyConsumption`, mJ,
Volta and newer) as differences; where the counter is unsupported, `nvmlDeviceGetPowerUsage` (mW)
is polled and integrated, and the method says `nvml_power` so the two are never confused.
Utilisation and used memory ride along with every reading; name and power limit are for the UI.
"""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Any

from pepr_desktop.core.metering.base import Meter, MeterUnavailable, Reading

log = logging.getLogger(__name__)


def _pynvml() -> Any:
    try:
        import pynvml
    except ImportError:
        raise MeterUnavailable(
            "pynvml is not installed; `pip install nvidia-ml-py` to meter NVIDIA GPUs"
        ) from None
    return pynvml


def nvml_target(device: str) -> int | str:
    """The NVML index (or UUID) of a torch device string, honouring CUDA_VISIBLE_DEVICES.

    torch numbers the visible GPUs 0..n-1; NVML numbers all of them, so `cuda:1` with
    CUDA_VISIBLE_DEVICES=2,3 is NVML index 3.
    """
    idx = int(device.split(":", 1)[1]) if ":" in device else 0
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None or not visible.strip():
        return idx
    items = [v.strip() for v in visible.split(",") if v.strip()]
    if idx >= len(items):
        raise MeterUnavailable(f"{device} is not among CUDA_VISIBLE_DEVICES={visible}")
    item = items[idx]
    return int(item) if item.isdigit() else item


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


class NvmlMeter(Meter):
    """One GPU: counter energy where supported, otherwise integrated polled power."""

    component = "gpu"

    def __init__(self, device: str = "cuda", **kw: Any) -> None:
        super().__init__(**kw)
        self.device = device
        self.method = "nvml_energy"
        self.handle: Any = None
        self.nv: Any = None
        self.fallback_reason = ""
        self._info: dict[str, Any] = {}

    def open(self) -> None:
        nv = _pynvml()
        try:
            nv.nvmlInit()
        except Exception as exc:
            raise MeterUnavailable(
                f"NVML did not start ({_text(exc) or type(exc).__name__}); is the NVIDIA driver "
                "installed and the GPU visible?"
            ) from None
        self.nv = nv
        try:
            target = nvml_target(self.device)
            if isinstance(target, int):
                self.handle = nv.nvmlDeviceGetHandleByIndex(target)
            else:
                self.handle = nv.nvmlDeviceGetHandleByUUID(target)
        except MeterUnavailable:
            self.close()
            raise
        except Exception as exc:
            self.close()
            raise MeterUnavailable(f"NVML cannot open {self.device} ({exc})") from None
        self._info = self._read_info()
        self._energy = 0.0
        self._t_last = self.clock()
        try:
            self._mj_last = int(nv.nvmlDeviceGetTotalEnergyConsumption(self.handle))
            self.method = "nvml_energy"
        except Exception as exc:
            self.fallback_reason = f"energy counter unsupported ({exc}); power polled instead"
            log.info("%s: %s", self.device, self.fallback_reason)
            try:
                self._p_last = nv.nvmlDeviceGetPowerUsage(self.handle) / 1000.0
            except Exception as exc2:
                self.close()
                raise MeterUnavailable(
                    f"NVML reads neither energy nor power on {self.device} ({exc2})"
                ) from None
            self.method = "nvml_power"

    def _read_info(self) -> dict[str, Any]:
        nv, h, out = self.nv, self.handle, {}
        for key, fn, scale in (
            ("name", "nvmlDeviceGetName", None),
            ("power_limit_w", "nvmlDeviceGetEnforcedPowerLimit", 1000.0),
            ("memory_total_mb", "nvmlDeviceGetMemoryInfo", None),
        ):
            try:
                v = getattr(nv, fn)(h)
            except Exception:  # optional figures: absent on some boards
                continue
            if key == "name":
                out[key] = _text(v)
            elif key == "memory_total_mb":
                out[key] = v.total / 2**20
            else:
                out[key] = v / scale
        return out

    def read(self) -> Reading:
        nv, h = self.nv, self.handle
        now = self.clock()
        dt = now - self._t_last
        if self.method == "nvml_energy":
            mj = int(nv.nvmlDeviceGetTotalEnergyConsumption(h))
            step = (mj - self._mj_last) / 1000.0
            if step < 0:  # a driver reset restarts the counter: count from zero again
                step = mj / 1000.0
            self._mj_last = mj
            power = step / dt if dt > 0 else None
        else:
            p = nv.nvmlDeviceGetPowerUsage(h) / 1000.0
            step = 0.5 * (p + self._p_last) * dt if dt > 0 else 0.0
            self._p_last = power = p
        self._energy += step
        self._t_last = now
        return Reading(self._energy, power, self._extra(), now)

    def _extra(self) -> dict[str, float]:
        out: dict[str, float] = {}
        try:
            out["gpu_util"] = float(self.nv.nvmlDeviceGetUtilizationRates(self.handle).gpu)
            out["gpu_mem_used_mb"] = self.nv.nvmlDeviceGetMemoryInfo(self.handle).used / 2**20
        except Exception:  # side figures never fail the energy reading
            pass
        return out

    def close(self) -> None:
        if self.nv is not None:
            with contextlib.suppress(Exception):
                self.nv.nvmlShutdown()
            self.nv = None

    def info(self) -> dict[str, Any]:
        out = {"device": self.device, **self._info}
        if self.fallback_reason:
            out["note"] = self.fallback_reason
        return out


def gpu_count() -> int:
    """GPUs NVML sees (0 where NVML is absent), for `pepr meter` and device auto-detection."""
    try:
        nv = _pynvml()
        nv.nvmlInit()
    except Exception:
        return 0
    try:
        return int(nv.nvmlDeviceGetCount())
    except Exception:
        return 0
    finally:
        with contextlib.suppress(Exception):
            nv.nvmlShutdown()

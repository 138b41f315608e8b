"""A labelled estimate of memory (DRAM) power where RAPL has no dram domain.

The default is CodeCarbon 3.x's model (3.3.2, `codecarbon/external/ram.py`, machine mode): DRAM
draws a constant power per memory module, 5 W on x86 (1.5 W on ARM, at least 3 W), with slightly
less per module in large servers; the module count is guessed from the total memory (16 GB: 2
modules, 32 GB: 4, 64 GB: 4, 128 GB: 8...). CodeCarbon 2.x's figure, 3 W per 8 GB in use, remains
available with `watts_per_gb=`. Either way it is an assumption, so the method says "estimate".
"""

from __future__ import annotations

import math
import platform
from collections.abc import Callable
from typing import Any

import psutil

from pepr_desktop.core.metering.base import PowerMeter

WATTS_PER_MODULE_X86 = 5.0
WATTS_PER_MODULE_ARM = 1.5
MIN_WATTS_ARM = 3.0
WATTS_PER_GB = 3.0 / 8.0  # CodeCarbon 2.x: 3 W per 8 GB of DDR3/DDR4 in use
MODULE_SIZES_GB = (4, 8, 16, 32, 64, 128)


def system_used_gb() -> float:
    vm = psutil.virtual_memory()
    return (vm.total - vm.available) / 2**30


def system_total_gb() -> float:
    return psutil.virtual_memory().total / 2**30


def is_arm(machine: str | None = None) -> bool:
    machine = (platform.machine() if machine is None else machine).lower()
    return "arm" in machine or "aarch" in machine


def module_count(total_gb: float) -> int:
    """CodeCarbon's guess of the number of memory modules (DIMMs) from the total memory."""
    if total_gb <= 2:
        return 1
    if total_gb <= 16:
        return 2
    if total_gb <= 64:
        return 4
    if total_gb <= 128:
        return 8
    for size in sorted(MODULE_SIZES_GB, reverse=True):  # servers: at least 8 modules, at most 32
        if size <= total_gb / 8:
            return min(math.ceil(total_gb / size), 32)
    return 8


def dram_power_w(total_gb: float, arm: bool = False) -> float:
    """CodeCarbon 3.x's DRAM power: per module, with less per module beyond 4, 8 and 16."""
    n = module_count(total_gb)
    per = WATTS_PER_MODULE_ARM if arm else WATTS_PER_MODULE_X86
    # (modules in the tier, share of full power) for tiers 1-4, 5-8, 9-16, 17+
    tiers = ((4, 1.0), (4, 0.9), (8, 0.8), (math.inf, 0.7))
    watts, left = 0.0, n
    for size, share in tiers:
        take = min(left, size)
        watts += per * share * take
        left -= take
    floor = MIN_WATTS_ARM if arm else 2 * WATTS_PER_MODULE_X86
    return max(floor, watts)


class DramEstimateMeter(PowerMeter):
    component = "dram"
    method = "dram_estimate"
    estimate = True

    def __init__(
        self,
        watts_per_gb: float | None = None,
        *,
        used_gb_fn: Callable[[], float] = system_used_gb,
        total_gb_fn: Callable[[], float] = system_total_gb,
        arm: bool | None = None,
        **kw: Any,
    ) -> None:
        """Without `watts_per_gb`: CodeCarbon 3.x's per-module model over the total memory;
        with it: that many watts per GB in use (CodeCarbon 2.x's model is `WATTS_PER_GB`)."""
        super().__init__(**kw)
        self.watts_per_gb = watts_per_gb
        self.used_gb_fn = used_gb_fn
        self.total_gb = float(total_gb_fn())
        self.arm = is_arm() if arm is None else arm
        self.used_gb = 0.0

    def _power_w(self) -> float:
        self.used_gb = float(self.used_gb_fn())
        if self.watts_per_gb is not None:
            return self.watts_per_gb * self.used_gb
        return dram_power_w(self.total_gb, self.arm)

    def _extra(self) -> dict[str, float]:
        return {"mem_used_gb": self.used_gb}

    def info(self) -> dict[str, Any]:
        if self.watts_per_gb is not None:
            return {"watts_per_gb": self.watts_per_gb, "model": "W/GB x memory in use"}
        return {
            "watts": dram_power_w(self.total_gb, self.arm),
            "modules": module_count(self.total_gb),
            "total_gb": round(self.total_gb, 1),
            "model": "CodeCarbon 3.x: "
            + (f"{WATTS_PER_MODULE_ARM:g} W" if self.arm else f"{WATTS_PER_MODULE_X86:g} W")
            + " per memory module, modules guessed from total memory",
        }

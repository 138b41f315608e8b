"""A labelled estimate of memory (DRAM) power where RAPL has no dram domain.

power = `watts_per_gb` x GB of memory in use. The default, 3 W per 8 GB (0.375 W/GB), is the
figure CodeCarbon uses for DDR4 modules; it is an assumption, so the method says "estimate".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psutil

from pepr_desktop.core.metering.base import PowerMeter

WATTS_PER_GB = 3.0 / 8.0


def system_used_gb() -> float:
    vm = psutil.virtual_memory()
    return (vm.total - vm.available) / 2**30


class DramEstimateMeter(PowerMeter):
    component = "dram"
    method = "dram_estimate"
    estimate = True

    def __init__(
        self,
        watts_per_gb: float = WATTS_PER_GB,
        *,
        used_gb_fn: Callable[[], float] = system_used_gb,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.watts_per_gb = watts_per_gb
        self.used_gb_fn = used_gb_fn
        self.used_gb = 0.0

    def _power_w(self) -> float:
        self.used_gb = float(self.used_gb_fn())
        return self.watts_per_gb * self.used_gb

    def _extra(self) -> dict[str, float]:
        return {"mem_used_gb": self.used_gb}

    def info(self) -> dict[str, Any]:
        return {"watts_per_gb": self.watts_per_gb, "model": "W/GB x memory in use"}

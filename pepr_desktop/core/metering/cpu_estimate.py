"""A labelled estimate of CPU power where RAPL cannot be read: TDP x CPU utilisation.

The model is deliberately simple and said out loud: power = `tdp_w` x the fraction of CPU time
that was busy over the interval (system-wide by default, like RAPL's package counter; or this
process only). The TDP is a setting; its default is this CPU's TDP in CodeCarbon's CPU table, else
about 7 W per physical core (cpu_tdp.py), and `info()["tdp_source"]` says which.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psutil

from pepr_desktop.core.metering.base import CounterMeter
from pepr_desktop.core.metering.cpu_tdp import (
    MIN_TDP_W,
    WATTS_PER_CORE,
    core_count_tdp_w,
    this_cpu,
)

__all__ = ["MIN_TDP_W", "WATTS_PER_CORE", "CpuEstimateMeter", "default_tdp_w", "system_busy_s"]


def default_tdp_w(physical_cores: int | None = None) -> float:
    """The TDP the estimate uses when the user set none: this CPU's in the table, else the
    core-count rule; with `physical_cores` given, the rule for that many cores."""
    if physical_cores is not None:
        return core_count_tdp_w(physical_cores)
    return this_cpu().watts


def system_busy_s() -> tuple[float, float]:
    """(busy CPU seconds summed over all CPUs, wall capacity in CPU seconds) since boot."""
    t = psutil.cpu_times()
    total = sum(t)
    idle = t.idle + getattr(t, "iowait", 0.0)
    # guest time is already counted in user time on Linux
    total -= getattr(t, "guest", 0.0) + getattr(t, "guest_nice", 0.0)
    return total - idle, total


class CpuEstimateMeter(CounterMeter):
    """Energy = TDP x busy fraction x time, accumulated as a counter (no sampling bias)."""

    component = "cpu"
    method = "cpu_estimate"
    estimate = True

    def __init__(
        self,
        tdp_w: float | None = None,
        *,
        scope: str = "system",
        busy_fn: Callable[[], tuple[float, float]] | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        if tdp_w is None:
            found = this_cpu()
            self.tdp_w, self.tdp_source = found.watts, found.source
        else:
            self.tdp_w, self.tdp_source = float(tdp_w), "your setting"
        if not self.tdp_w > 0:
            raise ValueError(f"CPU power must be positive, not {tdp_w!r}")
        self.scope = scope
        self.busy_fn = busy_fn or (system_busy_s if scope == "system" else _process_busy_fn())
        self._busy = self._cap = 0.0
        self._energy_est = 0.0
        self._t_busy = 0.0
        self.utilisation = 0.0

    def open(self) -> None:
        self._busy, self._cap = self.busy_fn()
        self._t_busy = self.clock()
        self._energy_est = 0.0
        super().open()

    def _counter_j(self, now: float) -> float:
        busy, cap = self.busy_fn()
        d_busy, d_cap, dt = busy - self._busy, cap - self._cap, now - self._t_busy
        self._busy, self._cap, self._t_busy = busy, cap, now
        if d_cap > 0 and dt > 0:
            self.utilisation = min(1.0, max(0.0, d_busy / d_cap))
            self._energy_est += self.tdp_w * self.utilisation * dt
        return self._energy_est

    def _extra(self) -> dict[str, float]:
        return {"cpu_util": self.utilisation}

    def info(self) -> dict[str, Any]:
        return {
            "tdp_w": self.tdp_w,
            "tdp_source": self.tdp_source,
            "scope": self.scope,
            "model": "TDP x CPU utilisation",
        }


def _process_busy_fn() -> Callable[[], tuple[float, float]]:
    """This process's CPU seconds against the machine's capacity (wall x logical CPUs)."""
    import time

    proc = psutil.Process()
    ncpu = psutil.cpu_count(logical=True) or 1

    def busy() -> tuple[float, float]:
        t = proc.cpu_times()
        return t.user + t.system, time.monotonic() * ncpu

    return busy

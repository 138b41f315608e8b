"""The one interface every meter implements, and the two ways a meter turns readings into energy.

A meter measures one component ("cpu", "dram", "gpu") by one method ("rapl", "nvml_energy", ...).
Its `read()` returns the energy used since `open()` (joules) and the power over the last interval,
so the sampler treats counters and polled power the same way. A meter that cannot work raises
`MeterUnavailable` with a one-line reason a user can act on; it never reports 0 instead.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class MeterUnavailable(Exception):
    """This meter cannot measure here; the message says why and how to allow it."""


@dataclass(frozen=True)
class Reading:
    """Cumulative energy since `open()` and the mean power since the previous reading."""

    energy_j: float
    power_w: float | None
    extra: dict[str, float] = field(default_factory=dict)
    t: float = 0.0  # the meter's clock at the reading


class Meter(ABC):
    """One component measured one way."""

    component: str = ""
    method: str = ""
    estimate: bool = False  # True: the figure is a model, not a measurement (labelled in the UI)

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock

    @abstractmethod
    def open(self) -> None:
        """Check the meter works and take the first reading; raise MeterUnavailable if not."""

    @abstractmethod
    def read(self) -> Reading:
        """Energy since open and recent power. Any exception marks the meter failed."""

    def close(self) -> None:  # noqa: B027 - most meters hold nothing
        """Release what open() took."""

    def info(self) -> dict[str, Any]:
        """What the UI shows about this meter (name of the device, limits, assumptions)."""
        return {}

    @property
    def label(self) -> str:
        return f"{self.component} ({self.method})"


class CounterMeter(Meter):
    """A meter over a hardware or derived energy counter: energy is the sum of counter steps."""

    def open(self) -> None:
        self._t_last = self.clock()
        self._last = self._counter_j(self._t_last)
        self._energy = 0.0

    @abstractmethod
    def _counter_j(self, now: float) -> float:
        """The raw counter in joules (`now` is the reading's time, for derived counters)."""

    def _step(self, previous: float, current: float) -> float:
        """Energy between two counter values; subclasses handle wraparound."""
        return current - previous

    def read(self) -> Reading:
        now = self.clock()
        value = self._counter_j(now)
        step = self._step(self._last, value)
        dt = now - self._t_last
        self._energy += step
        self._last, self._t_last = value, now
        return Reading(self._energy, step / dt if dt > 0 else None, self._extra(), now)

    def _extra(self) -> dict[str, float]:
        return {}


class PowerMeter(Meter):
    """A meter over polled power: energy is integrated with the trapezoid rule between polls."""

    def open(self) -> None:
        self._p_last = self._power_w()
        self._t_last = self.clock()
        self._energy = 0.0

    @abstractmethod
    def _power_w(self) -> float:
        """Power now, in watts."""

    def read(self) -> Reading:
        now, p = self.clock(), self._power_w()
        dt = now - self._t_last
        if dt > 0:
            self._energy += 0.5 * (p + self._p_last) * dt
        self._p_last, self._t_last = p, now
        return Reading(self._energy, p, self._extra(), now)

    def _extra(self) -> dict[str, float]:
        return {}

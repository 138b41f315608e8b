"""The contract between the trainer and the meters.

The trainer only needs a `MeterSession`: start it, close a window at the end of each epoch, drain
the samples the sampler thread collected (so that they flow through the same event stream as
everything else), and stop it. `UnavailableMeter` is the honest fallback: it reports energy as
unavailable (None, with a reason), never 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from pepr_desktop.core.events import MeterSample


@dataclass(frozen=True)
class EnergyWindow:
    """Energy over one window (an epoch, or the whole run). None means unavailable, never 0."""

    energy_j: float | None
    energy_net_j: float | None
    method: str
    note: str = ""
    # per component energy, baseline, peaks (see sampler.py); for the store's epoch `extra`
    detail: dict[str, Any] = field(default_factory=dict)


class MeterSession(Protocol):
    def start(self, run_id: int) -> None: ...

    def close_window(self) -> EnergyWindow: ...

    def pause(self) -> None: ...  # the run waits: leave what follows out of its energy

    def resume(self) -> None: ...

    def drain_samples(self) -> list[MeterSample]: ...

    def stop(self) -> EnergyWindow: ...


class UnavailableMeter:
    """Measures nothing and says so."""

    def __init__(self, reason: str = "no meter configured") -> None:
        self.reason = reason

    def start(self, run_id: int) -> None:
        pass

    def close_window(self) -> EnergyWindow:
        return EnergyWindow(None, None, "unavailable", self.reason)

    def pause(self) -> None:
        pass

    def resume(self) -> None:
        pass

    def drain_samples(self) -> list[MeterSample]:
        return []

    def stop(self) -> EnergyWindow:
        return EnergyWindow(None, None, "unavailable", self.reason)

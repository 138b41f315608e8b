"""The budget guard of `pepr auto`: what the whole search has spent, what is left, and whether the
next trial fits.

One guard per search, over every dimension the user limited:

- **time**: wall-clock seconds since the search started (planning, probes, model builds, trials,
  evaluations), minus the seconds it was paused;
- **energy**: the joules the runs' meters measured per finished epoch, plus the seconds outside
  measured epochs (planning, builds, the epoch in progress) at the power figure of the machine
  (the runs' own measured watts once there are any, else the recommender's estimate);
- **memory**: not cumulative; a trial whose predicted peak is over it is never started, and each
  run carries the limit to the trainer.

With several trials in flight on one device, each epoch's meter measured the whole device, so an
epoch shared by N trials counts 1/N of its joules and seconds (N overlapping epochs add up to the
device's energy over that time, not N times it); the wall clock is shared as it is. `in_flight`
says how many trials run now (shown with the spent figures).

The search runs in phases that may each use a share of the budget (the trials, then the final
runs); `seconds_left(share)` converts whichever limit binds first into seconds at the current
rate, so one deadline serves both time and energy. The clock is injectable (tests use a fake).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pepr_desktop.core.budget import Budget

TOLERANCE = 0.03  # the search may end at most this share over its budget (a run's last batch)


@dataclass(frozen=True)
class Cost:
    """An estimated (or measured) cost of one run."""

    seconds: float
    memory_mb: float | None = None


class BudgetGuard:
    """Spent vs budget for one search. `clock()` returns seconds (monotonic)."""

    def __init__(
        self,
        budget: Budget,
        *,
        power_w: float | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.budget = budget
        self.power_w = power_w
        self.clock = clock
        self.t0 = clock()
        self.paused_s = 0.0
        self.run_seconds = 0.0  # seconds inside measured epochs
        self.run_energy_j = 0.0  # joules measured in those epochs
        self.peak_mem_mb: float | None = None
        self.in_flight = 0  # trials running now (the search's concurrent phase)

    # ------------------------------------------------------------------ what was spent

    def elapsed_s(self) -> float:
        return max(0.0, self.clock() - self.t0 - self.paused_s)

    def add_epoch(
        self,
        seconds: float,
        energy_j: float | None,
        peak_mb: float | None,
        *,
        shared_by: int = 1,
    ) -> None:
        """One finished epoch of any run of the search, as its meter measured it; `shared_by`
        trials ran at once on the device that meter measured."""
        share = 1.0 / max(shared_by, 1)
        if energy_j is not None:
            self.run_seconds += max(seconds, 0.0) * share
            self.run_energy_j += energy_j * share
        if peak_mb is not None:
            self.peak_mem_mb = max(self.peak_mem_mb or 0.0, peak_mb)

    def watts(self) -> float | None:
        """Joules per second of this search: measured by the runs' meters, else the estimate."""
        if self.run_seconds > 5.0 and self.run_energy_j > 0:
            return self.run_energy_j / self.run_seconds
        return self.power_w

    def spent_energy_j(self) -> float | None:
        """Measured epochs + the rest of the wall time at `watts()` (None: no power figure)."""
        w = self.watts()
        if w is None:
            return self.run_energy_j if self.run_seconds else None
        return self.run_energy_j + max(0.0, self.elapsed_s() - self.run_seconds) * w

    # ------------------------------------------------------------------ what is left

    def limits(self) -> dict[str, float]:
        out = {}
        if self.budget.time_min is not None:
            out["time_s"] = self.budget.time_min * 60
        if self.budget.energy_wh is not None:
            out["energy_j"] = self.budget.energy_wh * 3600
        return out

    def fraction_spent(self) -> float:
        """The largest share of any cumulative limit spent so far (0 without limits)."""
        shares = [0.0]
        lim = self.limits()
        if "time_s" in lim:
            shares.append(self.elapsed_s() / lim["time_s"])
        if "energy_j" in lim:
            shares.append((self.spent_energy_j() or 0.0) / lim["energy_j"])
        return max(shares)

    def seconds_left(self, share: float = 1.0) -> float:
        """Seconds until the first limit, scaled by `share`, is reached at the current rate
        (inf without limits; may be negative when over)."""
        lim = self.limits()
        left = math.inf
        if "time_s" in lim:
            left = min(left, lim["time_s"] * share - self.elapsed_s())
        if "energy_j" in lim:
            w = self.watts()
            if w:
                left = min(left, (lim["energy_j"] * share - (self.spent_energy_j() or 0.0)) / w)
        return left

    def why_not(self, cost: Cost, share: float = 1.0) -> str:
        """Why a run of `cost` would not fit in `share` of the budget ('' when it fits)."""
        if (
            self.budget.memory_mb is not None
            and cost.memory_mb is not None
            and cost.memory_mb > self.budget.memory_mb
        ):
            return f"needs ~{cost.memory_mb:.0f} MB, over the {self.budget.memory_mb:g} MB budget"
        left = self.seconds_left(share)
        if cost.seconds > left:
            return f"needs ~{cost.seconds:.0f} s of budget, {max(left, 0):.0f} s left"
        return ""

    def over(self) -> bool:
        """Past the budget plus its tolerance (the search must stop at once)."""
        return self.fraction_spent() > 1.0 + TOLERANCE

    def to_dict(self) -> dict[str, Any]:
        energy = self.spent_energy_j()
        return {
            "budget": self.budget.describe(),
            "time_min": self.budget.time_min,
            "energy_wh": self.budget.energy_wh,
            "memory_mb": self.budget.memory_mb,
            "spent_s": self.elapsed_s(),
            "spent_energy_wh": None if energy is None else energy / 3600,
            "measured_energy_wh": self.run_energy_j / 3600 if self.run_seconds else None,
            "peak_mem_mb": self.peak_mem_mb,
            "fraction_spent": self.fraction_spent(),
            "within_budget": self.fraction_spent() <= 1.0 + TOLERANCE,
            "in_flight": self.in_flight,
        }

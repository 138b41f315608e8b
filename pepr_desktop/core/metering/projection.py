"""Projection of a run's total time and energy from the epochs done so far.

Epochs of one run cost about the same, so the mean epoch so far times the epochs planned is the
simplest honest forecast; it is offered only after the first epoch and is refreshed each epoch.
The first epoch often carries warm-up (cuDNN autotuning, caches), so from epoch 2 on the mean of
the later epochs is used when there are at least two of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Projection:
    epochs_done: int
    epochs_planned: int
    time_s: float  # projected total wall time of the run
    energy_j: float | None  # projected total energy; None when any epoch's energy is unavailable
    remaining_time_s: float
    remaining_energy_j: float | None


def _per_epoch(values: Sequence[float]) -> float:
    later = values[1:] if len(values) >= 3 else values
    return sum(later) / len(later)


def project(
    epoch_seconds: Sequence[float],
    epoch_energy_j: Sequence[float | None],
    epochs_planned: int,
) -> Projection | None:
    """Projected totals from the per-epoch figures so far; None before the first epoch ends."""
    done = len(epoch_seconds)
    if done == 0 or epochs_planned <= 0:
        return None
    left = max(0, epochs_planned - done)
    t_left = _per_epoch(epoch_seconds) * left
    energies = list(epoch_energy_j)
    if len(energies) == done and all(e is not None for e in energies):
        e_list = [float(e) for e in energies if e is not None]
        e_left: float | None = _per_epoch(e_list) * left
        e_total: float | None = sum(e_list) + e_left
    else:
        e_left = e_total = None
    return Projection(done, epochs_planned, sum(epoch_seconds) + t_left, e_total, t_left, e_left)


def fraction_done(epoch: int, batch: int, batches: int, start_epoch: int, epochs: int) -> float:
    """Share of this session's training done after `batch` of `batches` in `epoch` (0-based),
    for a run that trains epochs `start_epoch`..`epochs`-1 (a resumed run starts later)."""
    total = epochs - start_epoch
    done = epoch - start_epoch + batch / max(batches, 1)
    return max(0.0, min(1.0, done / max(total, 1)))


def extrapolate(elapsed: float, fraction: float) -> float | None:
    """A total from what was spent on `fraction` of the work (straight line: within a run,
    batches cost about the same); None before any work is done."""
    return elapsed / fraction if fraction > 0 else None

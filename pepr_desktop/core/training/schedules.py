"""Learning-rate schedules: constant (the paper), cosine annealing, one-cycle.

They are `torch.optim.lr_scheduler.LambdaLR` over closed-form factors of the step count, so the
learning rate at any step is a pure function of (schedule, step): a resumed run seeks to its step
and continues exactly as an uninterrupted one, without pickling scheduler objects into the
checkpoint. Stepping is per batch (smooth, the usual choice for one-cycle) or per epoch.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

SCHEDULE_CHOICES = ("constant", "cosine", "onecycle")
ONECYCLE_WARMUP = 0.3  # share of the steps spent rising (torch's OneCycleLR default)
ONECYCLE_DIV = 25.0  # start at lr / 25 (OneCycleLR's div_factor)
ONECYCLE_FINAL_DIV = 1e4  # end at lr / 25 / 1e4 (OneCycleLR's final_div_factor)
COSINE_FLOOR = 0.01  # cosine ends at 1% of lr rather than 0, so the last steps still learn


def factor_fn(name: str, total_steps: int) -> Callable[[int], float]:
    """lr / base lr at step t (0-based) for a run of `total_steps` steps."""
    total = max(int(total_steps), 1)
    if name == "constant":
        return lambda t: 1.0
    if name == "cosine":

        def cosine(t: int) -> float:
            frac = min(t, total) / total
            return COSINE_FLOOR + (1 - COSINE_FLOOR) * 0.5 * (1 + math.cos(math.pi * frac))

        return cosine
    if name == "onecycle":
        up = max(int(ONECYCLE_WARMUP * total), 1)
        start, end = 1 / ONECYCLE_DIV, 1 / (ONECYCLE_DIV * ONECYCLE_FINAL_DIV)

        def anneal(a: float, b: float, frac: float) -> float:
            return b + (a - b) * 0.5 * (1 + math.cos(math.pi * frac))

        def onecycle(t: int) -> float:
            if t < up:
                return anneal(start, 1.0, t / up)
            return anneal(1.0, end, min((t - up) / max(total - up, 1), 1.0))

        return onecycle
    raise ValueError(f"unknown schedule {name!r}; choose {', '.join(SCHEDULE_CHOICES)}")


class Schedule:
    """A per-batch or per-epoch LR schedule on an optimiser; `seek` is for resume."""

    def __init__(
        self,
        name: str,
        optimizer: Any,
        *,
        base_lr: float,
        epochs: int,
        steps_per_epoch: int,
        per: str = "batch",
    ) -> None:
        from torch.optim.lr_scheduler import LambdaLR

        if per not in ("batch", "epoch"):
            raise ValueError("per must be 'batch' or 'epoch'")
        self.name, self.per = name, per
        self.steps_per_epoch = max(int(steps_per_epoch), 1)
        total = epochs * self.steps_per_epoch if per == "batch" else epochs
        for group in optimizer.param_groups:  # the base is the configured lr, also on resume
            group["lr"] = base_lr
            group["initial_lr"] = base_lr
        self.scheduler = LambdaLR(optimizer, factor_fn(name, total), last_epoch=-1)

    def seek(self, epoch: int) -> None:
        """Set the learning rate for the start of `epoch` (0 for a new run)."""
        step = epoch * self.steps_per_epoch if self.per == "batch" else epoch
        self.scheduler.last_epoch = step - 1
        with warnings.catch_warnings():  # "step before optimizer.step": intended, it only seeks
            warnings.simplefilter("ignore", UserWarning)
            self.scheduler.step()

    def after_batch(self) -> None:
        if self.per == "batch":
            self.scheduler.step()

    def after_epoch(self) -> None:
        if self.per == "epoch":
            self.scheduler.step()

    @property
    def lr(self) -> float:
        return float(self.scheduler.get_last_lr()[0])


def build_schedule(
    name: str, optimizer: Any, *, base_lr: float, epochs: int, steps_per_epoch: int
) -> Schedule | None:
    """None for the paper's constant rate (the optimiser is left untouched)."""
    if name == "constant":
        return None
    return Schedule(
        name, optimizer, base_lr=base_lr, epochs=epochs, steps_per_epoch=steps_per_epoch
    )

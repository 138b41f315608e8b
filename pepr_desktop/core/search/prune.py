"""Which catalogue models are worth probing: pruned by the catalogue's prior without building
anything, then, while probing, bounded from below by the fastest training measured so far.

1. The prior gives parameters at the dataset's classes and FLOPs at its size: models over
   `max_params`, models whose weights, gradients and Adam state alone (16 bytes/parameter) exceed
   the memory budget, models that run at no size, and models that need more than `MAX_UPSCALE`x
   the images' side are dropped; the rest are probed in ascending FLOPs.
2. `SpeedBound`: tiny models are overhead-bound, so only the FLOP/s of models of comparable
   compute bound a model's time; one that could not fit the time cap even at
   `SAFETY_THROUGHPUT`x that speed is not probed.
"""

from __future__ import annotations

import math

from pepr_desktop.core.budget import Budget
from pepr_desktop.core.models import catalog
from pepr_desktop.core.search.plan import RunPlan

OPTIMIZER_BYTES_PER_PARAM = 16  # fp32 weights + gradients + Adam's two moments
SAFETY_THROUGHPUT = 2.0  # a model may train this much faster than the best FLOP/s seen so far
MAX_UPSCALE = 4  # models needing a larger input than this x the image size are not offered
COMPARABLE_SCALE = 0.25  # FLOP/s seen on models >= this share of a model's FLOPs bound its time

Skipped = list[dict[str, str]]


def fmt_time(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min"


def _why_not(e: catalog.Entry, plan: RunPlan, budget: Budget, fixed_size: bool) -> str | None:
    approx = e.approx_params(plan.n_classes)
    state_mb = approx * OPTIMIZER_BYTES_PER_PARAM / 2**20
    if budget.max_params is not None and approx * 0.9 > budget.max_params:
        return f"~{approx / 1e6:.1f}M params > max params"
    if budget.memory_mb is not None and state_mb > budget.memory_mb:
        return f"weights, gradients and Adam state alone need {state_mb:.0f} MB"
    if not e.min_size:
        return "does not run at any input size tried"
    in_size = plan.size if fixed_size or e.min_size <= plan.size else e.min_size
    if in_size > MAX_UPSCALE * plan.size:
        return f"needs >= {in_size} px input: more than {MAX_UPSCALE}x the images' {plan.size} px"
    return None


def prune(
    pool: list[str], plan: RunPlan, budget: Budget, fixed_size: bool
) -> tuple[list[tuple[str, int]], Skipped]:
    """(model, input size) to probe in ascending prior FLOPs, and what was dropped with why.
    `fixed_size`: the user chose the input size, so no model is upscaled to its minimum."""
    skipped: Skipped = []
    todo: list[tuple[float, str, int]] = []
    for name in pool:
        e = catalog.entry(name)
        if e is None:  # not in the catalogue: probed last, its facts measured
            todo.append((math.inf, name, plan.size))
            continue
        why = _why_not(e, plan, budget, fixed_size)
        if why:
            skipped.append({"model": name, "why": why})
            continue
        in_size = plan.size if fixed_size or e.min_size <= plan.size else e.min_size
        todo.append((e.approx_flops(in_size) or math.inf, name, in_size))
    todo.sort()
    return [(name, size) for _, name, size in todo], skipped


def time_cap_s(budget: Budget, power_w: float | None) -> float | None:
    """The longest a run may train: the time budget, or the energy budget at `power_w`."""
    cap = None if budget.time_min is None else budget.time_min * 60
    if budget.energy_wh is not None and power_w:
        energy_cap = budget.energy_wh * 3600 / power_w
        cap = energy_cap if cap is None else min(cap, energy_cap)
    return cap


class SpeedBound:
    """The best training FLOP/s measured so far, per model size, as a lower bound on time."""

    def __init__(self, cap_s: float | None) -> None:
        self.cap_s = cap_s
        self.seen: list[tuple[float, float]] = []  # (training FLOPs per step, FLOP/s)

    def hopeless(self, step_flops: float, steps: int) -> str | None:
        """Why a model with `step_flops` per step cannot fit `steps` steps into the cap, or None."""
        comparable = [v for fl, v in self.seen if fl >= COMPARABLE_SCALE * step_flops]
        if self.cap_s is None or not comparable or not step_flops:
            return None
        lower = steps * step_flops / (max(comparable) * SAFETY_THROUGHPUT)
        if lower <= self.cap_s:
            return None
        return (
            f"would need >= {fmt_time(lower)} even at the best training speed measured here; "
            "not probed"
        )

    def add(self, step_flops: float, step_s: float) -> None:
        if step_flops and step_s > 0:
            self.seen.append((step_flops, step_flops / step_s))

"""Which arms (model x input size) a search may draw from: the recommender's cost probe over a
pool of models, at the images' own size and, for small images, upscaled.

A model is an arm when a final run of `MIN_FINAL_EPOCHS` on the full training set fits the final
phase's share of the budget (time and, through the power figure, energy) and its predicted peak
memory fits the memory budget. The pool defaults to a few standard architectures of different
families (probing all ~170 catalogue models would take minutes on a laptop CPU); `models=` gives
another pool, or the catalogue's order of cheapest first with `models=["catalogue"]`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from pepr_desktop.core.budget import Budget
from pepr_desktop.core.search.auto.space import Arm, upscaled_sizes

log = logging.getLogger(__name__)

# standard CNNs of different families and costs that train well from scratch on small images
DEFAULT_POOL_CPU = ("resnet18", "resnet10t", "regnetx_002", "mobilenetv3_large_100")
DEFAULT_POOL_GPU = (*DEFAULT_POOL_CPU, "resnet34", "efficientnet_b0", "convnext_atto")
MIN_FINAL_EPOCHS = 3
PROBE_SHARE = 0.08  # of the budget, at most, for probing
PROBE_MAX_S = 40.0
PROBE_MIN_S = 4.0


def default_pool(device: str) -> tuple[str, ...]:
    return DEFAULT_POOL_GPU if device.startswith("cuda") else DEFAULT_POOL_CPU


def _no_prior(source: str) -> bool:
    return source == "unknown" or "chance level" in source or "no prior" in source


def arms_from(rec: Any, *, upscaled: bool) -> list[Arm]:
    """The fitting candidates of one recommendation as arms (best expected PePR first)."""
    out = []
    for c in rec.candidates:
        if not c.fits:
            continue
        out.append(
            Arm(
                model=c.model,
                image_size=int(c.image_size),
                pretrained=bool(c.pretrained),
                step_s=float(c.step_s),
                eval_s_per_image=float(c.eval_s_per_image),
                memory_mb=float(c.predicted_memory_mb),
                upscaled=upscaled,
                prior_acc=(
                    None
                    if c.expected_acc is None or _no_prior(c.acc_source)
                    else float(c.expected_acc)
                ),
                prior_source=c.acc_source,
            )
        )
    return out


def plan_arms(
    info: Any,
    store: Any,
    base: Any,
    *,
    final_seconds: float,
    memory_mb: float | None,
    models: Sequence[str] | None,
    by: str,
    upscale: bool,
    probe_seconds: float,
    recommend_fn: Callable[..., Any] | None = None,
    power_w: float | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[list[Arm], list[dict[str, str]]]:
    """(arms, models left out with why). `base` is the TrainConfig of a final run (device,
    batch size); `final_seconds` the budget seconds its final phase may use."""
    if recommend_fn is None:
        from pepr_desktop.core.search.recommend import recommend as recommend_fn
    names = None if models and list(models) == ["catalogue"] else list(models or [])
    if names is not None and not names:
        from pepr_desktop.core.devices import resolve_device

        names = list(default_pool(resolve_device(base.device)))
    budget = Budget(time_min=max(final_seconds, 1.0) / 60, memory_mb=memory_mb)
    cfg = replace(base, epochs=MIN_FINAL_EPOCHS, image_size=None)
    sizes: list[int | None] = [None, *(upscaled_sizes(info.image_size) if upscale else [])]
    arms: list[Arm] = []
    skipped: list[dict[str, str]] = []
    for i, size in enumerate(sizes):
        rec = recommend_fn(
            info,
            store,
            budget,
            replace(cfg, image_size=size),
            by=by,
            top=max(len(names or []), 10),
            names=names,
            time_limit_s=max(PROBE_MIN_S / 2, probe_seconds / (len(sizes) - i)),
            power_w=power_w,
            should_stop=should_stop,
        )
        probe_seconds -= rec.seconds
        seen = {a.key for a in arms}
        arms += [a for a in arms_from(rec, upscaled=size is not None) if a.key not in seen]
        for c in rec.candidates:
            if not c.fits:
                skipped.append({"model": f"{c.model}@{c.image_size}", "why": c.why})
        skipped += [
            {"model": s["model"] + (f"@{size}" if size else ""), "why": s["why"]}
            for s in rec.skipped
        ]
        if should_stop is not None and should_stop():
            break
    # best prior first (the recommender's expected accuracy: the user's runs, else the paper's
    # table), native size before upscaled; without a prior the recommender's own order stays
    order = {a.key: i for i, a in enumerate(arms)}
    arms.sort(
        key=lambda a: (
            -(a.prior_acc if a.prior_acc is not None else -1.0),
            a.upscaled,
            order[a.key],
        )
    )
    return arms, skipped

"""The search space of `pepr auto`: arms (a model at an input size, costed by the probe) and
recipes (imbalance handling, augmentation, schedule, learning rate, label smoothing), as Optuna
distributions, and the points tried first.

The points tried first are the recipes that worked on this kind of data before (the recipe search
of core/search/tune.py: class weights + light augmentation + cosine; balanced sampling + one-cycle
+ label smoothing), then the paper's protocol as the reference; the sampler (TPE) explores from
there.

Augmentation is not searched: every searched recipe trains with light augmentation, and only the
paper's protocol trains without. That one is the search's reference: enqueued once with
`protocol="paper"` (a parameter only that trial has, so the sampler never draws it again).
Validation comes from the training data's own distribution, so it cannot see what augmentation
buys on data that differs from it, and on the shared PneumoniaMNIST it did not: over twelve
searches (10 min or 5.8 Wh; sessions 4-7, benchmarks/README.md) every winner with augmentation
tested at 0.89-0.92 and every one without at 0.80-0.86, at the same validation balanced accuracy
(0.92-0.96). The search still never reads a test split; this is a design decision taken from
those benchmarks, as timm and AutoKeras train with augmentation by default.

Small images get upscaled arms too: a standard CNN that downsamples 32x sees a 28 px image
as one pixel at its last stage, and doubling the side often buys accuracy that no recipe does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

UPSCALE_BELOW = 64  # images smaller than this also get an arm at twice their side...
UPSCALE_4X_UPTO = 16  # ...and these at four times: a standard CNN downsamples 32x, so at 8 or 16
# px even twice the side leaves it under a pixel of feature map
LR_RANGE = (2e-4, 3e-3)
IMBALANCE = ("none", "weights", "balanced")
REFERENCE = "paper"  # protocol of the reference trial: the paper's, whatever the others say
SEARCHED_AUGMENT = "light"
SCHEDULE = ("constant", "cosine", "onecycle")
SMOOTHING = (0.0, 0.1)

PAPER = {
    "imbalance": "none",
    "augment": "none",
    "schedule": "constant",
    "lr": 5e-4,
    "label_smoothing": 0.0,
}
# most promising first: the budget may end the search before the last one
SEED_RECIPES: tuple[dict[str, Any], ...] = (
    {"imbalance": "weights", "schedule": "cosine", "lr": 1e-3, "label_smoothing": 0.0},
    {"imbalance": "balanced", "schedule": "onecycle", "lr": 2e-3, "label_smoothing": 0.1},
    {"protocol": REFERENCE, **{k: v for k, v in PAPER.items() if k != "augment"}},
)  # fmt: skip


@dataclass(frozen=True)
class Arm:
    """One model at one input size, with the probe's costs on this machine."""

    model: str
    image_size: int
    pretrained: bool
    step_s: float  # one training step at the search's batch size
    eval_s_per_image: float
    memory_mb: float
    upscaled: bool = False
    prior_acc: float | None = None  # the recommender's expected accuracy: a weak prior
    prior_source: str = ""

    @property
    def key(self) -> str:
        return f"{self.model}@{self.image_size}"

    def epoch_s(self, train_images: int, eval_images: int, batch_size: int) -> float:
        """Predicted seconds of one epoch: the training steps and the evaluation."""
        batches = max(1, train_images // batch_size)
        return batches * self.step_s + eval_images * self.eval_s_per_image

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "key": self.key}


def upscaled_sizes(native: int) -> list[int]:
    """Input sizes beyond the images' own that the search also tries."""
    if native >= UPSCALE_BELOW:
        return []
    return [2 * native, 4 * native] if native <= UPSCALE_4X_UPTO else [2 * native]


def distributions(arms: Sequence[Arm]) -> dict[str, Any]:
    """The Optuna distributions of one study (fixed for its life)."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
    )

    return {
        "arm": CategoricalDistribution([a.key for a in arms]),
        "imbalance": CategoricalDistribution(list(IMBALANCE)),
        "schedule": CategoricalDistribution(list(SCHEDULE)),
        "lr": FloatDistribution(*LR_RANGE, log=True),
        "label_smoothing": CategoricalDistribution(list(SMOOTHING)),
    }


def is_reference(params: Mapping[str, Any] | None) -> bool:
    """A point of the paper's protocol: the search's reference, not a candidate."""
    return bool(params) and params.get("protocol") == REFERENCE


def for_next_trial(dists: dict[str, Any], fixed: Mapping[str, Any] | None) -> dict[str, Any]:
    """The distributions to ask with when the next trial is the enqueued point `fixed`: the
    reference trial alone also gets its `protocol` (one choice), so only it ever has one."""
    from optuna.distributions import CategoricalDistribution

    if is_reference(fixed):
        return {**dists, "protocol": CategoricalDistribution([REFERENCE])}
    return dists


def seed_points(arms: Sequence[Arm]) -> list[dict[str, Any]]:
    """The trials enqueued before the sampler takes over, most informative first: the best
    recipe on the first arm, on the same model upscaled, and on the next model; then the other
    seed recipes on the first arm, the paper's protocol last. `arms` come best prior first."""
    if not arms:
        return []
    first = arms[0]
    order = [first]
    up = next((a for a in arms if a.model == first.model and a.upscaled != first.upscaled), None)
    other = next((a for a in arms if a.model != first.model), None)
    order += [a for a in (up, other) if a is not None]
    points = [{"arm": a.key, **SEED_RECIPES[0]} for a in order]
    points += [{"arm": first.key, **r} for r in SEED_RECIPES[1:]]
    return points


def recipe(params: Mapping[str, Any]) -> dict[str, Any]:
    """The recipe a point of the space trains with: the paper's protocol for the reference,
    else the searched fields with light augmentation. A point stored by an earlier version
    (which searched augmentation) keeps its own `augment`."""
    if is_reference(params):
        return dict(PAPER)
    out = {k: params.get(k, PAPER[k]) for k in PAPER}
    out["augment"] = params.get("augment", SEARCHED_AUGMENT)
    return out


def overrides(params: Mapping[str, Any]) -> dict[str, Any]:
    """The TrainConfig fields of one point of the recipe space."""
    r = recipe(params)
    imb = r["imbalance"]
    return {
        "class_weights": "auto" if imb == "weights" else "none",
        "sampler": "balanced" if imb == "balanced" else "shuffle",
        "augment": r["augment"],
        "schedule": r["schedule"],
        "lr": float(r["lr"]),
        "label_smoothing": float(r["label_smoothing"] or 0.0),
    }


def recipe_name(params: Mapping[str, Any]) -> str:
    """A short label: 'paper protocol' or e.g. 'weights+light+cosine lr 1e-03'."""
    r = recipe(params)
    if r == PAPER:
        return "paper protocol"
    parts = [str(r["imbalance"]), str(r["augment"]), str(r["schedule"])]
    name = "+".join(p for p in parts if p not in ("none", "constant")) or "plain"
    ls = float(r["label_smoothing"] or 0.0)
    return f"{name} lr {float(r['lr']):.0e}" + (f" ls {ls:g}" if ls else "")

"""The training recipes New experiment offers: defaults suggested by the data, or the paper's.

"Suggested for this data" starts from the paper's protocol and changes only what the data call
for: class-balanced sampling when one class outnumbers another (a model trained on a skewed
split learns to answer the majority class), and upscaling when the images are smaller than
small-image CNNs are made for (8 px images train to near chance). "Paper protocol" is exactly
`TrainConfig`'s defaults, to reproduce the paper. No Qt here: the view applies the settings.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, fields
from typing import Any

from pepr_desktop.core.data.sources import DatasetInfo
from pepr_desktop.core.errors import UserError
from pepr_desktop.core.training.config import TrainConfig

log = logging.getLogger(__name__)

SUGGESTED, PAPER, CUSTOM = "suggested", "paper", "custom"
LABELS = {
    SUGGESTED: "Suggested for this data",
    PAPER: "Paper protocol (reproduce the paper)",
    CUSTOM: "Custom (as set in Advanced settings)",
}
# the settings a recipe decides (the rest, epochs and batch size, are the user's)
FIELDS = (
    "lr",
    "class_weights",
    "sampler",
    "augment",
    "schedule",
    "label_smoothing",
    "pretrained",
    "image_size",
)
IMBALANCE_RATIO = 1.5  # largest / smallest training class from here: sample class-balanced
SMALL_IMAGE_PX = 28  # below this, small-image CNNs see too few pixels
UPSCALE_PX = 32


@dataclass(frozen=True)
class DataFacts:
    """What the suggestion reads from a dataset: image size and training-class counts."""

    name: str
    image_size: int
    class_names: list[str] = field(default_factory=list)
    train_counts: list[int] | None = None  # None: not known (not downloaded)
    split_sizes: dict[str, int] = field(default_factory=dict)

    @property
    def imbalance(self) -> float | None:
        c = self.train_counts
        if not c or min(c) <= 0:
            return None
        return max(c) / min(c)


def facts_for(info: DatasetInfo) -> DataFacts:
    """The facts of `info`; the class counts come from its label arrays (~0.1 s, no images)."""
    counts, sizes = None, dict(info.split_sizes or {})
    if info.path is not None:
        from pepr_desktop.core.data.preview import preview_dataset

        try:
            per_split = preview_dataset(info, per_class=0).counts
        except (UserError, OSError) as exc:
            log.info("no class counts for %s: %s", info.name, exc)
        else:
            counts = per_split.get("train")
            sizes = sizes or {s: int(sum(c)) for s, c in per_split.items()}
    return DataFacts(info.name, int(info.image_size), list(info.class_names), counts, sizes)


def paper() -> dict[str, Any]:
    """The paper's protocol: TrainConfig's own defaults for every recipe field."""
    defaults = {f.name: f.default for f in fields(TrainConfig)}
    return {k: defaults[k] for k in FIELDS}


def suggested(facts: DataFacts) -> tuple[dict[str, Any], list[str]]:
    """The paper's settings changed where the data call for it, and why (one line each)."""
    settings = paper()
    reasons: list[str] = []
    ratio = facts.imbalance
    if ratio is not None and ratio >= IMBALANCE_RATIO:
        settings["sampler"] = "balanced"
        c = facts.train_counts or []
        names = facts.class_names if len(facts.class_names) == len(c) else [str(i) for i in c]
        big, small = c.index(max(c)), c.index(min(c))
        reasons.append(
            f"class-balanced sampling: {ratio:.1f}x more '{names[big]}' than '{names[small]}' "
            "images in training"
        )
    elif ratio is None:
        reasons.append("class balance not known yet (the data are not downloaded)")
    if facts.image_size < SMALL_IMAGE_PX:
        settings["image_size"] = UPSCALE_PX
        reasons.append(f"images upscaled from {facts.image_size} px to {UPSCALE_PX} px")
    return settings, reasons


def describe(settings: dict[str, Any]) -> str:
    """The settings that differ from the paper, in a few words ("as in the paper" if none)."""
    base = paper()
    words = {
        "sampler": lambda v: "class-balanced sampling" if v == "balanced" else f"sampler {v}",
        "class_weights": lambda v: f"class weights {v}",
        "augment": lambda v: f"{v} augmentation",
        "schedule": lambda v: f"{v} LR schedule",
        "label_smoothing": lambda v: f"label smoothing {v:g}",
        "pretrained": lambda v: "pretrained weights" if v else "from scratch",
        "image_size": lambda v: f"images at {v} px" if v else "images at their own size",
        "lr": lambda v: f"learning rate {v:g}",
    }
    diffs = [words[k](v) for k, v in settings.items() if k in words and v != base.get(k)]
    return ", ".join(diffs) if diffs else "as in the paper"

"""Light data augmentation done on the device, a whole batch at a time.

Small medical datasets overfit in a few epochs; random flips and a small affine jitter are the
cheapest remedy. Everything here is one `affine_grid` + `grid_sample` per batch: the per-image
transforms are rows of a (N, 2, 3) matrix drawn with one seeded generator, so there is no
per-image Python, the data never leave the device, and a resumed run draws the same numbers
(the trainer seeds the generator by seed and epoch).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

AUGMENT_CHOICES = ("none", "light")


@dataclass(frozen=True)
class AugmentSpec:
    """Ranges of the random transforms (uniform draws)."""

    hflip: float = 0.5  # probability of a horizontal flip
    vflip: float = 0.0  # probability of a vertical flip (off: anatomy has an up)
    rotate_deg: float = 10.0  # +- degrees
    translate: float = 0.08  # +- share of the image size
    scale: float = 0.1  # zoom in 1 +- scale


PRESETS: dict[str, AugmentSpec | None] = {"none": None, "light": AugmentSpec()}


def augment_batch(x: Any, spec: AugmentSpec, generator: Any | None = None) -> Any:
    """Randomly flip, rotate, shift and zoom each image of `x` (N, C, H, W).

    Returns a tensor of the same shape, dtype and device. Float input is resampled bilinearly
    with border padding (no black corners that a model could learn); uint8 input is resampled
    in float and rounded back.
    """
    import torch
    import torch.nn.functional as F

    if x.ndim != 4:
        raise ValueError(f"augment_batch needs (N, C, H, W), got shape {tuple(x.shape)}")
    n = x.shape[0]
    if n == 0:
        return x
    dev = x.device

    def uniform(lo: float, hi: float) -> Any:
        return torch.rand(n, device=dev, generator=generator) * (hi - lo) + lo

    angle = uniform(-spec.rotate_deg, spec.rotate_deg) * (math.pi / 180)
    zoom = uniform(1 - spec.scale, 1 + spec.scale)
    tx = uniform(-spec.translate, spec.translate) * 2  # grid coordinates span [-1, 1]
    ty = uniform(-spec.translate, spec.translate) * 2
    fx = torch.where(torch.rand(n, device=dev, generator=generator) < spec.hflip, -1.0, 1.0)
    fy = torch.where(torch.rand(n, device=dev, generator=generator) < spec.vflip, -1.0, 1.0)
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack(
        [
            torch.stack([cos * fx, -sin * fy, tx], 1),
            torch.stack([sin * fx, cos * fy, ty], 1),
        ],
        1,
    )  # (N, 2, 3): output pixel -> input location
    work = x if x.is_floating_point() else x.float()
    grid = F.affine_grid(theta.to(work.dtype), list(work.shape), align_corners=False)
    out = F.grid_sample(work, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if x.is_floating_point():
        return out
    info = torch.iinfo(x.dtype)
    return out.round_().clamp_(info.min, info.max).to(x.dtype)


class Augmenter:
    """The trainer's hook: `augmenter(batch)` applies a preset with the epoch's generator."""

    def __init__(self, preset: str, device: str) -> None:
        if preset not in PRESETS:
            raise ValueError(f"unknown augmentation {preset!r}; choose {', '.join(PRESETS)}")
        self.spec = PRESETS[preset]
        self.device = device
        self.generator: Any = None

    @property
    def active(self) -> bool:
        return self.spec is not None

    def start_epoch(self, seed: int, epoch: int) -> None:
        """Seed by (seed, epoch) so a resumed run augments exactly as an uninterrupted one."""
        import torch

        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(seed * 1_000_003 + epoch * 7919 + 17)

    def __call__(self, x: Any) -> Any:
        if self.spec is None:
            return x
        return augment_batch(x, self.spec, self.generator)

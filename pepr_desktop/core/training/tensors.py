"""Training data as device tensors: splits, on-device normalisation, per-epoch batches, class
weights and the balanced sampler's weights.

Images stay uint8 on the device; each batch is gathered by index and normalised there, so a batch
costs no per-image Python work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Tensors:
    """One split as device tensors: images uint8 (N, C, H, W), labels int64 (N,)."""

    x: Any
    y: Any

    def __len__(self) -> int:
        return int(self.y.shape[0])


def to_tensors(images: np.ndarray, labels: np.ndarray, device: str) -> Tensors:
    import torch

    x = torch.from_numpy(np.ascontiguousarray(images))
    x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2).contiguous()
    y = torch.from_numpy(labels.astype(np.int64))
    return Tensors(x.to(device), y.to(device))


class Normalizer:
    """uint8 batch -> float, scaled, normalised and resized on the device in one place."""

    def __init__(
        self, mean: tuple[float, ...], std: tuple[float, ...], size: int | None, device: str
    ) -> None:
        import torch

        self.scale = torch.tensor([1 / (255 * s) for s in std], device=device).view(1, -1, 1, 1)
        self.shift = torch.tensor([m / s for m, s in zip(mean, std)], device=device).view(
            1, -1, 1, 1
        )
        self.size = size

    def __call__(self, xb: Any) -> Any:
        import torch.nn.functional as F

        x = xb.float() * self.scale - self.shift
        if self.size is not None and (x.shape[-1] != self.size or x.shape[-2] != self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return x


def epoch_batches(
    n: int, batch_size: int, seed: int, epoch: int, device: str, weights: Any = None
) -> list[Any]:
    """A seeded permutation per epoch (so a resumed run sees the same order); a trailing batch of
    one image is dropped because batch norm cannot train on it. With per-image `weights` (the
    balanced sampler) n indices are drawn with replacement in proportion to them, from the same
    (seed, epoch) generator, so resume still reproduces the run."""
    import torch

    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    if weights is not None:
        perm = torch.multinomial(weights, n, replacement=True, generator=g).to(device)
    else:
        perm = torch.randperm(n, generator=g).to(device)
    chunks = list(perm.split(batch_size))
    if len(chunks) > 1 and len(chunks[-1]) == 1:
        chunks.pop()
    return chunks


def class_weight_vector(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Inverse class frequency, normalised so a balanced dataset gets weights of 1."""
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    counts[counts == 0] = np.inf  # an absent class gets weight 0
    return (len(labels) / (n_classes * counts)).astype(np.float32)


def balanced_weights(labels: Any) -> Any:
    """Per-image sampling weights (CPU float64) that draw every present class equally often."""
    import torch

    y = labels.cpu()
    counts = torch.bincount(y).double()
    return (1.0 / counts.clamp(min=1))[y]

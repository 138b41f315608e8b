"""A tiny separable dataset (bright images are class 1) for the fast-path tests, CPU and GPU."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np


def separable_arrays(n: int = 64, side: int = 16, seed: int = 0) -> SimpleNamespace:
    """MedMNIST-like arrays that a small model learns in a few epochs."""
    rng = np.random.default_rng(seed)
    images, labels = {}, {}
    for split, k in (("train", n), ("val", n // 2), ("test", n // 2)):
        y = np.arange(k) % 2
        base = np.where(y[:, None, None] == 1, 190, 60)
        noise = rng.integers(-40, 40, (k, side, side))
        images[split] = np.clip(base + noise, 0, 255).astype(np.uint8)
        labels[split] = y.astype(np.int64)
    return SimpleNamespace(
        images=images,
        labels=labels,
        channels=1,
        n_classes=2,
        image_size=(side, side),
        class_names=["dark", "bright"],
    )

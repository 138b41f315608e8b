"""The training loop's per-epoch metrics (core/training/metrics.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pepr_desktop.core.training.metrics import classification_metrics, split_metrics
from pepr_desktop.core.training.tensors import Normalizer, to_tensors


def test_metrics_match_hand_computed_values() -> None:
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    labels = np.array([0, 1, 1, 1])
    m = classification_metrics(probs, labels)
    assert m["acc"] == 0.75
    assert m["bacc"] == pytest.approx((1.0 + 2 / 3) / 2)
    assert m["auc"] == pytest.approx(1.0)  # every positive scores above the negative
    assert classification_metrics(probs[1:2], labels[1:2])["auc"] is None  # one class: undefined


class _Brightness(torch.nn.Module):
    """Class 1 when the image is bright: a model whose predictions are known in advance."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = x.mean(dim=(1, 2, 3))
        return torch.stack([-m, m], 1) * 10


def test_split_metrics_keys_each_split_and_skips_a_missing_one() -> None:
    images = np.array([np.full((4, 4), v, np.uint8) for v in (0, 10, 250, 240, 20)])
    labels = np.array([0, 0, 1, 1, 1])  # the last one is dark: predicted 0, wrongly
    split = to_tensors(images, labels, "cpu")
    norm = Normalizer((0.5,), (0.5,), None, "cpu")
    m = split_metrics(_Brightness(), {"val": split, "test": None}, norm, batch_size=2)
    assert set(m) == {"val_acc", "val_bacc", "val_auc"}
    assert m["val_acc"] == pytest.approx(4 / 5)
    assert m["val_bacc"] == pytest.approx((1.0 + 2 / 3) / 2)

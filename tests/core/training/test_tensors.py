"""Device tensors, normalisation, batches and class weights (core/training/tensors.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pepr_desktop.core.training.tensors import (
    Normalizer,
    class_weight_vector,
    epoch_batches,
    to_tensors,
)


def test_class_weights_balance_the_loss() -> None:
    w = class_weight_vector(np.array([0] * 10 + [1] * 90), 2)
    assert w[0] * 10 == pytest.approx(w[1] * 90)
    assert class_weight_vector(np.array([0, 1] * 5), 2).tolist() == [1.0, 1.0]


def test_to_tensors_puts_channels_first() -> None:
    grey = to_tensors(np.zeros((3, 5, 6), np.uint8), np.array([0, 1, 0]), "cpu")
    rgb = to_tensors(np.zeros((3, 5, 6, 3), np.uint8), np.array([0, 1, 0]), "cpu")
    assert tuple(grey.x.shape) == (3, 1, 5, 6) and tuple(rgb.x.shape) == (3, 3, 5, 6)
    assert grey.x.dtype == torch.uint8 and grey.y.dtype == torch.int64 and len(rgb) == 3


def test_normalizer_scales_and_resizes() -> None:
    x = torch.tensor([0, 255], dtype=torch.uint8).view(2, 1, 1, 1).expand(2, 1, 4, 4)
    out = Normalizer((0.5,), (0.5,), 8, "cpu")(x)
    assert tuple(out.shape) == (2, 1, 8, 8)
    assert torch.allclose(out[0], torch.full((1, 8, 8), -1.0))
    assert torch.allclose(out[1], torch.full((1, 8, 8), 1.0))


def test_epoch_batches_are_seeded_and_never_end_with_one_image() -> None:
    a = epoch_batches(65, 32, seed=3, epoch=1, device="cpu")
    assert [len(c) for c in a] == [32, 32]  # 65 = 32 + 32 + 1: the single image is dropped
    assert torch.equal(torch.cat(a), torch.cat(epoch_batches(65, 32, 3, 1, "cpu")))
    assert not torch.equal(torch.cat(a), torch.cat(epoch_batches(65, 32, 3, 2, "cpu")))
    assert [len(c) for c in epoch_batches(1, 32, 3, 1, "cpu")] == [1]  # the only batch stays

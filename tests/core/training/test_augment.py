"""On-device batch augmentation: shapes, dtypes, device, determinism, and that it changes images."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from pepr_desktop.core.training.augment import Augmenter, AugmentSpec, augment_batch  # noqa: E402


@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8])
@pytest.mark.parametrize("shape", [(5, 1, 28, 28), (3, 3, 32, 20)])
def test_keeps_shape_dtype_device(dtype, shape) -> None:
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(shape, generator=g) * 255).to(dtype)
    y = augment_batch(x, AugmentSpec(), torch.Generator().manual_seed(1))
    assert y.shape == x.shape and y.dtype == x.dtype and y.device == x.device
    assert not torch.equal(y, x)  # something was transformed


def test_identity_spec_changes_nothing() -> None:
    x = torch.rand(4, 1, 16, 16)
    spec = AugmentSpec(hflip=0.0, vflip=0.0, rotate_deg=0.0, translate=0.0, scale=0.0)
    assert torch.allclose(augment_batch(x, spec), x, atol=1e-5)


def test_flip_only_is_an_exact_mirror() -> None:
    x = torch.rand(6, 1, 8, 8)
    spec = AugmentSpec(hflip=1.0, rotate_deg=0.0, translate=0.0, scale=0.0)
    assert torch.allclose(augment_batch(x, spec), x.flip(-1), atol=1e-5)


def test_seeded_per_epoch_so_resume_reproduces() -> None:
    x = torch.rand(4, 1, 28, 28)
    a, b = Augmenter("light", "cpu"), Augmenter("light", "cpu")
    a.start_epoch(3, 2)
    b.start_epoch(3, 2)
    assert torch.equal(a(x), b(x))
    b.start_epoch(3, 3)
    a.start_epoch(3, 2)
    assert not torch.equal(a(x), b(x))


def test_none_preset_is_a_no_op() -> None:
    x = torch.rand(2, 1, 8, 8)
    aug = Augmenter("none", "cpu")
    aug.start_epoch(0, 0)
    assert aug(x) is x and not aug.active


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")
def test_runs_on_the_gpu() -> None:
    x = torch.rand(8, 3, 28, 28, device="cuda")
    aug = Augmenter("light", "cuda")
    aug.start_epoch(0, 0)
    y = aug(x)
    assert y.device == x.device and y.shape == x.shape and y.dtype == x.dtype

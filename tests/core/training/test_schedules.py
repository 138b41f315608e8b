"""LR schedules: shapes of the curves, and that seeking reproduces an uninterrupted run."""

from __future__ import annotations

import itertools

import pytest

torch = pytest.importorskip("torch")

from pepr_desktop.core.training.schedules import build_schedule, factor_fn  # noqa: E402


def _opt(lr: float = 1e-3):
    return torch.optim.Adam([torch.nn.Parameter(torch.zeros(2))], lr=lr)


def _lrs(name: str, epochs: int, steps: int) -> list[float]:
    opt = _opt()
    s = build_schedule(name, opt, base_lr=1e-3, epochs=epochs, steps_per_epoch=steps)
    s.seek(0)
    out = []
    for _ in range(epochs * steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        s.after_batch()
    return out


def test_constant_leaves_the_optimizer_alone() -> None:
    opt = _opt()
    assert build_schedule("constant", opt, base_lr=1e-3, epochs=3, steps_per_epoch=5) is None
    assert opt.param_groups[0]["lr"] == 1e-3


def test_cosine_starts_at_lr_and_decreases() -> None:
    lrs = _lrs("cosine", 2, 10)
    assert lrs[0] == pytest.approx(1e-3)
    assert all(b <= a + 1e-12 for a, b in itertools.pairwise(lrs))
    assert lrs[-1] < 0.05e-3


def test_onecycle_rises_then_falls() -> None:
    lrs = _lrs("onecycle", 2, 10)
    peak = max(range(len(lrs)), key=lrs.__getitem__)
    assert lrs[0] == pytest.approx(1e-3 / 25)
    assert 4 <= peak <= 7 and lrs[peak] == pytest.approx(1e-3, rel=0.05)
    assert lrs[-1] < lrs[0]


def test_seek_matches_an_uninterrupted_schedule() -> None:
    full = _lrs("onecycle", 4, 6)
    opt = _opt()
    s = build_schedule("onecycle", opt, base_lr=1e-3, epochs=4, steps_per_epoch=6)
    s.seek(2)  # resume at the start of epoch 2
    assert opt.param_groups[0]["lr"] == pytest.approx(full[12])
    opt.step()
    s.after_batch()
    assert opt.param_groups[0]["lr"] == pytest.approx(full[13])


def test_unknown_schedule() -> None:
    with pytest.raises(ValueError):
        factor_fn("linear", 10)


def test_balanced_sampler_is_seeded_and_balanced() -> None:
    """Like the shuffle, the balanced draw depends only on (seed, epoch), so resume reproduces it."""
    from pepr_desktop.core.training.tensors import balanced_weights, epoch_batches

    y = torch.tensor([0] * 50 + [1] * 950)
    w = balanced_weights(y)
    a = torch.cat(epoch_batches(1000, 32, 7, 3, "cpu", w))
    b = torch.cat(epoch_batches(1000, 32, 7, 3, "cpu", w))
    c = torch.cat(epoch_batches(1000, 32, 7, 4, "cpu", w))
    assert torch.equal(a, b) and not torch.equal(a, c)
    share = float((y[a] == 0).float().mean())
    assert 0.4 < share < 0.6  # the 5% class is drawn about half the time

"""The recipe search: it never reads the test split, chooses by validation and keeps its budget."""

from __future__ import annotations

import numpy as np
import pytest

from pepr_desktop.core.errors import UserError
from pepr_desktop.core.search.tune import Recipe, tune
from pepr_desktop.core.training.config import TrainConfig


class Guarded(dict):
    """A split dict whose test entry must never be touched."""

    def __getitem__(self, key):
        if key == "test":
            raise AssertionError("the tuner read the test split")
        return super().__getitem__(key)

    def get(self, key, default=None):
        if key == "test":
            raise AssertionError("the tuner read the test split")
        return super().get(key, default)

    def items(self):
        raise AssertionError("the tuner iterated over all splits (test included)")

    def values(self):
        raise AssertionError("the tuner iterated over all splits (test included)")


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread: on a shared, loaded 2-core machine two threads spin-wait badly."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def small_guarded(pneumonia_npz):
    from pepr_desktop.core.data.sources import ArraySet, read_npz

    full = read_npz(pneumonia_npz)
    rng = np.random.default_rng(0)
    pick = {
        s: rng.choice(len(full.labels[s]), n, replace=False)
        for s, n in (("train", 160), ("val", 64))
    }
    images = Guarded({s: full.images[s][pick[s]] for s in pick} | {"test": full.images["test"]})
    labels = Guarded({s: full.labels[s][pick[s]] for s in pick} | {"test": full.labels["test"]})
    return ArraySet(images=images, labels=labels, class_names=full.class_names, task=full.task)


def test_never_reads_test_chooses_by_val_and_keeps_the_budget(small_guarded) -> None:
    base = TrainConfig(dataset="pneu", model="", device="cpu", batch_size=32)
    recipes = (
        Recipe("weighted+aug", {"class_weights": "auto", "augment": "light"}),
        Recipe("paper", {}),
        Recipe("balanced+onecycle", {"sampler": "balanced", "schedule": "onecycle"}),
    )
    budget = 20.0
    res = tune(
        small_guarded, base, ["mobilenetv3_small_050"], budget_s=budget, recipes=recipes,
        trial_epochs=60,  # far more than fits: the budget must cut the trials short
    )  # fmt: skip
    assert res.spent_s <= budget
    ran = [t for t in res.trials if t.epochs_done > 0]
    assert ran and all(t.epochs_done < 60 for t in ran)
    assert any(t.status == "stopped" and "budget" in t.note for t in res.trials)
    for t in ran:  # only validation metrics were ever computed
        assert t.val and all(k.startswith("val_") for k in t.val)
    assert res.best is not None and res.best.score == max(t.score for t in ran)
    assert res.to_dict()["test_split_used"] is False
    cfg = res.best_config(base)
    assert cfg.model == "mobilenetv3_small_050" and cfg.epochs == base.epochs


def test_bad_arguments_are_user_errors(small_guarded) -> None:
    base = TrainConfig(dataset="pneu", model="", device="cpu")
    with pytest.raises(UserError, match="metric"):
        tune(small_guarded, base, ["resnet10t"], budget_s=10, metric="test_acc")
    with pytest.raises(UserError, match="budget"):
        tune(small_guarded, base, ["resnet10t"], budget_s=0)
    with pytest.raises(UserError, match="no candidate"):
        tune(small_guarded, base, [], budget_s=10)


def test_tune_for_resolves_the_dataset_then_closes_the_store(monkeypatch, tmp_path) -> None:
    import contextlib

    from pepr_desktop.core.search import tune as tune_mod
    from pepr_desktop.core.store import Store

    events: list[str] = []

    @contextlib.contextmanager
    def opener():
        s = Store(tmp_path / "t.sqlite")
        events.append("open")
        try:
            yield s
        finally:
            s.close()
            events.append("close")

    def fake_tune_recommended(info, base, candidates, *, budget_s, **kw):
        events.append(f"tune {info.name} {budget_s:g} {sorted(kw)}")
        return "result"

    monkeypatch.setattr(tune_mod, "tune_recommended", fake_tune_recommended)
    base = TrainConfig(dataset="sample", model="m")
    out = tune_mod.tune_for("sample", opener, base, [], budget_s=30, top=1, trial_epochs=2)
    assert out == "result"
    assert events == ["open", "close", "tune sample 30 ['top', 'trial_epochs']"]

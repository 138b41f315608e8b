"""Resume with every issue-12 option on (balanced sampler, augmentation, one-cycle schedule,
label smoothing): a run stopped after epoch 1 and resumed ends where an uninterrupted run ends."""

from __future__ import annotations

import pytest

from pepr_desktop.core.events import EpochEnded, RunFinished
from pepr_desktop.core.store import Store
from pepr_desktop.core.training.config import Control, TrainConfig
from pepr_desktop.core.training.runner import execute
from tests.conftest import TINY_MODEL

METRICS = ("train_loss", "val_acc", "val_auc", "test_acc", "test_auc")


def _cfg() -> TrainConfig:
    return TrainConfig(
        dataset="sample", model=TINY_MODEL, epochs=2, data_fraction=0.1, lr=3e-3, seed=7,
        device="cpu", sampler="balanced", augment="light", schedule="onecycle",
        label_smoothing=0.1,
    )  # fmt: skip


def test_resume_with_quality_options_matches(tmp_path) -> None:
    ref_store = Store(tmp_path / "ref.sqlite")
    ref = list(execute(_cfg(), ref_store))[-1]
    assert ref.status == "finished", ref.message
    want = ref_store.epochs(ref.run_id)

    store = Store(tmp_path / "run.sqlite")
    control = Control()
    final = None
    for ev in execute(_cfg(), store, control=control):
        if isinstance(ev, EpochEnded) and ev.epoch == 0:
            control.stop("user")
        if isinstance(ev, RunFinished):
            final = ev
    assert final is not None and final.status == "stopped"
    resumed = list(execute(_cfg(), store, resume_run_id=final.run_id))[-1]
    assert resumed.status == "finished", resumed.message
    got = store.epochs(final.run_id)
    assert [g["epoch"] for g in got] == [0, 1]
    for g, w in zip(got, want, strict=True):
        for k in METRICS:
            if w[k] is None:
                assert g[k] is None
            else:
                assert g[k] == pytest.approx(w[k], abs=1e-6), (g["epoch"], k)

"""One run of a search, really trained (tiny model, tiny data), recorded by this process: a
search trial never gets a test figure; a pruned or budget stop says so; the Ray backend path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pepr_desktop.core.events import EpochEnded
from pepr_desktop.core.search.auto.runs import RunExecutor
from pepr_desktop.core.search.tune import without_test
from pepr_desktop.core.training.config import Control, TrainConfig
from tests.conftest import TINY_MODEL, write_npz


@pytest.fixture
def tiny(tmp_path: Path, store):
    from pepr_desktop.core.data import registry as datasets

    path = write_npz(tmp_path / "tiny.npz", (48, 24, 24), 28)
    info = datasets.import_dataset(path, "tiny", store)
    return info, datasets.load(info)


def cfg(epochs: int = 1) -> TrainConfig:
    return TrainConfig(
        dataset="tiny",
        model=TINY_MODEL,
        epochs=epochs,
        device="cpu",
        batch_size=16,
        checkpoint=False,
        extra={"search": "s1", "phase": "search"},
    )


def test_a_trial_is_a_stored_run_without_any_test_figure(store, tiny) -> None:
    info, arrays = tiny
    ex = RunExecutor(store, info)
    extra = {"search": "s1", "trial": 0, "phase": "search"}
    out = ex.run(cfg(), without_test(arrays), name="s1 search 0", extra=extra, control=Control())
    assert out.status == "finished" and out.epochs == 1
    assert set(k for k in out.curve[0] if k.startswith(("val_", "test_"))) == {
        "val_acc",
        "val_bacc",
        "val_auc",
    }
    run = store.get_run(out.run_id)
    assert run["status"] == "finished" and run["name"] == "s1 search 0"
    assert run["extra"]["search"] == "s1" and run["config"]["extra"]["search"] == "s1"
    assert run["val_acc"] is not None and run["test_acc"] is None and run["evaluation"] is None
    assert run["pid"] == os.getpid()  # the driver records


def test_a_pruned_run_is_stopped_with_the_reason(store, tiny) -> None:
    info, arrays = tiny
    ex = RunExecutor(store, info)
    from pepr_desktop.core.budget import Budget
    from pepr_desktop.core.search.auto.engine import RunControl
    from pepr_desktop.core.search.auto.guard import BudgetGuard

    control = RunControl(Control(), BudgetGuard(Budget(time_min=1)))

    def prune_after_first(run_id: int, ev) -> None:
        if isinstance(ev, EpochEnded):
            control.stop("pruned")

    out = ex.run(
        cfg(epochs=3),
        without_test(arrays),
        name="t",
        extra={"phase": "search"},
        control=control,
        on_event=prune_after_first,
    )
    assert out.status == "stopped" and out.reason == "pruned" and out.epochs == 1
    run = store.get_run(out.run_id)
    assert run["status"] == "stopped" and run["reason"] == "pruned"
    assert "pruned by the search" in run["message"]


@pytest.mark.slow  # a local Ray starts in ~10-40 s
def test_the_ray_backend_runs_a_trial_and_this_process_records_it(store, tiny) -> None:
    ray = pytest.importorskip("ray", reason="Ray is the optional extra pepr-desktop[cluster]")
    info, arrays = tiny
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        ex = RunExecutor(store, info, backend="ray")
        out = ex.run(
            cfg(), without_test(arrays), name="r", extra={"phase": "search"}, control=Control()
        )
    finally:
        ray.shutdown()
    assert out.status == "finished" and out.epochs == 1, out.message
    run = store.get_run(out.run_id)
    assert run["status"] == "finished" and run["pid"] == os.getpid()
    assert run["test_acc"] is None and len(store.epochs(out.run_id)) == 1

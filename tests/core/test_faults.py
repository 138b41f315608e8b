"""Faults mid-run: out of memory (CUDA and CPU, simulated), the disk filling up (simulated).

Each must end the run with one line that says what to do (`failed`, or `stopped` and resumable
for a full disk while saving a checkpoint), keep the epochs already stored, leave the database
intact, and leave the process able to run again.
"""

from __future__ import annotations

import errno
import sqlite3
from typing import Any

import pytest
import sqlite_utils

from pepr_desktop.core.errors import StoreError
from pepr_desktop.core.events import EpochEnded, RunFinished
from pepr_desktop.core.store import Store
from pepr_desktop.core.training.checkpoints import load_checkpoint
from pepr_desktop.core.training.config import TrainConfig
from pepr_desktop.core.training.runner import checkpoint_path, execute
from tests.conftest import TINY_MODEL


def _cfg() -> TrainConfig:
    # 58 training images at batch 32: 2 training batches + 1 val + 1 test forward per epoch
    return TrainConfig(
        dataset="sample", model=TINY_MODEL, epochs=2, data_fraction=0.1, device="cpu"
    )


def _run(store: Store, epochs: int = 2) -> tuple[list[Any], RunFinished]:
    cfg = _cfg()
    cfg.epochs = epochs
    events = list(execute(cfg, store))
    assert isinstance(events[-1], RunFinished)
    return events, events[-1]


def _integrity_ok(store: Store) -> None:
    assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert not store.db.conn.in_transaction  # no transaction left open by the failure


def _one_line(message: str) -> None:
    assert message and "\n" not in message and "Traceback" not in message


@pytest.mark.parametrize(
    "error",
    [
        lambda: __import__("torch").OutOfMemoryError(
            "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 3.81 GiB total capacity)"
        ),
        lambda: MemoryError(),
    ],
    ids=["cuda_oom", "cpu_memoryerror"],
)
def test_out_of_memory_mid_run_fails_with_advice_and_app_stays_usable(
    error, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pepr_desktop.core.models import build as models

    real_build = models.build_model
    calls = {"n": 0}

    def build_failing(*args: Any, **kwargs: Any) -> Any:
        model = real_build(*args, **kwargs)
        forward = model.forward

        def failing_forward(x: Any) -> Any:
            calls["n"] += 1
            if calls["n"] == 5:  # first batch of the second epoch
                raise error()
            return forward(x)

        model.forward = failing_forward
        return model

    monkeypatch.setattr(models, "build_model", build_failing)
    _, final = _run(store)
    assert calls["n"] == 5
    assert final.status == "failed"
    _one_line(final.message)
    assert "out of memory" in final.message
    assert "smaller --batch-size" in final.message and "--image-size" in final.message
    run = store.get_run(final.run_id)
    assert run["status"] == "failed" and run["message"] == final.message
    assert [e["epoch"] for e in store.epochs(final.run_id)] == [0]  # the finished epoch is kept
    assert run["epochs_done"] == 1
    _integrity_ok(store)

    monkeypatch.undo()  # the next run in the same process works
    _, again = _run(store, epochs=1)
    assert again.status == "finished", again.message
    assert store.get_run(again.run_id)["epochs_done"] == 1


def _fail_epoch_writes_from(monkeypatch: pytest.MonkeyPatch, first_bad_epoch: int) -> None:
    """The epochs table stops accepting rows, as SQLite does when the disk is full (the error is
    raised inside the store's transaction, so its rollback and translation are exercised)."""
    real_upsert = sqlite_utils.db.Table.upsert

    def upsert(self: Any, record: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        if self.name == "epochs" and record.get("epoch", -1) >= first_bad_epoch:
            raise sqlite3.OperationalError("database or disk is full")
        return real_upsert(self, record, *args, **kwargs)

    monkeypatch.setattr(sqlite_utils.db.Table, "upsert", upsert)


def test_disk_full_on_epoch_write_fails_cleanly(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fail_epoch_writes_from(monkeypatch, 1)
    events, final = _run(store)
    assert final.status == "failed"
    _one_line(final.message)
    assert "full" in final.message and "free" in final.message
    first = next(e for e in events if isinstance(e, EpochEnded))
    assert not [e for e in events if isinstance(e, EpochEnded) and e.epoch == 1]  # never yielded
    stored = store.epochs(final.run_id)
    assert [e["epoch"] for e in stored] == [0]
    assert stored[0]["val_acc"] == first.metrics["val_acc"]
    assert stored[0]["train_loss"] == first.train_loss
    run = store.get_run(final.run_id)
    assert run["status"] == "failed" and run["epochs_done"] == 1
    _integrity_ok(store)
    monkeypatch.undo()
    assert _run(store, epochs=1)[1].status == "finished"


@pytest.mark.parametrize(
    "error",
    [
        lambda: OSError(errno.ENOSPC, "No space left on device"),
        # what torch.save raises on a full disk: its zip writer's error, not an OSError
        lambda: RuntimeError(
            "[enforce fail at inline_container.cc:626] . PytorchStreamWriter failed writing file "
            "data/12: file write failed"
        ),
        lambda: RuntimeError("[enforce fail at inline_container.cc:778] . unexpected pos 64 vs 0"),
    ],
    ids=["oserror_enospc", "stream_writer", "unexpected_pos"],
)
def test_disk_full_on_checkpoint_save_stops_resumably(
    error, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk while saving a checkpoint: the run stops (resumable, reason disk_full) with a
    line saying to free space and `pepr resume` it; the previous checkpoint stays intact."""
    import torch

    real_save = torch.save
    saves = {"n": 0}

    def save(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        saves["n"] += 1
        if saves["n"] == 2:
            with open(f, "wb") as fh:  # a partial file, as a full disk leaves it
                fh.write(b"PK\x03\x04partial")
            raise error()
        real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)
    _, final = _run(store)
    assert final.status == "stopped" and final.reason == "disk_full", final
    _one_line(final.message)
    assert "space" in final.message.lower() and "free" in final.message.lower()
    assert f"pepr resume {final.run_id}" in final.message
    run = store.get_run(final.run_id)
    # the epoch is committed before its checkpoint: both epochs are stored
    assert run["status"] == "stopped" and run["reason"] == "disk_full"
    assert run["epochs_done"] == 2 and run["message"] == final.message
    assert [e["epoch"] for e in store.epochs(final.run_id)] == [0, 1]
    ck = checkpoint_path(store, final.run_id)
    assert not ck.with_name(ck.name + ".part").exists()  # no half-written file left behind
    from pepr_desktop.core.data import registry as datasets
    from pepr_desktop.core.training.train import prepare

    prepared = prepare(_cfg(), datasets.load(datasets.resolve("sample", store)))
    assert load_checkpoint(ck, prepared)[0] == 1  # the previous checkpoint (epoch 0) survived
    _integrity_ok(store)

    monkeypatch.undo()  # space again: the run resumes from that checkpoint and finishes
    events = list(execute(_cfg(), store, resume_run_id=final.run_id))
    assert events[-1].status == "finished", events[-1].message
    assert [e.epoch for e in events if isinstance(e, EpochEnded)] == [1]
    assert store.get_run(final.run_id)["epochs_done"] == 2


def test_failure_while_closing_does_not_hide_the_first_error(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fail_epoch_writes_from(monkeypatch, 1)
    real_update = Store.update_run

    def update_run(self: Store, run_id: int, **fields: Any) -> None:
        if fields.get("status") == "failed":
            raise StoreError(f"could not write to {self.path}: the disk is full.")
        real_update(self, run_id, **fields)

    monkeypatch.setattr(Store, "update_run", update_run)
    _, final = _run(store)  # no exception escapes
    assert final.status == "failed"  # the first error (the epoch write), not the second
    _one_line(final.message)
    assert "full" in final.message and "free" in final.message
    _integrity_ok(store)
    assert [e["epoch"] for e in store.epochs(final.run_id)] == [0]


def test_real_sqlite_full_error_rolls_back_and_is_one_line(store: Store) -> None:
    """A genuine SQLITE_FULL (page limit reached): SQLite rolls the transaction back itself; the
    store must not then fail on its own ROLLBACK, and must say what to do."""
    run_id = store.create_run(dataset="d", model="m")
    store.add_epoch(run_id, {"epoch": 0, "train_loss": 0.5}, {"epochs_done": 1})
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count={pages}")
    big = {"run_id": run_id, "t": 1.0, "components": {"x": "y" * 200_000}}
    with pytest.raises(StoreError) as info:
        store.add_samples([big])
    _one_line(str(info.value))
    assert "full" in str(info.value) and "free" in str(info.value)
    _integrity_ok(store)
    assert store.samples(run_id) == [] and store.epochs(run_id)[0]["train_loss"] == 0.5
    store.db.execute("PRAGMA max_page_count=1073741823")
    store.add_samples([big])  # space again: writes work
    assert len(store.samples(run_id)) == 1

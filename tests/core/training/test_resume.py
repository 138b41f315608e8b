"""Resume: a run stopped after epoch 1 and resumed ends exactly where an uninterrupted run ends."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pepr_desktop.cli import main
from pepr_desktop.core.errors import UserError
from pepr_desktop.core.events import EpochEnded, RunFinished
from pepr_desktop.core.store import Store
from pepr_desktop.core.training.config import Control, TrainConfig
from pepr_desktop.core.training.runner import checkpoint_path, execute
from tests.conftest import TINY_MODEL

METRICS = ("train_loss", "val_acc", "val_auc", "val_bacc", "test_acc", "test_auc", "test_bacc")


def _cfg() -> TrainConfig:
    # lr high enough that the weights move visibly each epoch: a resume that restored the wrong
    # state (fresh optimiser, other batch order, other RNG) would not match to 1e-6.
    return TrainConfig(
        dataset="sample", model=TINY_MODEL, epochs=2, data_fraction=0.1, lr=3e-3, seed=7,
        device="cpu",
    )  # fmt: skip


def _stop_after_first_epoch(store: Store) -> int:
    control = Control()
    final = None
    for ev in execute(_cfg(), store, control=control):
        if isinstance(ev, EpochEnded) and ev.epoch == 0:
            control.stop("user")
        if isinstance(ev, RunFinished):
            final = ev
    assert final is not None and final.status == "stopped", final
    assert store.get_run(final.run_id)["epochs_done"] == 1
    return final.run_id


def _figures(store: Store, run_id: int) -> list[dict[str, float]]:
    return [{k: e[k] for k in ("epoch", *METRICS)} for e in store.epochs(run_id)]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, float]]:
    store = Store(tmp_path_factory.mktemp("ref") / "ref.sqlite")
    final = list(execute(_cfg(), store))[-1]
    assert final.status == "finished", final.message
    figures = _figures(store, final.run_id)
    assert [f["epoch"] for f in figures] == [0, 1]
    store.close()
    return figures


def _assert_same(got: list[dict[str, float]], want: list[dict[str, float]]) -> None:
    assert [g["epoch"] for g in got] == [w["epoch"] for w in want]
    for g, w in zip(got, want):
        for k in METRICS:
            if w[k] is None:
                assert g[k] is None, (g["epoch"], k)
            else:
                assert g[k] == pytest.approx(w[k], abs=1e-6), (g["epoch"], k, g[k], w[k])


def test_stopped_run_resumed_matches_uninterrupted(store: Store, reference) -> None:
    run_id = _stop_after_first_epoch(store)
    assert checkpoint_path(store, run_id).is_file()
    events = list(execute(_cfg(), store, resume_run_id=run_id))
    assert events[-1].status == "finished", events[-1].message
    assert [e.epoch for e in events if isinstance(e, EpochEnded)] == [1]  # epoch 0 not redone
    run = store.get_run(run_id)
    assert run["status"] == "finished" and run["epochs_done"] == 2 and run["message"] == ""
    assert len(store.runs()) == 1  # resumed in place, no second run
    _assert_same(_figures(store, run_id), reference)
    assert run["test_acc"] == pytest.approx(reference[-1]["test_acc"], abs=1e-6)


def test_interrupted_run_resumes_via_cli(tmp_path: Path, reference, capsys) -> None:
    db = tmp_path / "cli.sqlite"
    store = Store(db)
    run_id = _stop_after_first_epoch(store)
    # as if the process had died: the next open of the store marks it, the CLI resumes it
    store.update_run(run_id, status="interrupted", reason="crash")
    store.close()
    code = main(["--db", str(db), "resume", str(run_id), "--no-meter", "--json"])
    out = capsys.readouterr().out
    assert code == 0
    run = json.loads(out)
    assert run["id"] == run_id and run["status"] == "finished" and run["epochs_done"] == 2
    _assert_same(_figures(Store(db), run_id), reference)


def test_resume_without_checkpoint_restarts_from_epoch_zero(store: Store, reference) -> None:
    run_id = _stop_after_first_epoch(store)
    checkpoint_path(store, run_id).unlink()  # e.g. killed between the commit and the checkpoint
    events = list(execute(_cfg(), store, resume_run_id=run_id))
    assert [e.epoch for e in events if isinstance(e, EpochEnded)] == [0, 1]
    _assert_same(_figures(store, run_id), reference)


@pytest.mark.parametrize("status", ["finished", "failed", "running"])
def test_non_resumable_statuses_are_refused(status: str, tmp_path: Path, capsys) -> None:
    db = tmp_path / "s.sqlite"
    store = Store(db)
    run_id = store.create_run(dataset="sample", model=TINY_MODEL, config=_cfg().to_dict())
    store.update_run(run_id, status=status)
    before = list(store.db.conn.iterdump())
    with pytest.raises(UserError, match=f"run {run_id} is {status}; only interrupted or stopped"):
        list(execute(_cfg(), store, resume_run_id=run_id))
    store.close()
    code = main(["--db", str(db), "resume", str(run_id), "--no-meter"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert f"is {status}" in err
    after = Store(db)
    assert list(after.db.conn.iterdump()) == before


def test_unknown_run_id_is_one_line(tmp_path: Path, capsys) -> None:
    code = main(["--db", str(tmp_path / "u.sqlite"), "resume", "42", "--no-meter"])
    err = capsys.readouterr().err
    assert code == 2 and "no run with id 42" in err and err.count("\n") == 1


def test_two_resumes_of_one_run_only_one_trains(tmp_path: Path, monkeypatch) -> None:
    """Two resumes that both passed the status check race for the run: the store's conditional
    claim lets one train; the other is refused with one line and trains nothing."""
    import threading

    db = tmp_path / "race.sqlite"
    with Store(db) as store:
        run_id = _stop_after_first_epoch(store)
    barrier = threading.Barrier(2, timeout=60)
    real_claim = Store.claim_run

    def claim(self: Store, *args, **kwargs) -> bool:
        barrier.wait()  # both resumes reach the claim before either has it
        return real_claim(self, *args, **kwargs)

    monkeypatch.setattr(Store, "claim_run", claim)
    results: dict[str, object] = {}

    def resume(name: str) -> None:
        with Store(db) as store:  # one store per thread, as two processes would have
            try:
                events = list(execute(_cfg(), store, resume_run_id=run_id))
                results[name] = [e.epoch for e in events if isinstance(e, EpochEnded)]
            except UserError as exc:
                results[name] = exc

    threads = [threading.Thread(target=resume, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    trained = [r for r in results.values() if isinstance(r, list)]
    refused = [r for r in results.values() if isinstance(r, UserError)]
    assert trained == [[1]] and len(refused) == 1, results
    message = str(refused[0])
    assert f"run {run_id} is being resumed by another process" in message and "\n" not in message
    with Store(db) as store:
        run = store.get_run(run_id)
        assert run["status"] == "finished" and run["epochs_done"] == 2


def test_checkpoint_of_another_run_is_refused(store: Store) -> None:
    """A checkpoint names its run: one copied onto another run's checkpoint path is refused."""
    import shutil

    import torch

    run_a = _stop_after_first_epoch(store)
    ck = torch.load(checkpoint_path(store, run_a), weights_only=True)
    assert ck["run"] == {"run_id": run_a, "created_at": store.get_run(run_a)["created_at"]}
    run_b = store.create_run(dataset="sample", model=TINY_MODEL, config=_cfg().to_dict())
    store.update_run(run_b, status="stopped")
    shutil.copy(checkpoint_path(store, run_a), checkpoint_path(store, run_b))
    before = list(store.db.conn.iterdump())
    with pytest.raises(UserError, match="belongs to another run") as info:
        list(execute(_cfg(), store, resume_run_id=run_b))
    assert "\n" not in str(info.value) and "pepr train" in str(info.value)
    assert list(store.db.conn.iterdump()) == before  # nothing trained, nothing claimed
    assert store.epochs(run_b) == []


def test_checkpoint_without_an_owner_still_resumes(store: Store, reference) -> None:
    """Checkpoints written before they named their run are accepted (their run cannot be told)."""
    import torch

    run_id = _stop_after_first_epoch(store)
    path = checkpoint_path(store, run_id)
    ck = torch.load(path, weights_only=True)
    del ck["run"]
    torch.save(ck, path)
    events = list(execute(_cfg(), store, resume_run_id=run_id))
    assert events[-1].status == "finished", events[-1].message
    _assert_same(_figures(store, run_id), reference)


def _lose_commits(store: Store, run_id: int, epochs: list[int]) -> None:
    """The image a power cut leaves when the disk wrote the checkpoint but not these commits."""
    with store.db.conn:
        for e in epochs:
            store.db.conn.execute("DELETE FROM epochs WHERE run_id=? AND epoch=?", [run_id, e])
        store.db.conn.execute("UPDATE runs SET epochs_done=? WHERE id=?", [0, run_id])


def test_an_epoch_whose_commit_was_lost_is_put_back_from_its_checkpoint(
    store: Store, reference
) -> None:
    """Epoch 0's checkpoint reached the disk, its commit did not: the resume stores epoch 0 from
    the record the checkpoint carries (not retrained, no gap), then trains epoch 1."""
    run_id = _stop_after_first_epoch(store)
    _lose_commits(store, run_id, [0])
    events = list(execute(_cfg(), store, resume_run_id=run_id))
    assert events[-1].status == "finished", events[-1].message
    assert [e.epoch for e in events if isinstance(e, EpochEnded)] == [1]  # epoch 0 not redone
    run = store.get_run(run_id)
    assert run["epochs_done"] == 2
    _assert_same(_figures(store, run_id), reference)


def test_a_checkpoint_further_ahead_than_one_lost_commit_is_refused(store: Store) -> None:
    """Two epochs missing under the checkpoint cannot be put back: refused in one line, and the
    run is left as it was (not claimed, nothing trained)."""
    cfg = _cfg()
    cfg.epochs = 3
    control = Control()
    for ev in execute(cfg, store, control=control):
        if isinstance(ev, EpochEnded) and ev.epoch == 1:
            control.stop("user")
    run_id = store.runs()[0]["id"]
    _lose_commits(store, run_id, [0, 1])
    before = store.get_run(run_id)
    with pytest.raises(UserError, match="leave a gap") as info:
        list(execute(cfg, store, resume_run_id=run_id))
    assert "\n" not in str(info.value) and "epoch 2" in str(info.value)
    after = store.get_run(run_id)
    assert after["status"] == before["status"] == "stopped" and store.epochs(run_id) == []


def _write_npz(path: Path, seed: int) -> Path:
    from tests.conftest import write_npz

    return write_npz(path, (40, 12, 12), side=28, seed=seed)


def test_resume_after_overwritten_dataset_is_refused(tmp_path: Path, capsys) -> None:
    """`import-data --overwrite` replaced the data under a stopped run: resuming would train the
    remaining epochs on other images, so it is refused (exit 2, one line, store unchanged)."""
    db = tmp_path / "ds.sqlite"
    assert main(["--db", str(db), "import-data", str(_write_npz(tmp_path / "a.npz", 0)),
                 "--name", "x"]) == 0  # fmt: skip
    with Store(db) as store:
        control = Control()
        cfg = TrainConfig(dataset="x", model=TINY_MODEL, epochs=2, device="cpu")
        for ev in execute(cfg, store, control=control):
            if isinstance(ev, EpochEnded):
                control.stop("user")
        run_id = store.runs()[0]["id"]
        assert store.get_run(run_id)["status"] == "stopped"
    assert main(["--db", str(db), "import-data", str(_write_npz(tmp_path / "b.npz", 1)),
                 "--name", "x", "--overwrite"]) == 0  # fmt: skip
    capsys.readouterr()
    with Store(db) as store:
        before = list(store.db.conn.iterdump())
    code = main(["--db", str(db), "resume", str(run_id), "--no-meter"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert "dataset 'x' has changed" in err and "pepr train" in err
    with Store(db) as store:
        assert list(store.db.conn.iterdump()) == before

"""Issue 16, the store's own promises: ids never reused, a deleted run leaves no files, a live
run cannot be deleted, the database folder can move, and another program's file is never changed.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from pepr_desktop.core.errors import StoreError
from pepr_desktop.core.store import SCHEMA_VERSION, Store


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_run_ids_are_never_reused_after_a_delete(store: Store) -> None:
    first = store.create_run(model="m", dataset="d", status="finished")
    last = store.create_run(model="m", dataset="d", status="finished")
    store.delete_run(last)
    again = store.create_run(model="m", dataset="d")
    assert again not in (first, last) and again > last


def test_delete_removes_the_runs_checkpoint(store: Store) -> None:
    run_id = store.create_run(model="m", dataset="d", status="stopped")
    ck = store.data_dir / "checkpoints" / f"run_{run_id}.pt"
    ck.parent.mkdir(parents=True)
    ck.write_bytes(b"weights")
    store.update_run(run_id, checkpoint=str(ck), status="stopped")
    outside = store.path.parent / "mine.pt"  # a user's file named as a checkpoint: never deleted
    outside.write_bytes(b"x")
    store.delete_run(run_id)
    assert not ck.exists() and outside.exists()
    with pytest.raises(StoreError, match="no run"):
        store.get_run(run_id)


def test_a_run_that_another_process_trains_cannot_be_deleted(store: Store) -> None:
    trainer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        run_id = store.create_run(model="m", dataset="d")
        store.update_run(
            run_id, pid=trainer.pid, pid_started=psutil.Process(trainer.pid).create_time()
        )
        with pytest.raises(StoreError, match=f"being trained by process {trainer.pid}"):
            store.delete_run(run_id)
        assert store.get_run(run_id)["status"] == "running"
    finally:
        trainer.kill()
        trainer.wait()
    store.mark_stale_runs()  # its owner is gone now: interrupted, and deletable
    assert store.get_run(run_id)["status"] == "interrupted"
    store.delete_run(run_id)


def test_moving_the_database_folder_keeps_models_and_datasets(tmp_path: Path) -> None:
    lab = tmp_path / "lab"
    with Store(lab / "pepr.sqlite") as store:
        run_id = store.create_run(model="m", dataset="mine")
        ck = store.data_dir / "checkpoints" / f"run_{run_id}.pt"
        ck.parent.mkdir(parents=True)
        ck.write_bytes(b"weights")
        store.update_run(run_id, checkpoint=str(ck))
        npz = store.data_dir / "datasets" / "mine.npz"
        npz.parent.mkdir(parents=True)
        npz.write_bytes(b"arrays")
        store.add_dataset({"name": "mine", "source": "imported", "path": str(npz)})
    moved = tmp_path / "elsewhere" / "lab"
    moved.parent.mkdir()
    shutil.move(str(lab), str(moved))
    with Store(moved / "pepr.sqlite") as store:
        assert Path(store.get_run(run_id)["checkpoint"]).read_bytes() == b"weights"
        assert Path(store.get_dataset("mine")["path"]).read_bytes() == b"arrays"


def test_v2_database_migrates_ids_and_paths(tmp_path: Path) -> None:
    """A v2 file (absolute paths, reusable ids) keeps every row and becomes portable."""
    db_path = tmp_path / "pepr.sqlite"
    with Store(db_path) as store:
        for _ in range(3):
            store.create_run(model="m", dataset="d", status="finished")
        store.update_run(3, checkpoint=str(store.data_dir / "checkpoints" / "run_3.pt"))
    conn = sqlite3.connect(db_path)  # rewind it to what schema v2 wrote
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE name='runs'").fetchone()[0]
    conn.executescript(
        "ALTER TABLE runs RENAME TO runs_old;"
        + sql.replace(" AUTOINCREMENT", "").replace("[runs_v3]", "[runs]", 1)
        + "; INSERT INTO runs SELECT * FROM runs_old; DROP TABLE runs_old;"
        "UPDATE meta SET value='2' WHERE key='schema_version';"
    )
    conn.execute(
        "UPDATE runs SET checkpoint=? WHERE id=3",
        [str(tmp_path / "pepr_files/checkpoints/run_3.pt")],
    )
    conn.commit()
    conn.close()
    with Store(db_path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert [r["id"] for r in store.runs()] == [1, 2, 3]
        store.delete_run(3)
        assert store.create_run(model="m", dataset="d") == 4
        raw = sqlite3.connect(db_path).execute("SELECT checkpoint FROM runs WHERE id=4").fetchone()
        assert raw == (None,)


@pytest.mark.parametrize("readonly", [False, True])
def test_another_programs_database_is_refused_and_unchanged(tmp_path: Path, readonly: bool) -> None:
    other = tmp_path / "photos.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY, km REAL)")  # a jogging app's runs
    conn.execute("INSERT INTO runs(km) VALUES (5.2)")
    conn.commit()
    conn.close()
    before = _digest(other)
    with pytest.raises(StoreError, match="another program's SQLite database"):
        Store(other, readonly=readonly)
    assert _digest(other) == before
    assert not (tmp_path / "photos.sqlite-wal").exists()


def test_a_schema_version_that_is_not_a_number_is_refused(tmp_path: Path) -> None:
    db_path = tmp_path / "pepr.sqlite"
    Store(db_path).close()
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE meta SET value='3.x' WHERE key='schema_version'")
    conn.close()
    before = _digest(db_path)
    with pytest.raises(StoreError, match="schema version '3.x'"):
        Store(db_path)
    time.sleep(0)
    assert _digest(db_path) == before


def test_a_finished_run_is_backed_up(store: Store) -> None:
    from pepr_desktop.core.store import backup

    run_id = store.create_run(model="m", dataset="d")
    assert backup.list_backups(store.path) == []
    store.update_run(run_id, status="stopped")  # only a finished run triggers one
    assert backup.list_backups(store.path) == []
    store.update_run(run_id, status="finished", test_acc=0.9)
    (made,) = backup.list_backups(store.path)
    assert made.ok and made.runs == 1 and made.reason == "run"


def test_commits_are_durable_before_a_checkpoint_follows(store: Store) -> None:
    """synchronous=FULL in WAL mode: a committed epoch survives a power cut, so the checkpoint
    written after it can never be ahead of the stored epochs."""
    assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_on_a_read_only_medium_runs_can_still_be_read(tmp_path: Path, monkeypatch) -> None:
    """WAL cannot create its -shm file on a read-only medium: a read-only store opens the file
    immutable and lists the runs; a writing store says why it cannot, in one line. (The real
    medium, a tmpfs remounted read-only, is in tests/core/test_crash_safety.py.)"""
    from pepr_desktop.core.store import database

    db = tmp_path / "pepr.sqlite"
    with Store(db) as store:
        run_id = store.create_run(model="m", dataset="d", status="finished")
    for side in ("-wal", "-shm"):
        assert not (tmp_path / f"pepr.sqlite{side}").exists()  # a clean close leaves none
    monkeypatch.setattr(database, "_folder_writable", lambda _p: False)
    with Store(db, readonly=True) as store:
        assert store.get_run(run_id)["status"] == "finished"
    with Store(db, readonly=True) as store:  # what a failed write there is told
        err = store.write_error(sqlite3.OperationalError("unable to open database file"))
    assert "read-only folder or medium" in str(err) and "File > Open database" in str(err)

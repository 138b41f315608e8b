"""The SQLite store: round trip, stale runs, schema versions, unusable files."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from pepr_desktop.core.errors import StoreError
from pepr_desktop.core.store import SCHEMA_VERSION, Store


def test_round_trip(store: Store) -> None:
    run_id = store.create_run(dataset="d", model="m", config={"lr": 0.1}, epochs_planned=2)
    store.add_epoch(
        run_id,
        {"epoch": 0, "train_loss": 0.5, "val_acc": 0.7, "extra": {"a": 1}},
        {"epochs_done": 1, "test_acc": 0.6},
    )
    store.add_samples(
        [
            {
                "run_id": run_id,
                "t": 0.5,
                "power_w": 10.0,
                "components": {"cpu": 10.0},
                "energy_j": 5.0,
                "method": "cpu_estimate",
            }
        ]
    )
    store.update_run(run_id, status="finished")
    reopened = Store(store.path)
    run = reopened.get_run(run_id)
    assert run["status"] == "finished" and run["config"] == {"lr": 0.1}
    assert run["epochs_done"] == 1 and run["test_acc"] == 0.6
    assert reopened.epochs(run_id)[0]["extra"] == {"a": 1}
    assert reopened.samples(run_id)[0]["components"] == {"cpu": 10.0}
    assert [r["id"] for r in reopened.runs(dataset="d")] == [run_id]
    assert reopened.runs(dataset="other") == []
    assert reopened.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    reopened.delete_run(run_id)
    assert reopened.runs() == [] and reopened.epochs(run_id) == []
    with pytest.raises(StoreError, match="no run with id 99"):
        reopened.get_run(99)


def test_running_run_of_dead_process_is_marked_interrupted(tmp_path: Path) -> None:
    db = tmp_path / "x.sqlite"
    code = (
        "from pepr_desktop.core.store import Store\n"
        f"s = Store({str(db)!r}); print(s.create_run(dataset='d', model='m'))\n"
    )
    run_id = int(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
    )
    live = Store(tmp_path / "y.sqlite")
    live_id = live.create_run(dataset="d", model="m")  # this process is alive
    store = Store(db)
    assert store.get_run(run_id)["status"] == "interrupted"
    assert Store(live.path).get_run(live_id)["status"] == "running"


def test_newer_schema_is_refused_and_left_unchanged(tmp_path: Path) -> None:
    db = tmp_path / "new.sqlite"
    Store(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE meta SET value=? WHERE key='schema_version'", (SCHEMA_VERSION + 1,))
    before = db.read_bytes()
    with pytest.raises(StoreError, match="newer PePR Desktop"):
        Store(db)
    assert db.read_bytes() == before


def test_unusable_paths(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_text("this is not a database" * 100)
    with pytest.raises(StoreError, match="not a SQLite database|cannot be used"):
        Store(junk)
    with pytest.raises(StoreError, match="is a folder"):
        Store(tmp_path)
    with pytest.raises(StoreError, match="does not exist"):
        Store(tmp_path / "absent.sqlite", readonly=True)
    empty = tmp_path / "being-created.sqlite"  # what a reader sees while the CLI creates it
    empty.touch()
    with pytest.raises(StoreError, match="no PePR tables yet"):
        Store(empty, readonly=True)
    Store(empty).close()  # a writer sets it up; then it reads
    with Store(empty, readonly=True) as store:
        assert store.runs() == []


def test_v1_database_migrates_without_loss(tmp_path: Path) -> None:
    """A database written by schema v1 (the first release) opens and keeps every row."""
    import sqlite_utils

    from pepr_desktop.core.store import RUN_COLUMNS
    from pepr_desktop.core.store import Store as S

    db_path = tmp_path / "v1.sqlite"
    db = sqlite_utils.Database(db_path)
    S._create_v1(type("V1", (), {"db": db})())  # the v1 schema exactly as the first release made it
    db["meta"].insert({"key": "schema_version", "value": "1"}, pk="key")
    run = {k: None for k in RUN_COLUMNS} | {
        "id": 1,
        "status": "finished",
        "model": "m",
        "dataset": "d",
        "test_acc": 0.8,
    }
    db["runs"].insert(run)
    db["epochs"].insert({"run_id": 1, "epoch": 0, "train_loss": 0.3})
    db.conn.close()
    store = Store(db_path)
    assert store.schema_version() == SCHEMA_VERSION
    migrated = store.get_run(1)
    assert migrated["test_acc"] == 0.8 and migrated["evaluation"] is None
    assert migrated["sweep_id"] is None and "sweeps" in store.db.table_names()
    assert store.epochs(1)[0]["train_loss"] == 0.3
    assert migrated["node"] is None  # v4 (issue 18): trained by the process that wrote it


def test_v3_database_gains_the_node_of_each_run(tmp_path: Path) -> None:
    """v3 -> v4: a `node` column (where a Ray job trained), NULL for the runs already there;
    a run created with its node reads it back as written."""
    import sqlite_utils

    from pepr_desktop.core.store import MIGRATIONS
    from pepr_desktop.core.store import Store as S

    db_path = tmp_path / "v3.sqlite"
    db = sqlite_utils.Database(db_path)
    S._create_v1(type("V1", (), {"db": db})())
    for step in (1, 2):  # the v3 schema as the releases before this one made it
        MIGRATIONS[step](db, tmp_path / "v3_files")
    db["meta"].insert({"key": "schema_version", "value": "3"}, pk="key")
    db["runs"].insert({"status": "finished", "model": "m", "dataset": "d", "test_acc": 0.7})
    assert "node" not in {c.name for c in db["runs"].columns}
    db.conn.close()

    node = {"id": "ab" * 28, "ip": "10.0.0.7", "host": "gpu-7", "pid": 4242}
    with Store(db_path) as store:
        assert store.schema_version() == SCHEMA_VERSION == 4
        old = store.runs()[0]
        assert old["test_acc"] == 0.7 and old["node"] is None
        new_id = store.create_run(dataset="d", model="m", host="gpu-7", node=node)
    with Store(db_path, readonly=True) as store:
        run = store.get_run(new_id)
        assert run["node"] == node and run["host"] == "gpu-7"
        assert run["pid"] == os.getpid()  # the writer's pid (liveness), not the worker's

"""The SQLite store: runs, epochs, meter samples, imported datasets, schema version.

One file, WAL mode, a busy timeout and short transactions so the GUI and a CLI can write at once.
A run is inserted as `running` with its process id; when the store is next opened, a `running` run
whose process is gone is marked `interrupted` (detected by liveness, not guessed). PePR scores are
never stored: they depend on the comparison set and are computed at query time
(core/scoring/pepr.py).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
import sqlite3
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil
import sqlite_utils

from pepr_desktop.core.errors import StoreError

RECOVER_HINT = "`pepr db check` tells which, and `pepr db recover` restores its newest backup."
OTHER_DB = "Or choose another database (File > Open database in the app, --db on the command line)."

log = logging.getLogger(__name__)

GUI_PACKAGE = "pepr_desktop.gui"
SCHEMA_VERSION = 4
BUSY_TIMEOUT_MS = 15_000
ACTIVE = ("running",)
FINAL_STATUSES = ("finished", "stopped", "failed", "interrupted")

RUN_COLUMNS: dict[str, type] = {
    "id": int,
    "name": str,
    "tags": str,
    "created_at": float,
    "updated_at": float,
    "status": str,
    "reason": str,
    "message": str,
    "dataset": str,
    "dataset_hash": str,
    "model": str,
    "pretrained": int,
    "params": int,
    "device": str,
    "device_name": str,
    "host": str,
    "pid": int,
    "pid_started": float,
    "config": str,  # JSON of TrainConfig
    "epochs_planned": int,
    "epochs_done": int,
    "best_val_epoch": int,
    "best_val_acc": float,
    "val_acc": float,
    "val_auc": float,
    "val_bacc": float,
    "test_acc": float,
    "test_auc": float,
    "test_bacc": float,
    "train_time_s": float,
    "peak_mem_mb": float,
    "mem_method": str,
    "energy_j": float,
    "energy_net_j": float,
    "energy_method": str,
    "energy_note": str,
    "co2_g": float,
    "carbon_intensity": float,
    "pue": float,
    "checkpoint": str,
    "extra": str,  # JSON for figures later issues add
}

EPOCH_COLUMNS: dict[str, type] = {
    "run_id": int,
    "epoch": int,
    "train_loss": float,
    "val_acc": float,
    "val_auc": float,
    "val_bacc": float,
    "test_acc": float,
    "test_auc": float,
    "test_bacc": float,
    "seconds": float,
    "peak_mem_mb": float,
    "energy_j": float,
    "energy_net_j": float,
    "energy_method": str,
    "extra": str,
}

SAMPLE_COLUMNS: dict[str, type] = {
    "run_id": int,
    "t": float,
    "power_w": float,  # total
    "components": str,  # JSON {component: watts}
    "energy_j": float,
    "method": str,
}

DATASET_COLUMNS: dict[str, type] = {
    "name": str,
    "source": str,
    "path": str,
    "n_classes": int,
    "channels": int,
    "image_size": int,
    "task": str,
    "class_names": str,
    "split_sizes": str,
    "content_hash": str,
    "original": str,
    "created_at": float,
}


def _folder_writable(db: Path) -> bool:
    return os.access(db.parent if db.parent != Path("") else Path("."), os.W_OK)


def _refuse_gui_callers() -> None:
    """The GUI process must hold no SQLite connection (core/store/remote.py says why): a `Store`
    built on behalf of GUI code is a bug, caught here rather than by a corrupted database."""
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_globals.get("__name__", "").startswith(GUI_PACKAGE):
            raise RuntimeError(
                "a Store was opened from the GUI process; use core.store.remote.RemoteStore"
            )
        frame = frame.f_back


def _process_start(pid: int) -> float | None:
    """The start time of a live process; None when it is gone (a zombie has ended: it only waits
    to be reaped, which a container's PID 1 may never do)."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc.create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


class Store:
    """Access to one PePR database. Not shared between threads: open one per thread."""

    def __init__(self, path: str | os.PathLike[str], *, readonly: bool = False) -> None:
        _refuse_gui_callers()
        self.path = Path(path).expanduser()
        self.readonly = readonly
        try:
            self._open()
        except BaseException:
            # a refused file keeps no connection: recovery may rename it next
            if getattr(self, "db", None) is not None:
                self.db.conn.close()
            raise

    # ----------------------------------------------------------------- opening and schema

    def _open(self) -> None:
        p = self.path
        if p.is_dir():
            raise StoreError(f"{p} is a folder; give a database file path (e.g. {p}/pepr.sqlite).")
        if not p.exists():
            if self.readonly:
                raise StoreError(
                    f"database {p} does not exist; run a training first or check --db."
                )
            try:
                p.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the folder for database {p} ({exc.strerror}); choose another "
                    "path with --db."
                ) from None
        elif not os.access(p, os.R_OK):
            raise StoreError(f"database {p} is not readable; check its permissions.")
        try:
            # On a read-only medium WAL cannot create its -shm file: a read-only store opens the
            # file as immutable there (nothing can write it), so its runs can still be read.
            immutable = self.readonly and p.exists() and not _folder_writable(p)
            conn = sqlite3.connect(
                f"file:{quote(str(p))}?immutable=1" if immutable else str(p),
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=True,
                uri=immutable,
            )
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            self.db = sqlite_utils.Database(conn)
            self._check_sqlite()
            self._refuse_foreign()
            if self.readonly and self.schema_version() == 0:
                # a file another process is creating this moment, or an empty one: nothing to
                # read yet (and a read-only store may not create the tables)
                raise StoreError(
                    f"database {p} holds no PePR tables yet (new, empty, or still being "
                    "created); run a training first or check --db."
                )
            if not self.readonly:
                self._writable_check()
                self.db.execute("PRAGMA journal_mode=WAL")
                # FULL: an epoch's commit is on disk before its checkpoint is written, so a power
                # cut cannot leave a checkpoint ahead of the stored epochs (NORMAL could: resume
                # then skipped the lost epoch; benchmarks/README.md, crash and fault matrix)
                self.db.execute("PRAGMA synchronous=FULL")
                self._migrate()
                self.mark_stale_runs()
        except sqlite3.OperationalError as exc:  # locked, read-only, disk full
            raise self.write_error(exc) from None
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"{p} cannot be used as a PePR database ({exc}); {RECOVER_HINT} {OTHER_DB}"
            ) from None

    def _check_sqlite(self) -> None:
        try:
            self.db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError as exc:  # locked by a program in rollback-journal mode
            raise self.write_error(exc) from None
        except sqlite3.DatabaseError:
            raise StoreError(
                f"{self.path} is not a SQLite database (or it is damaged); {RECOVER_HINT} "
                f"{OTHER_DB}"
            ) from None

    def _writable_check(self) -> None:
        if self.path.exists() and not os.access(self.path, os.W_OK):
            raise StoreError(
                f"database {self.path} is read-only; make it writable or choose another with --db."
            )

    def schema_version(self) -> int:
        if "meta" not in self.db.table_names():
            return 0
        row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if not row:
            return 0
        try:
            return int(row[0])
        except (TypeError, ValueError):
            raise StoreError(
                f"{self.path} records schema version {row[0]!r}, which no PePR Desktop wrote; "
                f"it was not changed. {OTHER_DB}"
            ) from None

    def _refuse_foreign(self) -> None:
        """Never add PePR's tables to, or alter, another program's database."""
        tables = [t for t in self.db.table_names() if not t.startswith("sqlite_")]
        if not tables:
            return  # a new or empty file: ours to set up
        is_ours = (
            "meta" in tables
            and self.db.execute("SELECT count(*) FROM meta WHERE key='schema_version'").fetchone()[
                0
            ]
        )
        if not is_ours:
            shown = ", ".join(sorted(tables)[:4]) + (", ..." if len(tables) > 4 else "")
            raise StoreError(
                f"{self.path} is another program's SQLite database (tables: {shown}), not a "
                f"PePR database; it was not changed. {OTHER_DB}"
            )

    def _migrate(self) -> None:
        version = self.schema_version()
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was written by a newer PePR Desktop (schema {version} > "
                f"{SCHEMA_VERSION}); upgrade the app to open it. The file was not changed."
            )
        if version == SCHEMA_VERSION:
            return
        with self.transaction():
            if version == 0:
                self._create_v1()
                version = 1
            for step in range(version, SCHEMA_VERSION):
                log.info("migrating %s from schema %d to %d", self.path, step, step + 1)
                MIGRATIONS[step](self.db, self.data_dir)
            self.db["meta"].upsert(
                {"key": "schema_version", "value": str(SCHEMA_VERSION)}, pk="key"
            )

    def _create_v1(self) -> None:
        db = self.db
        db["meta"].create({"key": str, "value": str}, pk="key", if_not_exists=True)
        db["runs"].create(RUN_COLUMNS, pk="id", if_not_exists=True)
        db["epochs"].create(
            EPOCH_COLUMNS,
            pk=("run_id", "epoch"),
            foreign_keys=[("run_id", "runs", "id")],
            if_not_exists=True,
        )
        db["samples"].create(
            SAMPLE_COLUMNS, foreign_keys=[("run_id", "runs", "id")], if_not_exists=True
        )
        db["datasets"].create(DATASET_COLUMNS, pk="name", if_not_exists=True)
        db["runs"].create_index(["dataset"], if_not_exists=True)
        db["runs"].create_index(["status"], if_not_exists=True)
        db["samples"].create_index(["run_id", "t"], if_not_exists=True)

    # Schema history: v1 is the foundation's; later versions are migrations from it, so that a
    # database written by any earlier release opens without loss (tests/core/test_store.py).

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT: takes the write lock up front so writers queue, not fail."""
        conn = self.db.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self.write_error(exc) from None
        try:
            yield
        except sqlite3.Error as exc:  # disk full, locked, read-only: one line, what to do
            _rollback(conn)
            raise self.write_error(exc) from None
        except BaseException:
            _rollback(conn)
            raise
        else:
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                _rollback(conn)
                raise self.write_error(exc) from None

    def write_error(self, exc: sqlite3.Error) -> StoreError:
        """A failed write as a one-line StoreError that names the cause and the fix."""
        text = str(exc).lower()
        if "full" in text:
            return StoreError(
                f"could not write to {self.path}: the disk is full; free some space and try "
                "again (what was stored before is kept)."
            )
        if "locked" in text or "busy" in text:
            return StoreError(
                f"database {self.path} is locked by another program ({exc}); close it or try again."
            )
        if not _folder_writable(self.path):
            return StoreError(
                f"database {self.path} is on a read-only folder or medium, and SQLite must write "
                "beside it; copy it somewhere writable (its runs can still be listed read-only). "
                f"{OTHER_DB}"
            )
        if "readonly" in text or "read-only" in text:
            return StoreError(
                f"database {self.path} is read-only; make it writable or choose another with --db."
            )
        return StoreError(f"could not write to {self.path} ({exc}); check the disk and the file.")

    def close(self) -> None:
        self.db.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- runs

    def mark_stale_runs(self) -> int:
        """Mark `running` runs of this host whose process is gone as `interrupted`."""
        host = socket.gethostname()
        stale = []
        for row in self.db.query(
            "SELECT id, pid, pid_started FROM runs WHERE status='running' AND host=?", [host]
        ):
            started = _process_start(row["pid"]) if row["pid"] else None
            alive = started is not None and (
                row["pid_started"] is None or abs(started - row["pid_started"]) < 1.0
            )
            if not alive:
                stale.append(row["id"])
        if stale:
            with self.transaction():
                for run_id in stale:
                    self.db["runs"].update(
                        run_id,
                        {
                            "status": "interrupted",
                            "reason": "crash",
                            "message": "the process running it ended without finishing",
                            "updated_at": time.time(),
                        },
                    )
            log.info("marked %d stale run(s) as interrupted", len(stale))
        return len(stale)

    def create_run(self, **fields: Any) -> int:
        now = time.time()
        pid = os.getpid()
        row = {
            "created_at": now,
            "updated_at": now,
            "status": "running",
            "host": socket.gethostname(),
            "pid": pid,
            "pid_started": _process_start(pid),
            "epochs_done": 0,
            **self._encode_paths({k: _encode(v) for k, v in fields.items()}, "checkpoint"),
        }
        with self.transaction():
            return int(self.db["runs"].insert(row).last_pk)

    def update_run(self, run_id: int, **fields: Any) -> None:
        fields = self._encode_paths({k: _encode(v) for k, v in fields.items()}, "checkpoint")
        fields["updated_at"] = time.time()
        with self.transaction():
            self.db["runs"].update(run_id, fields)
        if fields.get("status") == "finished":
            self.backup("run")  # every finished run is in a backup: at most one run to redo

    def backup(self, reason: str = "manual") -> Path | None:
        """A rotating online backup of this database (core/store/backup.py), made through this
        connection; None when none could be made (logged, never raised: a backup must not stop
        a run)."""
        if self.readonly:
            return None
        from pepr_desktop.core.store.backup import make_backup

        return make_backup(self, None, reason)

    def claim_run(self, run_id: int, from_statuses: Iterable[str]) -> bool:
        """Atomically make this process the owner of a run whose status is one of `from_statuses`
        (status -> running, pid -> this process). False when another process claimed it first or
        its status changed: two `pepr resume` of one run cannot both train it."""
        statuses = list(from_statuses)
        pid = os.getpid()
        with self.transaction():
            cur = self.db.execute(
                "UPDATE runs SET status='running', reason='', message='', pid=?, pid_started=?, "
                f"host=?, updated_at=? WHERE id=? AND status IN ({','.join('?' * len(statuses))})",
                [pid, _process_start(pid), socket.gethostname(), time.time(), run_id, *statuses],
            )
            return cur.rowcount == 1

    def add_epoch(self, run_id: int, row: dict[str, Any], run_fields: dict[str, Any]) -> None:
        """One epoch and the run's running totals in one transaction: both land or neither."""
        row = {k: _encode(v) for k, v in row.items()}
        run_fields = {k: _encode(v) for k, v in run_fields.items()}
        run_fields["updated_at"] = time.time()
        with self.transaction():
            self.db["epochs"].upsert({"run_id": run_id, **row}, pk=("run_id", "epoch"))
            self.db["runs"].update(run_id, run_fields)

    def add_samples(self, rows: Iterable[dict[str, Any]]) -> None:
        rows = [{k: _encode(v) for k, v in r.items()} for r in rows]
        if rows:
            with self.transaction():
                self.db["samples"].insert_all(rows)

    def get_run(self, run_id: int) -> dict[str, Any]:
        rows = list(self.db.query("SELECT * FROM runs WHERE id=?", [run_id]))
        if not rows:
            raise StoreError(f"no run with id {run_id}; `pepr runs` lists the stored runs.")
        return self._decode_run(rows[0])

    def runs(
        self,
        dataset: str | None = None,
        status: str | None = None,
        ids: Iterable[int] | None = None,
        sweep_id: str | None = None,
    ) -> list[dict[str, Any]]:
        where: list[str] = []
        params: list[Any] = []
        if sweep_id is not None:
            where.append("sweep_id = ?")
            params.append(sweep_id)
        if dataset:
            where.append("dataset = ?")
            params.append(dataset)
        if status:
            where.append("status = ?")
            params.append(status)
        if ids is not None:
            ids = list(ids)
            where.append(f"id IN ({','.join('?' * len(ids))})")
            params.extend(ids)
        sql = "SELECT * FROM runs" + (" WHERE " + " AND ".join(where) if where else "")
        return [self._decode_run(r) for r in self.db.query(sql + " ORDER BY id", params)]

    def epochs(self, run_id: int) -> list[dict[str, Any]]:
        return [
            _decode_json(r, ("extra",))
            for r in self.db.query("SELECT * FROM epochs WHERE run_id=? ORDER BY epoch", [run_id])
        ]

    def samples(self, run_id: int) -> list[dict[str, Any]]:
        return [
            _decode_json(r, ("components",))
            for r in self.db.query("SELECT * FROM samples WHERE run_id=? ORDER BY t", [run_id])
        ]

    def run_owner_alive(self, row: dict[str, Any]) -> bool:
        """Whether a `running` run's process still runs (on another host: assumed so)."""
        if row.get("status") not in ACTIVE:
            return False
        if row.get("host") and row["host"] != socket.gethostname():
            return True
        started = _process_start(row["pid"]) if row.get("pid") else None
        return started is not None and (
            row.get("pid_started") is None or abs(started - row["pid_started"]) < 1.0
        )

    def delete_run(self, run_id: int) -> None:
        """Delete a run with its epochs, samples and files (its checkpoint). A run that a live
        process is training, here or in another PePR window or command, is refused."""
        row = self.get_run(run_id)
        if self.run_owner_alive(row):
            where = f"process {row['pid']}" + (
                f" on {row['host']}" if row.get("host") != socket.gethostname() else ""
            )
            raise StoreError(
                f"run {run_id} is being trained by {where}; stop it there first (Stop in Live "
                "training, Ctrl-C on the command line), then delete it."
            )
        with self.transaction():
            cur = self.db.execute(
                "DELETE FROM runs WHERE id=? AND status=? AND updated_at IS ?",
                [run_id, row["status"], row.get("updated_at")],
            )
            if cur.rowcount != 1:  # a resume claimed it (or it changed) since the check
                raise StoreError(
                    f"run {run_id} changed meanwhile (it may be training again); it "
                    "was not deleted. Look at it again, then retry."
                )
            self.db.execute("DELETE FROM samples WHERE run_id=?", [run_id])
            self.db.execute("DELETE FROM epochs WHERE run_id=?", [run_id])
        for path in self.run_files(run_id, row):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def run_files(self, run_id: int, row: dict[str, Any] | None = None) -> list[Path]:
        """The files in this database's files folder that belong to a run."""
        row = row if row is not None else self.get_run(run_id)
        ck_dir = self.data_dir / "checkpoints"
        found = {ck_dir / f"run_{run_id}.pt", ck_dir / f"run_{run_id}.pt.part"}  # .part: a kill
        if row.get("checkpoint"):
            ck = Path(row["checkpoint"])
            if ck.is_relative_to(self.data_dir):  # never a file outside the database's folder
                found.add(ck)
        return sorted(found)

    # ----------------------------------------------------------------- sweeps

    def add_sweep(self, row: dict[str, Any]) -> None:
        with self.transaction():
            self.db["sweeps"].insert({k: _encode(v) for k, v in row.items()})

    def get_sweep(self, sweep_id: str) -> dict[str, Any] | None:
        if "sweeps" not in self.db.table_names():  # a read-only store on a v1 file
            return None
        rows = list(self.db.query("SELECT * FROM sweeps WHERE id=?", [sweep_id]))
        return _decode_json(rows[0], ("spec",)) if rows else None

    def sweeps(self) -> list[dict[str, Any]]:
        if "sweeps" not in self.db.table_names():
            return []
        return [dict(r) for r in self.db.query("SELECT * FROM sweeps ORDER BY created_at")]

    def update_sweep(self, sweep_id: str, **fields: Any) -> None:
        with self.transaction():
            self.db["sweeps"].update(sweep_id, {k: _encode(v) for k, v in fields.items()})

    # ----------------------------------------------------------------- datasets

    def add_dataset(self, row: dict[str, Any]) -> None:
        row = self._encode_paths({k: _encode(v) for k, v in row.items()}, "path")
        row["created_at"] = time.time()
        with self.transaction():
            self.db["datasets"].upsert(row, pk="name")

    def datasets(self) -> list[dict[str, Any]]:
        return [
            self._decode_dataset(r) for r in self.db.query("SELECT * FROM datasets ORDER BY name")
        ]

    def get_dataset(self, name: str) -> dict[str, Any] | None:
        rows = list(self.db.query("SELECT * FROM datasets WHERE name=?", [name]))
        return self._decode_dataset(rows[0]) if rows else None

    # ----------------------------------------------------------------- rows in and out

    def _encode_paths(self, fields: dict[str, Any], key: str) -> dict[str, Any]:
        if key in fields:
            fields[key] = _to_stored(fields[key], self.data_dir)
        return fields

    def _decode_run(self, row: dict[str, Any]) -> dict[str, Any]:
        row = _decode_json(row, ("config", "extra", "evaluation", "node"))
        row["checkpoint"] = _from_stored(row.get("checkpoint"), self.data_dir)
        return row

    def _decode_dataset(self, row: dict[str, Any]) -> dict[str, Any]:
        row = _decode_json(row, ("class_names", "split_sizes"))
        row["path"] = _from_stored(row.get("path"), self.data_dir)
        return row

    @property
    def data_dir(self) -> Path:
        """Files that belong to this database (imported datasets, checkpoints) live beside it."""
        return self.path.parent / (self.path.stem + "_files")


def _v1_to_v2(db: sqlite_utils.Database, data_dir: Path) -> None:
    """v2: sweeps (issue 11) and the per-class evaluation of a finished run (issue 13)."""
    runs = db["runs"]
    cols = {c.name for c in runs.columns}
    if "sweep_id" not in cols:
        runs.add_column("sweep_id", str)
    if "evaluation" not in cols:
        runs.add_column("evaluation", str)  # JSON: confusion matrix, per-class P/R/F1, ROC
    db["sweeps"].create(
        {"id": str, "created_at": float, "spec": str, "status": str, "backend": str},
        pk="id",
        if_not_exists=True,
    )
    runs.create_index(["sweep_id"], if_not_exists=True)


def _v2_to_v3(db: sqlite_utils.Database, data_dir: Path) -> None:
    """v3: run ids are never reused (AUTOINCREMENT: a deleted run's id could otherwise return and
    meet its stale checkpoint), and files of the database are stored relative to its files folder,
    so that moving the folder keeps every model and dataset."""
    cols = ", ".join(f"[{c.name}]" for c in db["runs"].columns)
    sql = db.execute("SELECT sql FROM sqlite_master WHERE name='runs'").fetchone()[0]
    if "AUTOINCREMENT" not in sql.upper():
        new_sql = re.sub(r'^CREATE TABLE\s+["\[]?runs["\]]?', "CREATE TABLE [runs_v3]", sql)
        new_sql = re.sub(
            r'["\[]?id["\]]?\s+INTEGER\s+PRIMARY\s+KEY',
            "[id] INTEGER PRIMARY KEY AUTOINCREMENT",
            new_sql,
            count=1,
        )
        db.execute(new_sql)
        db.execute(f"INSERT INTO runs_v3 ({cols}) SELECT {cols} FROM runs")
        db.execute("DROP TABLE runs")
        db.execute("ALTER TABLE runs_v3 RENAME TO runs")
        for index in (["dataset"], ["status"], ["sweep_id"]):
            db["runs"].create_index(index, if_not_exists=True)
    for table, key, col in (("runs", "id", "checkpoint"), ("datasets", "name", "path")):
        rows = db.execute(f"SELECT {key}, {col} FROM {table} WHERE {col} IS NOT NULL").fetchall()
        for k, value in rows:
            stored = _to_stored(value, data_dir)
            db.execute(f"UPDATE {table} SET {col}=? WHERE {key}=?", [stored, k])


def _v3_to_v4(db: sqlite_utils.Database, data_dir: Path) -> None:
    """v4: which node and worker process trained a run that another process records (a Ray
    sweep job, issue 18): `node`, JSON {"id", "ip", "host", "pid"}. `pid` stays the writer's (the
    sweep driver: what liveness checks); NULL for a run trained by the process that writes it."""
    runs = db["runs"]
    if "node" not in {c.name for c in runs.columns}:
        runs.add_column("node", str)


# from version -> function bringing it to version+1
MIGRATIONS: dict[int, Any] = {1: _v1_to_v2, 2: _v2_to_v3, 3: _v3_to_v4}


def _to_stored(value: Any, data_dir: Path) -> Any:
    """A path inside the database's files folder is stored relative to it (portable)."""
    if not value:
        return value
    p = Path(value)
    if p.is_absolute():
        with contextlib.suppress(ValueError):
            return p.relative_to(data_dir).as_posix()
    return str(value)


def _from_stored(value: Any, data_dir: Path) -> Any:
    if not value or not isinstance(value, str):
        return value
    p = Path(value)
    return value if p.is_absolute() else str(data_dir / p)


def _rollback(conn: sqlite3.Connection) -> None:
    """ROLLBACK unless SQLite already rolled back itself (it does on SQLITE_FULL): a failing
    rollback must not replace the error that caused it."""
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


def _encode(v: Any) -> Any:
    if isinstance(v, (dict, list, tuple)):
        return json.dumps(v)
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, Path):
        return str(v)
    return v


def _decode_json(row: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    row = dict(row)
    for k in keys:
        if isinstance(row.get(k), str):
            with contextlib.suppress(json.JSONDecodeError):
                row[k] = json.loads(row[k])
    return row

"""Rotating online backups, the integrity check, and recovery of damaged databases.

Files are damaged the way disks and crashes damage them: page 1 overwritten, the file truncated,
one b-tree page in the middle overwritten. Damage is done only to closed files (open() on a live
database would drop SQLite's locks, which is exactly what the store must never do).
"""

from __future__ import annotations

import hashlib
import os
import random
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from pepr_desktop.core.errors import StoreError
from pepr_desktop.core.store import Store, backup

PAGE = 4096
BATCH = 50


def _fill(store: Store, runs: int, samples: int = 300, epochs: int = 3) -> list[int]:
    ids = []
    for i in range(runs):
        rid = store.create_run(name=f"run{i}", dataset="pneu", model="m", config={"i": i})
        for e in range(epochs):
            store.add_epoch(rid, {"epoch": e, "train_loss": 1.0 / (e + 1)}, {"epochs_done": e + 1})
        store.add_samples(
            [
                {"run_id": rid, "t": float(k), "power_w": 10.0 + k, "energy_j": 1.0, "method": "m"}
                for k in range(samples)
            ]
        )
        ids.append(rid)
    return ids


def _rows(path: Path) -> dict[str, set[tuple[Any, ...]]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {
            t: set(conn.execute(f"SELECT * FROM {t}").fetchall())
            for t in ("runs", "epochs", "samples", "datasets")
        }
    finally:
        conn.close()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _damage_page(path: Path, pageno: int, seed: int = 0) -> None:
    """Overwrite one page of a closed file with random bytes (an invalid b-tree page type)."""
    junk = bytearray(random.Random(seed).randbytes(PAGE))
    junk[0] = 0xFF
    with open(path, "r+b") as fh:
        fh.seek((pageno - 1) * PAGE)
        fh.write(junk)


def _leaves(path: Path, table: str) -> list[tuple[int, int]]:
    """(page number, cells) of the table's leaf pages in key order (dbstat)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [
            (r[0], r[1])
            for r in conn.execute(
                "SELECT pageno, ncell FROM dbstat WHERE name=? AND pagetype='leaf' ORDER BY path",
                [table],
            )
        ]
    finally:
        conn.close()


def _integrity(path: Path) -> str:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


# ----------------------------------------------------------------------------- backups


def test_backup_is_a_checked_copy_beside_the_database(store: Store) -> None:
    _fill(store, 3)
    path = backup.make_backup(store, None, "start")
    assert path is not None and path.parent == store.data_dir / "backups"
    assert path.name.startswith("pepr-") and path.name.endswith("-start.sqlite")
    assert _integrity(path) == "ok"
    assert not list(path.parent.glob("*.partial")) and not Path(str(path) + "-wal").exists()
    [info] = backup.list_backups(store.path)
    assert info.path == path and info.ok and info.runs == 3 and info.reason == "start"
    assert info.size == path.stat().st_size
    assert _rows(path) == _rows(store.path)


def test_unchanged_database_is_not_backed_up_again_unless_forced(store: Store) -> None:
    _fill(store, 1)
    first = backup.make_backup(store, None, "start")
    assert backup.backup_now(store, None, "start").status == "unchanged"
    assert backup.make_backup(store, None, "start") == first  # the state is saved there
    assert len(backup.list_backups(store.path)) == 1
    store.update_run(1, name="renamed")
    assert backup.backup_now(store, None, "run").status == "written"
    assert backup.backup_now(store, None, "manual", force=True).status == "written"
    assert len(backup.list_backups(store.path)) == 3


def test_rotation_keeps_the_newest_n(store: Store) -> None:
    made = []
    for i in range(7):
        store.create_run(name=f"r{i}")
        made.append(backup.make_backup(store, None, "run", keep=3))
    kept = [b.path for b in backup.list_backups(store.path)]
    assert kept == made[:-4:-1]  # the three newest, newest first
    assert [b.runs for b in backup.list_backups(store.path)] == [7, 6, 5]


def test_rotation_respects_the_size_bound(store: Store, monkeypatch) -> None:
    _fill(store, 2)
    monkeypatch.setattr(backup, "MIN_BUDGET_BYTES", 0)  # budget: 3 x the database's size
    for i in range(6):
        store.create_run(name=f"r{i}")
        backup.make_backup(store, None, "run", keep=10)
    items = backup.list_backups(store.path)
    db_size = items[0].size
    assert len(items) == 3 and sum(b.size for b in items) <= 3 * db_size
    # a budget smaller than one backup still keeps the newest (never the only good one deleted)
    monkeypatch.setattr(backup, "SIZE_FACTOR", 0)
    monkeypatch.setattr(backup, "MIN_BUDGET_BYTES", 1)
    store.create_run(name="last")
    newest = backup.make_backup(store, None, "run")
    assert [b.path for b in backup.list_backups(store.path)] == [newest]


def test_backup_needs_free_disk_space(store: Store, monkeypatch) -> None:
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda _p: usage(10**9, 10**9, 1000))
    result = backup.backup_now(store, None, "start")
    assert result.status == "skipped" and "free disk space" in result.message
    assert backup.make_backup(store, None, "start") is None
    assert backup.list_backups(store.path) == []


def test_backup_is_consistent_while_another_connection_writes(store: Store) -> None:
    """A writer commits one epoch (and the run's epochs_done) plus a batch of samples per
    transaction pair, as fast as it can; every backup taken meanwhile is a consistent snapshot."""
    rid = store.create_run(name="busy")
    stop = threading.Event()
    written = [0]

    def writer() -> None:
        w = Store(store.path)
        try:
            e = 0
            while not stop.is_set():
                with w.transaction():
                    w.db["epochs"].insert({"run_id": rid, "epoch": e})
                    w.db["runs"].update(rid, {"epochs_done": e + 1})
                    w.db["samples"].insert_all(
                        [{"run_id": rid, "t": e + k / BATCH, "power_w": 1.0} for k in range(BATCH)]
                    )
                e += 1
                written[0] = e
        finally:
            w.close()

    th = threading.Thread(target=writer)
    th.start()
    try:
        seen = []
        deadline = time.monotonic() + 30
        while len(seen) < 5 and time.monotonic() < deadline:
            before = written[0]
            path = backup.make_backup(store, None, "run", keep=10, force=True)
            assert path is not None
            conn = sqlite3.connect(path)
            try:
                assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
                done = conn.execute("SELECT epochs_done FROM runs WHERE id=?", [rid]).fetchone()[0]
                epochs = conn.execute("SELECT count(*) FROM epochs").fetchone()[0]
                samples = conn.execute("SELECT count(*) FROM samples").fetchone()[0]
            finally:
                conn.close()
            assert (done or 0) == epochs and samples == epochs * BATCH
            assert epochs >= before
            seen.append(epochs)
            time.sleep(0.02)
    finally:
        stop.set()
        th.join(30)
    assert len(seen) == 5 and seen[-1] > seen[0], seen  # the writer was writing meanwhile


def test_damaged_database_makes_no_backup_and_keeps_the_old_ones(tmp_path: Path) -> None:
    db = tmp_path / "pepr.sqlite"
    with Store(db) as s:
        _fill(s, 3)
        good = backup.make_backup(s, None, "start")
        s.create_run(name="after the backup")  # so that the database changed since
    _damage_page(db, _leaves(db, "samples")[1][0])
    result = backup.backup_now(None, db, "start")
    assert result.status == "damaged" and result.path is None
    assert backup.make_backup(None, db, "start") is None
    assert [b.path for b in backup.list_backups(db)] == [good]
    assert not list((tmp_path / "pepr_files" / "backups").glob(".*partial"))


def test_list_backups_flags_a_damaged_backup(store: Store) -> None:
    _fill(store, 2)
    first = backup.make_backup(store, None, "start")
    store.create_run(name="later")
    second = backup.make_backup(store, None, "run")
    _damage_page(second, _leaves(second, "samples")[0][0])
    items = backup.list_backups(store.path, thorough=True)
    assert [(b.path, b.ok) for b in items] == [(second, False), (first, True)]
    assert backup.newest_good_backup(store.path).path == first


def test_backup_of_a_missing_database_is_skipped(tmp_path: Path) -> None:
    assert backup.backup_now(None, tmp_path / "none.sqlite").status == "skipped"
    assert not (tmp_path / "none.sqlite").exists()


# ----------------------------------------------------------------------------- check


def test_check_ok(store: Store) -> None:
    _fill(store, 2)
    report = backup.check(store.path)
    assert report.ok and report.verdict == "ok" and report.problems == []
    assert report.counts == {"runs": 2, "epochs": 6, "samples": 600, "datasets": 0}
    assert report.schema_version is not None and report.to_dict()["ok"] is True


def test_check_page_one_overwritten(tmp_path: Path) -> None:
    db = tmp_path / "pepr.sqlite"
    with Store(db) as s:
        _fill(s, 2)
    with open(db, "r+b") as fh:
        fh.write(random.Random(1).randbytes(PAGE))
    report = backup.check(db)
    assert report.status == "not_sqlite" and report.damaged and not report.ok
    assert report.verdict.startswith("not a SQLite file")


def test_check_truncated_file(tmp_path: Path) -> None:
    db = tmp_path / "pepr.sqlite"
    with Store(db) as s:
        _fill(s, 4)
    size = db.stat().st_size
    with open(db, "r+b") as fh:
        fh.truncate(size // 2)
    report = backup.check(db)
    assert report.status == "damaged" and report.verdict.startswith("damaged: ")


def test_check_middle_page_damaged(tmp_path: Path) -> None:
    db = tmp_path / "pepr.sqlite"
    with Store(db) as s:
        _fill(s, 4)
    _damage_page(db, _leaves(db, "samples")[2][0])
    digest = _digest(db)
    report = backup.check(db)
    assert report.status == "damaged" and report.verdict.startswith("damaged: ")
    assert report.counts["runs"] == 4
    assert _digest(db) == digest  # read-only


def test_check_missing_and_folder(tmp_path: Path) -> None:
    report = backup.check(tmp_path / "nope.sqlite")
    assert report.status == "missing" and not (tmp_path / "nope.sqlite").exists()
    with pytest.raises(StoreError, match="folder"):
        backup.check(tmp_path)


# ----------------------------------------------------------------------------- recover


def _scenario(tmp_path: Path) -> tuple[Path, Path]:
    """A database with a backup, then more runs, epochs and samples, and run 1 finished later."""
    db = tmp_path / "pepr.sqlite"
    with Store(db) as s:
        s.backup = lambda reason="": None  # this scenario's only backup is the one made here
        _fill(s, 3, samples=600)
        made = backup.make_backup(s, None, "start")
        _fill(s, 2, samples=600)
        s.update_run(1, status="finished", test_acc=0.9)
        s.add_dataset({"name": "later", "source": "npz", "n_classes": 2})
    assert made is not None
    return db, made


def test_recover_restores_the_backup_and_salvages_later_rows(tmp_path: Path) -> None:
    db, made = _scenario(tmp_path)
    before = _rows(db)
    leaves = _leaves(db, "samples")
    _damage_page(db, leaves[1][0])  # rows that the backup holds too
    damaged_bytes = _digest(db)
    assert not backup.check(db).ok

    report = backup.recover(db)

    assert report.backup == made and report.damaged_copy is not None
    assert report.damaged_copy.name.startswith("pepr.sqlite.damaged-")
    assert _digest(report.damaged_copy) == damaged_bytes  # kept byte for byte
    assert report.restored["runs"] == 3 and report.restored["samples"] == 1800
    assert report.salvaged["runs"] == 2 and report.salvaged["samples"] == 1200
    assert report.salvaged["epochs"] == 6 and report.salvaged["datasets"] == 1
    assert report.updated["runs"] >= 1  # run 1 finished after the backup
    assert "samples" in report.unreadable
    assert report.verdict == "ok" and _integrity(db) == "ok"
    assert _rows(db) == before  # nothing lost: the damaged rows were in the backup
    with Store(db) as s:
        assert s.get_run(1)["status"] == "finished" and len(s.runs()) == 5
    text = "\n".join(report.lines())
    assert "kept as" in text and "--db" not in text and "pepr " not in text


def test_recover_loses_only_the_unreadable_rows_newer_than_the_backup(tmp_path: Path) -> None:
    db, _made = _scenario(tmp_path)
    before = _rows(db)
    leaves = _leaves(db, "samples")
    page, cells = leaves[-2]  # rows written after the backup
    conn = sqlite3.connect(db)
    offset = sum(n for _p, n in leaves[:-2])
    lost = {
        r
        for r in conn.execute(
            "SELECT * FROM samples WHERE rowid > ? AND rowid <= ?", [offset, offset + cells]
        )
    }
    conn.close()
    assert len(lost) == cells and all(r[0] > 3 for r in lost)
    _damage_page(db, page)

    report = backup.recover(db)

    after = _rows(db)
    for table in ("runs", "epochs", "datasets"):
        assert after[table] == before[table], table
    assert after["samples"] == before["samples"] - lost
    assert report.unreadable["samples"].startswith(f"about {cells} row(s)")
    assert _integrity(db) == "ok"


def test_recover_salvages_rows_that_were_only_in_the_wal(tmp_path: Path) -> None:
    """A crashed writer leaves its last transactions in the -wal; they move aside with the file
    and are salvaged from there."""
    db = tmp_path / "pepr.sqlite"
    with Store(db) as s:
        _fill(s, 3, samples=600)
        backup.make_backup(s, None, "start")
    code = (
        "import os, sys\n"
        "from pepr_desktop.core.store import Store\n"
        "s = Store(sys.argv[1])\n"
        "for i in range(3): s.create_run(name=f'crash{i}')\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", code, str(db)], check=True, timeout=120)
    assert Path(str(db) + "-wal").stat().st_size > 0
    _damage_page(db, _leaves(db, "samples")[1][0])  # a page the wal does not hold

    report = backup.recover(db)

    assert Path(str(report.damaged_copy) + "-wal").exists()
    assert report.salvaged["runs"] == 3
    with Store(db) as s:
        assert sorted(r["name"] for r in s.runs())[:3] == ["crash0", "crash1", "crash2"]


def test_recover_after_page_one_is_overwritten_restores_the_backup(tmp_path: Path) -> None:
    db, made = _scenario(tmp_path)
    with open(db, "r+b") as fh:
        fh.write(random.Random(2).randbytes(PAGE))
    report = backup.recover(db)
    assert report.backup == made and report.restored["runs"] == 3
    assert "(all tables)" in report.unreadable
    assert report.damaged_copy.exists() and _integrity(db) == "ok"
    with Store(db) as s:
        assert len(s.runs()) == 3


def test_recover_without_a_backup_salvages_into_a_new_file(tmp_path: Path) -> None:
    db = tmp_path / "pepr.sqlite"
    with Store(db) as s:
        _fill(s, 4, samples=600)
    before = _rows(db)
    page, cells = _leaves(db, "samples")[3]
    _damage_page(db, page)
    report = backup.recover(db)
    assert report.backup is None and report.restored == {}
    after = _rows(db)
    assert after["runs"] == before["runs"] and after["epochs"] == before["epochs"]
    assert len(after["samples"]) == len(before["samples"]) - cells
    assert after["samples"] <= before["samples"]
    with Store(db) as s:
        assert len(s.runs()) == 4 and s.schema_version() >= 2


def test_recover_a_named_backup_and_refuse_a_damaged_one(tmp_path: Path) -> None:
    db, made = _scenario(tmp_path)
    with Store(db) as s:
        s.create_run(name="newest")
        newer = backup.make_backup(s, None, "run")
    _damage_page(newer, _leaves(newer, "samples")[0][0])
    _damage_page(db, _leaves(db, "samples")[1][0])
    digest = _digest(db)
    with pytest.raises(StoreError, match="is damaged"):
        backup.recover(db, backup=newer)
    with pytest.raises(StoreError, match="does not exist"):
        backup.recover(db, backup=tmp_path / "none.sqlite")
    assert _digest(db) == digest
    report = backup.recover(db, backup=made)
    assert report.backup == made and report.salvaged["runs"] == 3


def test_recover_refuses_when_there_is_nothing_to_do(tmp_path: Path) -> None:
    db = tmp_path / "pepr.sqlite"
    with Store(db) as s:
        _fill(s, 1)
    with pytest.raises(StoreError, match="nothing to recover"):
        backup.recover(db)
    with open(db, "r+b") as fh:
        fh.write(random.Random(3).randbytes(PAGE))
    digest = _digest(db)
    with pytest.raises(StoreError, match="no good backup"):
        backup.recover(db)
    assert _digest(db) == digest
    assert {p.name for p in tmp_path.iterdir()} <= {
        "pepr.sqlite",
        "pepr.sqlite-wal",
        "pepr.sqlite-shm",
    }


def test_recover_refuses_while_another_process_has_the_file_open(tmp_path: Path) -> None:
    db, _made = _scenario(tmp_path)
    _damage_page(db, _leaves(db, "samples")[1][0])
    code = (
        "import sqlite3, sys, time\n"
        "c = sqlite3.connect(sys.argv[1]); c.execute('SELECT count(*) FROM runs').fetchall()\n"
        "print('open', flush=True); time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code, str(db)], stdout=subprocess.PIPE)
    try:
        assert child.stdout.readline().strip() == b"open"
        with pytest.raises(StoreError, match="in use by another program"):
            backup.recover(db)
        assert not list(tmp_path.glob("*.damaged-*"))
    finally:
        child.kill()
        child.wait()
    assert backup.recover(db).verdict == "ok"


def test_recover_that_fails_puts_the_file_back(tmp_path: Path, monkeypatch) -> None:
    db, _made = _scenario(tmp_path)
    _damage_page(db, _leaves(db, "samples")[1][0])
    digest = _digest(db)

    def broken(*_a: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(backup, "_salvage", broken)
    with pytest.raises(StoreError, match=r"failed \(disk I/O error\) and nothing changed"):
        backup.recover(db)
    assert _digest(db) == digest
    assert not list(tmp_path.glob("*.damaged-*")) and not list(tmp_path.glob(".*recovering*"))


def test_recover_of_a_deleted_database_restores_its_newest_backup(tmp_path: Path) -> None:
    db, made = _scenario(tmp_path)
    db.unlink()
    report = backup.recover(db)
    assert report.backup == made and report.damaged_copy is None
    with Store(db) as s:
        assert len(s.runs()) == 3


def test_recover_uses_sqlite3_recover_where_it_works(tmp_path: Path, monkeypatch) -> None:
    """A stand-in for a sqlite3 program whose `.recover` works (the Debian one lacks the
    sqlite_dbpage table it needs): it 'recovers' every row, including those on the damaged page;
    they are merged after the row-by-row pass, without duplicates."""
    db, _made = _scenario(tmp_path)
    ref = tmp_path / "reference.sqlite"
    src, dst = sqlite3.connect(db), sqlite3.connect(ref)
    src.backup(dst)
    src.close()
    dst.close()
    before = _rows(db)
    _damage_page(db, _leaves(db, "samples")[-2][0])
    fake = tmp_path / "sqlite3"
    fake.write_text(
        f"#!{sys.executable}\n"
        "import sqlite3, sys\n"
        "if sys.argv[1] == '-readonly':\n"
        "    assert sys.argv[3].startswith('.recover')\n"
        f"    for line in sqlite3.connect({str(ref)!r}).iterdump(): print(line)\n"
        "else:\n"
        "    sqlite3.connect(sys.argv[1]).executescript(sys.stdin.read())\n"
    )
    fake.chmod(0o755)
    monkeypatch.setattr(backup, "SQLITE3_CLI", str(fake))
    report = backup.recover(db)
    assert report.methods == ["backup", "row-by-row", "sqlite3 .recover"]
    assert any(".recover found" in n for n in report.notes)
    assert _rows(db) == before
    assert _integrity(db) == "ok"


def test_recover_without_a_working_sqlite3_program(tmp_path: Path, monkeypatch) -> None:
    db, _made = _scenario(tmp_path)
    _damage_page(db, _leaves(db, "samples")[1][0])
    monkeypatch.setattr(backup, "SQLITE3_CLI", str(tmp_path / "no-such-program"))
    report = backup.recover(db)
    assert report.methods == ["backup", "row-by-row"] and report.verdict == "ok"


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
def test_check_unreadable_file_is_a_user_error(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads everything")
    db = tmp_path / "pepr.sqlite"
    with Store(db) as s:
        _fill(s, 1)
    db.chmod(0)
    try:
        with pytest.raises(StoreError, match="not readable"):
            backup.check(db)
    finally:
        db.chmod(0o644)

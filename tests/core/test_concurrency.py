"""Concurrent use: several processes writing one database at once (a CLI training while the GUI or
another CLI writes): busy timeout + short BEGIN IMMEDIATE transactions, so writers queue instead
of failing with "database is locked", and nothing written is lost."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from pepr_desktop.core.store import Store
from tests.conftest import TINY_MODEL

ROOT = Path(__file__).resolve().parents[2]

# A second writer: as many small runs as it can (each: create, one epoch + totals in one
# transaction, samples, final status) until told to stop; prints how many it completed.
WRITER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from pepr_desktop.core.store import Store
    db, stop, tag, limit = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    s = Store(db)
    ids = []
    while not stop.exists() and len(ids) < limit:
        rid = s.create_run(dataset="conc", model=tag, config={"i": len(ids)})
        s.add_epoch(rid, {"epoch": 0, "train_loss": 1.0 / (len(ids) + 1)}, {"epochs_done": 1})
        s.add_samples([{"run_id": rid, "t": float(k), "power_w": 1.0} for k in range(5)])
        s.update_run(rid, status="finished")
        ids.append(rid)
        time.sleep(0.01)  # a busy GUI's pace, not a CPU hog beside the training
    print(json.dumps(ids))
    """
)


def _writer(db: Path, stop: Path, tag: str, limit: int = 100_000) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db), str(stop), tag, str(limit)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def _check_writer(proc: subprocess.Popen, store: Store, tag: str) -> list[int]:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "locked" not in err.lower()
    ids = json.loads(out)
    runs = {r["id"]: r for r in store.runs() if r["model"] == tag}
    assert sorted(runs) == ids  # every run it wrote is there, none extra
    for i, rid in enumerate(ids):
        assert runs[rid]["status"] == "finished" and runs[rid]["config"] == {"i": i}
        assert [e["train_loss"] for e in store.epochs(rid)] == [1.0 / (i + 1)]
        assert len(store.samples(rid)) == 5
    return ids


def test_training_and_a_writer_share_the_database(tmp_path: Path) -> None:
    db = tmp_path / "shared.sqlite"
    Store(db).close()
    stop = tmp_path / "stop"
    trainer = subprocess.Popen(
        [
            sys.executable, "-m", "pepr_desktop.cli", "--db", str(db), "train", "--data",
            "sample", "--model", TINY_MODEL, "--epochs", "2", "--data-fraction", "0.1",
            "--no-meter", "--device", "cpu", "--json",
        ],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    writer = _writer(db, stop, "writer")
    out, err = trainer.communicate(timeout=300)
    stop.touch()
    assert trainer.returncode == 0, err
    assert "locked" not in err.lower()
    run = json.loads(out)
    store = Store(db)
    ids = _check_writer(writer, store, "writer")
    assert len(ids) >= 5  # the writer really ran alongside the training
    stored = store.get_run(run["id"])
    assert stored["status"] == "finished" and stored["epochs_done"] == 2
    assert [e["epoch"] for e in store.epochs(run["id"])] == [0, 1]
    assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_writers_wait_out_a_long_exclusive_lock(tmp_path: Path) -> None:
    """Another program holds the write lock for 2 s (shorter than the busy timeout): two writers
    wait for it rather than fail, and all their rows land."""
    db = tmp_path / "locked.sqlite"
    Store(db).close()
    stop = tmp_path / "stop"
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO meta(key, value) VALUES ('held', 'yes')")
    writers = [_writer(db, stop, f"w{i}", limit=40) for i in range(2)]
    time.sleep(2.0)
    holder.execute("COMMIT")
    holder.close()
    store = Store(db)
    counts = [len(_check_writer(w, store, f"w{i}")) for i, w in enumerate(writers)]
    assert counts == [40, 40]
    assert len(store.runs()) == 80
    assert store.db.execute("SELECT value FROM meta WHERE key='held'").fetchone()[0] == "yes"

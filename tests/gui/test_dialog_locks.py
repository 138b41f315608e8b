"""Issue 16: file dialogs in the GUI process must not be able to corrupt the database.

The real failure: with the store open in WAL mode in the GUI process, a QFileDialog listing the
database's folder opened and closed `pepr.sqlite`, `-wal`, `-shm` to sniff their type, which on
POSIX released the process's SQLite locks; the next CLI process then checkpointed and deleted the
WAL the GUI was still writing through, and committed runs were lost or the file was damaged.
tests/gui/dialog_lock_gui.py drives a real AppContext in a process of its own for 50 rounds.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import write_npz

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 50


def _tiny_npz(path: Path) -> Path:
    return write_npz(path, (12, 6, 6), side=8)


@pytest.mark.timeout(600)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc and POSIX locks")
def test_dialogs_and_cli_never_lose_or_damage_runs(tmp_path: Path) -> None:
    db = tmp_path / "lab" / "pepr.sqlite"
    db.parent.mkdir()
    env = {
        **os.environ,
        "PEPR_DB": str(db),
        "PEPR_SETTINGS": str(tmp_path / "settings.ini"),
        "PEPR_CACHE": str(tmp_path / "cache"),
        "QT_QPA_PLATFORM": "offscreen",
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tests/gui/dialog_lock_gui.py"),
            str(db),
            str(ROUNDS),
            str(_tiny_npz(tmp_path / "tiny.npz")),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=580,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    out = proc.stdout + proc.stderr
    assert summary["problems"] == [], summary["problems"]
    assert "database is locked" not in out and "file is not a database" not in out
    assert len(summary["written"]) == ROUNDS

    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        epochs = dict(conn.execute("SELECT run_id, count(*) FROM epochs GROUP BY run_id"))
        finished = {r for (r,) in conn.execute("SELECT id FROM runs WHERE status='finished'")}
        datasets = conn.execute("SELECT count(*) FROM datasets").fetchone()[0]
    finally:
        conn.close()
    written = {int(k): v for k, v in summary["written"].items()}
    assert {r: epochs.get(r, 0) for r in written} == written  # every epoch of every run
    assert finished == set(written)
    assert datasets == ROUNDS  # every CLI write kept too

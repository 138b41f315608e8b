"""Issue 16: the GUI cannot delete a run that another process (a `pepr train`) is training."""

from __future__ import annotations

import subprocess
import sys

import psutil
from PySide6.QtWidgets import QMessageBox


def test_delete_refuses_a_run_a_cli_process_trains(window, dialogs, monkeypatch) -> None:
    trainer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        store = window.ctx.store
        rid = store.create_run(model="m", dataset="sample")
        store.update_run(
            rid, pid=trainer.pid, pid_started=psutil.Process(trainer.pid).create_time()
        )
        window.ctx.runs_changed.emit()
        window.runs.select_ids([rid])
        monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
        window.runs.delete()
        assert store.get_run(rid)["status"] == "running"  # still there, still training
        [(title, text)] = dialogs
        assert title == "Delete failed" and f"being trained by process {trainer.pid}" in text
    finally:
        trainer.kill()
        trainer.wait()

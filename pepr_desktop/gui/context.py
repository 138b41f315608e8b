"""What every view shares: the settings, the GUI thread's store, the workers, and error dialogs.

The GUI thread keeps its own `RemoteStore` for reading and small edits (rename, tag, delete);
training and recommendation open theirs in the worker thread. All of them are served by the store
process: the GUI process holds no SQLite connection, so no file dialog can release its locks.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from pepr_desktop.core.errors import UserError
from pepr_desktop.core.store.remote import RemoteBackup, RemoteStore
from pepr_desktop.gui import main_thread_gc
from pepr_desktop.gui.gui_text import for_gui
from pepr_desktop.gui.settings import AppSettings
from pepr_desktop.gui.worker import TaskWorker, TrainingWorker

log = logging.getLogger(__name__)


def show_error(parent: QWidget | None, title: str, message: str) -> None:
    """Every user-facing problem ends here: one dialog, one clear message in the GUI's words
    (gui_text.for_gui names the menu or field beside any command-line hint), never a traceback."""
    log.info("%s: %s", title, message)
    QMessageBox.warning(parent, title, for_gui(message))


def make_meter_settings(settings: AppSettings) -> Any:
    """The user's metering settings as `core.metering.MeterSettings` (None: bad values). Sweeps
    ship these to their jobs; local runs build a factory from them."""
    from pepr_desktop.core.metering import MeterSettings

    wanted = {
        "region": settings.region or None,
        "carbon_intensity_g_per_kwh": settings.carbon_intensity,
        "cpu_tdp_w": settings.cpu_watts,
        "pue": settings.pue,
        "idle_baseline_s": settings.idle_baseline_s,
    }
    kwargs = {k: v for k, v in wanted.items() if v is not None}
    try:
        return MeterSettings(**kwargs)
    except Exception:  # a meter must never stop training
        log.exception("meter settings rejected; energy will be unavailable")
        return None


def make_meter_factory(settings: AppSettings) -> Any:
    """`core.metering.meter_factory(MeterSettings(...))`, or None when the settings or the meter
    set-up fail (runs then record energy as unavailable, never as 0)."""
    ms = make_meter_settings(settings)
    if ms is None:
        return None
    from pepr_desktop.core.metering import meter_factory

    try:
        return meter_factory(ms)
    except Exception:  # a meter must never stop training
        log.exception("meter set-up failed; energy will be unavailable")
        return None


class AppContext(QObject):
    """Shared state of one main window."""

    db_changed = Signal()  # a different database was opened
    runs_changed = Signal()  # a run was added, finished, renamed or deleted
    datasets_changed = Signal()
    status_message = Signal(str)
    database_damaged = Signal(str, str)  # path, what the integrity check found (from a thread)

    def __init__(self, settings: AppSettings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        main_thread_gc.install()  # before any worker: cycles are freed on this thread only
        self.settings = settings
        self.store: RemoteStore = RemoteStore(settings.db_path)
        self._backup_in_background("start")
        self.training = TrainingWorker(lambda: self.store.path, self.meter_factory, self)
        self.tasks = TaskWorker(self)
        self.meter_method = "not measured yet"

    def _backup_in_background(self, reason: str) -> None:
        """A rotating backup of the database just opened, made by the store process while the
        window builds (a few hundred ms for a 10 MB file; skipped when nothing changed)."""
        path = self.store.path

        def run() -> None:
            try:
                result = RemoteBackup().backup_now(None, path, reason)
            except Exception:  # a backup must never stop the app
                log.exception("start-up backup of %s failed", path)
                return
            log.info("start-up backup of %s: %s", path, result.message)
            if result.status == "damaged":  # the copy failed its integrity check
                self.database_damaged.emit(str(path), result.message)

        threading.Thread(target=run, name="pepr-backup", daemon=True).start()

    def meter_factory(self) -> Any:
        return make_meter_factory(self.settings)

    def shutdown(self) -> None:
        """After the workers ended: drop events still queued for the views, close the store."""
        self.training.blockSignals(True)
        self.tasks.blockSignals(True)
        self.blockSignals(True)
        self.store.close()

    def release_store(self) -> None:
        """Close the GUI thread's connection (in the store process) until `open_db`."""
        self.store.close()

    def open_db(self, path: Path) -> None:
        """Switch databases; raises StoreError (a UserError) and keeps the old one on failure."""
        if self.training.busy:
            raise UserError("a run is training; stop it before opening another database.")
        new = RemoteStore(path)
        self.store.close()
        self.store = new
        self._backup_in_background("start")
        self.settings.db_path = path
        self.db_changed.emit()
        self.runs_changed.emit()
        self.datasets_changed.emit()

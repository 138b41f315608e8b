"""The main window: four views in tabs, menus, a status bar (device, meter method, database), and
a banner that offers to resume runs a crash interrupted."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction, QCloseEvent, QGuiApplication, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from pepr_desktop import __version__
from pepr_desktop.core.devices import list_devices
from pepr_desktop.core.errors import StoreError, UserError
from pepr_desktop.gui import file_dialogs
from pepr_desktop.gui.context import AppContext, show_error
from pepr_desktop.gui.recovery_dialog import offer_recovery
from pepr_desktop.gui.settings import QUEUE_BACKENDS, THEMES, AppSettings
from pepr_desktop.gui.views.experiment import ExperimentView
from pepr_desktop.gui.widgets.lazy_tabs import LazyTabs
from pepr_desktop.resources_path import resource

if TYPE_CHECKING:  # imported when their tab is first needed: they load pyqtgraph (issue 20)
    from pepr_desktop.gui.views.compare import CompareView
    from pepr_desktop.gui.views.runs import RunsView
    from pepr_desktop.gui.views.training import TrainingView

log = logging.getLogger(__name__)

ABOUT_HTML = f"""
<h3>PePR Desktop {__version__}</h3>
<p>Choose, train and compare image models under a compute budget, scored by PePR
(performance per resource unit).</p>
<p>Licence: MIT.</p>
<p>Please cite PePR: R. Selvan, B. Pepin, C. Igel, G. Samuel, E. B. Dam, “PePR: Performance Per
Resource Unit as a Metric to Promote Small-Scale Deep Learning”, NLDL 2025,
arXiv:2403.12562.</p>
<p>MedMNIST data are licensed CC BY 4.0: J. Yang et al., “MedMNIST v2 — A large-scale lightweight
benchmark for 2D and 3D biomedical image classification”, Scientific Data 10, 41 (2023).</p>
"""


def default_size(widget: QWidget) -> tuple[int, int]:
    """1360x860, or the screen's free area when it is smaller (a 1280x720 laptop)."""
    screen = widget.screen() or QGuiApplication.primaryScreen()
    if screen is None:
        return 1360, 860
    free = screen.availableGeometry()
    return min(1360, free.width()), min(860, free.height())


class ResumeBanner(QFrame):
    """'N runs were interrupted: Resume / Show in Runs / Dismiss', above the tabs."""

    resume_all = Signal()
    show_runs = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.run_ids: list[int] = []
        row = QHBoxLayout(self)
        row.setContentsMargins(10, 4, 10, 4)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.resume_btn = QPushButton("Resume")
        self.resume_btn.setObjectName("primary")
        self.resume_btn.clicked.connect(self.resume_all)
        self.show_btn = QPushButton("Show in Runs")
        self.show_btn.clicked.connect(self.show_runs)
        self.dismiss_btn = QPushButton("Not now")
        self.dismiss_btn.clicked.connect(self.hide)
        row.addWidget(self.text, 1)
        for b in (self.resume_btn, self.show_btn, self.dismiss_btn):
            row.addWidget(b)
        self.hide()

    def set_runs(self, runs: list[dict]) -> None:
        self.run_ids = [int(r["id"]) for r in runs]
        if not runs:
            self.hide()
            return
        shown = ", ".join(
            f"#{r['id']} {r.get('model')} ({r.get('epochs_done') or 0} of "
            f"{r.get('epochs_planned') or '?'} epochs)"
            for r in runs[:3]
        ) + (f" and {len(runs) - 3} more" if len(runs) > 3 else "")
        n = len(runs)
        self.text.setText(
            f"{n} run{'s were' if n > 1 else ' was'} interrupted before {'they' if n > 1 else 'it'}"
            f" finished: {shown}. Resume continues from the last finished epoch."
        )
        self.resume_btn.setText("Resume all" if n > 1 else "Resume")
        self.show()


def icon(name: str) -> QIcon:
    path = resource("icons", f"{name}.svg")
    return QIcon(str(path)) if path.is_file() else QIcon()


class SettingsDialog(QDialog):
    """Region / carbon intensity, CPU watts, theme. Values apply to runs started afterwards."""

    def __init__(self, settings: AppSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.settings = settings
        form = QFormLayout(self)
        self.region = QLineEdit(settings.region)
        self.region.setPlaceholderText("country or region code, e.g. DK, DE, US-CA")
        self.intensity = QDoubleSpinBox()
        self.intensity.setRange(0, 5000)
        self.intensity.setSuffix(" gCO2eq/kWh")
        self.intensity.setSpecialValueText("from region table")
        self.intensity.setValue(settings.carbon_intensity or 0)
        self.cpu = QDoubleSpinBox()
        self.cpu.setRange(0, 2000)
        self.cpu.setSuffix(" W")
        self.cpu.setSpecialValueText("auto (RAPL or estimate)")
        self.cpu.setValue(settings.cpu_watts or 0)
        self.theme = QComboBox()
        self.theme.addItems(THEMES)
        self.theme.setCurrentText(settings.theme)
        # issue 11: the queue can run as one sweep on Ray (a cluster, or a local Ray)
        self.backend = QComboBox()
        self.backend.addItem("this process (one run after another)", "local")
        self.backend.addItem("Ray (the selected models as one sweep)", "ray")
        self.backend.setCurrentIndex(QUEUE_BACKENDS.index(settings.queue_backend))
        self.ray_address = QLineEdit(settings.ray_address)
        self.ray_address.setPlaceholderText(
            "blank = start a local Ray; or HOST:6379, ray://HOST:10001"
        )
        self.ray_address.setEnabled(settings.queue_backend == "ray")
        self.backend.currentIndexChanged.connect(
            lambda _i: self.ray_address.setEnabled(self.backend.currentData() == "ray")
        )
        form.addRow("Region", self.region)
        form.addRow("Carbon intensity", self.intensity)
        form.addRow("CPU power (TDP)", self.cpu)
        form.addRow("Theme (on restart)", self.theme)
        form.addRow("Run the queue on", self.backend)
        form.addRow("Ray address", self.ray_address)
        form.addRow(QLabel("Database: " + str(settings.db_path)))
        box = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        box.accepted.connect(self.accept)
        box.rejected.connect(self.reject)
        form.addRow(box)

    def accept(self) -> None:
        s = self.settings
        try:  # the settings file refuses what `pepr` would (an unknown region...)
            s.region = self.region.text().strip()
            s.carbon_intensity = self.intensity.value() or None
            s.cpu_watts = self.cpu.value() or None
        except UserError as exc:
            show_error(self, "Settings", str(exc))
            return
        s.theme = self.theme.currentText()
        s.queue_backend = self.backend.currentData()
        s.ray_address = self.ray_address.text()
        s.sync()
        super().accept()


class MainWindow(QMainWindow):
    def __init__(self, settings: AppSettings | None = None) -> None:
        super().__init__()
        self.settings = settings or AppSettings()
        self.ctx = AppContext(self.settings, self)
        self.ctx.database_damaged.connect(self._on_database_damaged)
        self.setWindowTitle("PePR Desktop")
        self.setWindowIcon(icon("app"))
        self.tabs = LazyTabs()
        self.tabs.setDocumentMode(True)
        self.experiment = ExperimentView(self.ctx)
        self.tabs.addTab(self.experiment, icon("experiment"), "New experiment")
        # the other tabs are built when first shown or used (start-up time, issue 20)
        self.tabs.add_lazy("training", self._make_training, icon("training"), "Live training")
        self.tabs.add_lazy("runs", self._make_runs, icon("runs"), "Runs")
        self.tabs.add_lazy("compare", self._make_compare, icon("compare"), "Compare")
        self.banner = ResumeBanner()
        self.banner.resume_all.connect(self.resume_interrupted)
        self.banner.show_runs.connect(self._show_interrupted)
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.banner)
        lay.addWidget(self.tabs, 1)
        self.setCentralWidget(central)
        self.experiment.train_requested.connect(self._train)
        self._build_menus()
        self._build_status()
        if self.settings.geometry is not None:
            self.restoreGeometry(self.settings.geometry)
        else:
            self.resize(*default_size(self))
        self.ctx.db_changed.connect(self.offer_resume)
        self.offer_resume()

    # the lazy tabs ------------------------------------------------------------------------------
    @property
    def training(self) -> TrainingView:
        return self.tabs.view("training")  # type: ignore[return-value]

    @property
    def runs(self) -> RunsView:
        return self.tabs.view("runs")  # type: ignore[return-value]

    @property
    def compare(self) -> CompareView:
        return self.tabs.view("compare")  # type: ignore[return-value]

    def _make_training(self) -> TrainingView:
        from pepr_desktop.gui.views.training import TrainingView

        return TrainingView(self.ctx)

    def _make_runs(self) -> RunsView:
        from pepr_desktop.gui.views.runs import RunsView

        view = RunsView(self.ctx)
        view.open_compare.connect(self._compare)
        view.resume_requested.connect(self.resume_run)
        return view

    def _make_compare(self) -> CompareView:
        from pepr_desktop.gui.views.compare import CompareView

        return CompareView(self.ctx)

    def warm_up(self) -> None:
        """Once the window is shown (app.main): load pyqtgraph, then build the other tabs, one
        per turn of the event loop, so a first visit of a tab does not pause."""
        from pepr_desktop.gui.chart_theme import pyqtgraph

        self.tabs.build_all_later(first=pyqtgraph)

    # menus and status ---------------------------------------------------------------------------
    def _build_menus(self) -> None:
        mb = self.menuBar()
        f = mb.addMenu("&File")
        self._action(f, "&Open database…", self.open_database, QKeySequence.StandardKey.Open)
        self._action(f, "&New database…", self.new_database, QKeySequence.StandardKey.New)
        f.addSeparator()
        self._action(f, "&Import data (.npz)…", self.experiment._import_file)
        self._action(f, "Import image &folder…", self.experiment._import_folder)
        self._action(f, "&Export runs as CSV…", self._export_runs_dialog)
        f.addSeparator()
        self._action(f, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        s = mb.addMenu("&Settings")
        self._action(s, "&Preferences…", self.edit_settings)
        h = mb.addMenu("&Help")
        self._action(h, "Open &log file", self.open_log_file)
        h.addSeparator()
        self._action(h, "&About PePR Desktop", self.about)

    def _action(self, menu, text: str, slot, shortcut=None) -> QAction:
        a = QAction(text, self)
        if shortcut is not None:
            a.setShortcut(shortcut)
        a.triggered.connect(slot)
        menu.addAction(a)
        return a

    def _build_status(self) -> None:
        sb = self.statusBar()
        devices = list_devices()
        self.device_label = QLabel("Device: " + devices[0][0])
        self.meter_label = QLabel()
        self.db_label = QLabel()
        for w in (self.device_label, self.meter_label, self.db_label):
            sb.addPermanentWidget(w)
        self.ctx.status_message.connect(self._status_message)
        self.ctx.db_changed.connect(self._update_status)
        self._update_status()

    def _status_message(self, text: str) -> None:
        if text:
            self.statusBar().showMessage(text, 8000)
        self._update_status()

    def _update_status(self) -> None:
        self.meter_label.setText(f"Meter: {self.ctx.meter_method}")
        path = self.ctx.store.path
        self.db_label.setText(f"Database: {path.name}")  # the full path is one hover away
        self.db_label.setToolTip(str(path))

    # actions ------------------------------------------------------------------------------------
    def _train(self, cfgs: list) -> None:
        if self.settings.queue_backend == "ray" and cfgs:
            from pepr_desktop.gui.context import make_meter_settings
            from pepr_desktop.gui.worker import SweepRequest

            cfgs = [
                SweepRequest(
                    tuple(cfgs),
                    address=self.settings.ray_address or None,
                    meter_settings=make_meter_settings(self.settings),
                )
            ]
        self.training.start(cfgs)
        self.tabs.setCurrentWidget(self.training)

    def offer_resume(self) -> None:
        """Runs cut short by a crash or a closed laptop (status interrupted): offer to resume
        them in a banner that does not block the window."""
        try:
            runs = self.ctx.store.runs(status="interrupted")
        except UserError as exc:
            log.info("no resume offer: %s", exc)
            runs = []
        self.banner.set_runs(runs)

    def resume_interrupted(self) -> None:
        for rid in self.banner.run_ids:
            self.resume_run(rid)
        self.banner.set_runs([])

    def _show_interrupted(self) -> None:
        self.runs.status_combo.setCurrentText("interrupted")
        self.runs.select_ids(self.banner.run_ids)
        self.tabs.setCurrentWidget(self.runs)

    def resume_run(self, run_id: int) -> bool:
        """Continue a stored interrupted/stopped run on the training worker (`pepr resume`)."""
        from pepr_desktop.core.training.resume import resume_config
        from pepr_desktop.gui.worker import ResumeRequest

        queued = {i.run_id for i in self.ctx.training.pending() if isinstance(i, ResumeRequest)}
        running = self.training.started.run_id if self.training.started else None
        if run_id in queued or (self.ctx.training.busy and run_id == running):
            show_error(self, "Resume", f"Run {run_id} is already queued or training.")
            return False
        try:
            cfg = resume_config(self.ctx.store.get_run(run_id))
        except UserError as exc:
            show_error(self, "Resume", str(exc))
            return False
        self.training.start([ResumeRequest(run_id, cfg)])
        self.tabs.setCurrentWidget(self.training)
        return True

    def _compare(self, ids: list[int]) -> None:
        if not ids:
            show_error(self, "Compare", "Select the runs to compare first.")
            return
        self.compare.set_runs(ids)
        self.tabs.setCurrentWidget(self.compare)

    def open_database(self) -> None:
        path = file_dialogs.open_file(
            self,
            "Open a PePR database",
            str(self.ctx.store.path.parent),
            "SQLite (*.sqlite *.db);;All files (*)",
        )
        if path:
            self.switch_database(Path(path))

    def new_database(self) -> None:
        path = file_dialogs.save_file(
            self,
            "New PePR database",
            str(self.ctx.store.path.parent / "pepr.sqlite"),
            "SQLite (*.sqlite)",
        )
        if path:
            self.switch_database(Path(path))

    def _on_database_damaged(self, path: str, message: str) -> None:
        """The start-up backup found the open database damaged: offer recovery now."""
        if Path(path) != self.ctx.store.path:
            return  # another database was opened meanwhile
        if self.ctx.training.busy:
            show_error(
                self,
                "Database damaged",
                f"{message}. Stop training, then reopen it with File > Open database to "
                "recover it.",
            )
            return
        self.ctx.release_store()  # recovery renames the file: no connection may stay open on it
        other = offer_recovery(self, Path(path), f"database {path} is damaged: {message}")
        if other is None:
            self.close()
            return
        if not self.switch_database(other):
            self.close()

    def switch_database(self, path: Path) -> bool:
        try:
            self.ctx.open_db(path)
        except StoreError as exc:  # damaged, locked, foreign: say why, offer recovery or another
            other = offer_recovery(self, path, str(exc))
            return False if other is None else self.switch_database(other)
        except UserError as exc:
            show_error(self, "Database", str(exc))
            return False
        self.statusBar().showMessage(f"Opened {path}", 5000)
        return True

    def export_runs(self, path: Path) -> int:
        """The same file as `pepr export --format csv` (core/exports/runs.py)."""
        from pepr_desktop.core.exports.runs import write_runs

        return write_runs(path, self.ctx.store.runs(), "csv")

    def _export_runs_dialog(self) -> None:
        path = file_dialogs.save_file(self, "Export runs", "pepr_runs.csv", "CSV (*.csv)")
        if path:
            try:
                n = self.export_runs(Path(path))
            except UserError as exc:  # cannot write: one line, and no half-written file
                show_error(self, "Export failed", str(exc))
                return
            self.statusBar().showMessage(f"Exported {n} runs to {path}", 5000)

    def edit_settings(self) -> None:
        SettingsDialog(self.settings, self).exec()

    def open_log_file(self) -> bool:
        """Open the rotating log (logsetup.log_file()) in the desktop's viewer."""
        from PySide6.QtCore import QUrl
        from PySide6.QtGui import QDesktopServices

        from pepr_desktop.logsetup import log_file

        path = log_file()
        if not path.is_file():
            show_error(
                self,
                "Log file",
                f"There is no log file yet at {path}; it is written once the app logs something.",
            )
            return False
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))):
            show_error(self, "Log file", f"No application could open {path}; open it by hand.")
            return False
        return True

    def about(self) -> None:
        QMessageBox.about(self, "About PePR Desktop", ABOUT_HTML)

    # closing ------------------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        if self.ctx.training.busy:
            answer = QMessageBox.question(
                self,
                "A run is training",
                "Stop the current run and quit? Its finished epochs stay in the database as a "
                "stopped run, which Resume in Runs continues.",
            )
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
            self.ctx.training.stop("user")
            if not self.ctx.training.wait(120_000):
                log.warning("the training thread did not stop in time")
        if self.ctx.tasks.busy:
            self.ctx.tasks.cancel()
            self.ctx.tasks.wait(30_000)
        self.settings.geometry = self.saveGeometry()
        self.settings.sync()
        self.ctx.shutdown()
        super().closeEvent(event)

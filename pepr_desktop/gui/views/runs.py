"""Every stored run in a sortable, filterable table: accuracy, balanced accuracy, PePR-E within
its dataset and a flag on models that collapsed onto one class; rename, tag, delete, resume and
details (views/run_details.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from PySide6.QtCore import QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QColor, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from pepr_desktop.core.errors import UserError
from pepr_desktop.core.resources import RESOURCES
from pepr_desktop.core.scoring.degenerate import run_verdict
from pepr_desktop.core.training.resume import RESUMABLE, resume_config
from pepr_desktop.gui.context import AppContext, show_error
from pepr_desktop.gui.gui_text import for_gui
from pepr_desktop.gui.run_scores import dataset_pepr
from pepr_desktop.gui.views.run_details import RunDetails
from pepr_desktop.gui.widgets.tables import fmt_sig

__all__ = ["RunDetails", "RunsView"]
EMPTY_STATE = (
    "<h3>No runs yet</h3><p>Every run you train is kept here with its accuracy, balanced "
    "accuracy, energy, CO2, time and memory: train one from <b>New experiment</b>.</p>"
    "<p>Then select runs to <b>Open details…</b> (confusion matrix, try the model, export it, "
    "save a report), <b>Resume</b> a stopped one, or <b>Compare selected</b> by PePR.</p>"
)

# one column per resource of the registry (core/resources.py), in its display unit
RESOURCE_COLUMNS = tuple((r.resource, f"{r.label} ({r.unit})") for r in RESOURCES.values())
COLUMNS = (
    ("id", "ID"),
    ("name", "Name"),
    ("dataset", "Dataset"),
    ("model", "Model"),
    ("status", "Status"),
    ("test_acc", "Test acc."),
    ("test_bacc", "Bal. acc."),
    ("pepr", "PePR-E"),
    ("flag", "Check"),
    *RESOURCE_COLUMNS,
    ("epochs", "Epochs"),
    ("tags", "Tags"),
    ("created", "Date"),
)
HEADER_TIPS = {
    "test_acc": "Test accuracy at the last epoch",
    "test_bacc": "Balanced accuracy on the test split: the mean recall of the classes",
    "pepr": "PePR by energy, among the finished runs of the same dataset (it is relative to "
    "the runs compared; the Compare tab scores any selection)",
    "flag": "Models that collapsed onto one class, or score at chance level",
}
NUMERIC = {"id", "test_acc", "test_bacc", "pepr", *RESOURCES, "train_time_s", "peak_mem_mb"}
THREE = {"test_acc", "test_bacc", "pepr"}  # scores: three decimals


def run_value(run: dict[str, Any], key: str) -> Any:
    if key in RESOURCES:
        return RESOURCES[key].display(run)
    if key == "epochs":
        return f"{run.get('epochs_done') or 0}/{run.get('epochs_planned') or '?'}"
    if key == "created":
        ts = run.get("created_at")
        return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M") if ts else ""
    return run.get(key)


def _text(key: str, v: Any) -> str:
    if v is None:
        return "n/a" if key in NUMERIC else ""
    if isinstance(v, float):
        return f"{v:.3f}" if key in THREE else fmt_sig(v, 3)
    return str(v)


class RunsView(QWidget):
    open_compare = Signal(list)  # run ids
    resume_requested = Signal(int)  # run id of an interrupted or stopped run

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.model = QStandardItemModel(0, len(COLUMNS), self)
        self.model.setHorizontalHeaderLabels([c[1] for c in COLUMNS])
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.proxy.setFilterKeyColumn(-1)
        self.proxy.setSortRole(Qt.ItemDataRole.UserRole)
        self._build()
        ctx.runs_changed.connect(self.refresh)
        self.refresh()

    def _build(self) -> None:
        root = QVBoxLayout(self)
        bar = QHBoxLayout()
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter runs (model, dataset, status, tag…)")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self.proxy.setFilterFixedString)
        self.status_combo = QComboBox()
        self.status_combo.addItems(
            ["all", "finished", "stopped", "failed", "interrupted", "running"]
        )
        self.status_combo.currentTextChanged.connect(lambda _t: self.refresh())
        bar.addWidget(self.filter_edit, 1)
        bar.addWidget(QLabel("Status"))
        bar.addWidget(self.status_combo)
        self.details_btn = QPushButton("Open details…")
        self.rename_btn = QPushButton("Rename…")
        self.tag_btn = QPushButton("Tags…")
        self.resume_btn = QPushButton("Resume")
        self.resume_btn.setToolTip("Continue an interrupted or stopped run from its last epoch")
        self.resume_btn.setEnabled(False)
        self.resume_btn.clicked.connect(self.resume)
        self.compare_btn = QPushButton("Compare selected")
        self.delete_btn = QPushButton("Delete…")
        self.delete_btn.setObjectName("danger")
        self.details_btn.clicked.connect(self.show_details)
        self.rename_btn.clicked.connect(self.rename)
        self.tag_btn.clicked.connect(self.edit_tags)
        self.compare_btn.clicked.connect(lambda: self.open_compare.emit(self.selected_ids()))
        self.delete_btn.clicked.connect(self.delete)
        for b in (
            self.details_btn,
            self.resume_btn,
            self.rename_btn,
            self.tag_btn,
            self.compare_btn,
            self.delete_btn,
        ):
            bar.addWidget(b)
        root.addLayout(bar)
        self.empty = QLabel(EMPTY_STATE)
        self.empty.setObjectName("empty")
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setAlternatingRowColors(True)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        hh.setStretchLastSection(True)
        self.table.doubleClicked.connect(lambda _i: self.show_details())
        self.table.selectionModel().selectionChanged.connect(lambda *_a: self._update_buttons())
        for i, (key, _) in enumerate(COLUMNS):
            if key in HEADER_TIPS:
                self.model.horizontalHeaderItem(i).setToolTip(HEADER_TIPS[key])
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.table)
        root.addWidget(self.stack, 1)
        self.count_label = QLabel()
        root.addWidget(self.count_label)

    def refresh(self) -> None:
        status = self.status_combo.currentText()
        every = self.ctx.store.runs()
        runs = every if status == "all" else [r for r in every if r.get("status") == status]
        pepr = dataset_pepr(every)
        self.model.setRowCount(0)
        for run in runs:
            self.model.appendRow(self._row(run, pepr.get(int(run["id"]), (None, ""))))
        self.count_label.setText(f"{len(runs)} run(s) in {self.ctx.store.path}")
        self.stack.setCurrentWidget(self.table if every else self.empty)
        self._update_buttons()

    def _row(self, run: dict[str, Any], pepr: tuple[float | None, str]) -> list[QStandardItem]:
        verdict = run_verdict(run) if run.get("status") in ("finished", "stopped") else None
        items = []
        for key, _ in COLUMNS:
            if key == "pepr":
                v: Any = pepr[0]
            elif key == "flag":
                v = f"⚠ {verdict.label}" if verdict else ""
            else:
                v = run_value(run, key)
            it = QStandardItem(_text(key, v))
            it.setData(
                v if v is not None else (float("-inf") if key in NUMERIC else ""),
                Qt.ItemDataRole.UserRole,
            )
            if key in NUMERIC:
                it.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            if key == "status" and run.get("message"):
                it.setToolTip(for_gui(run["message"]))
            if key == "pepr" and pepr[1]:
                it.setToolTip(for_gui(pepr[1]))
            if key == "flag" and verdict:
                it.setForeground(QColor("#b3261e"))
                it.setToolTip(f"Not a useful model: {verdict.label}. Try: {verdict.fix}.")
            if key == "test_acc" and verdict:
                it.setForeground(QColor("#b3261e"))
                it.setToolTip(f"{verdict.label}: this accuracy is the majority share, not skill")
            items.append(it)
        return items

    def _selected_status(self) -> str | None:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        if len(rows) != 1:
            return None
        col = [k for k, _ in COLUMNS].index("status")
        return self.proxy.index(rows[0], col).data(Qt.ItemDataRole.UserRole)

    def _update_buttons(self) -> None:
        self.resume_btn.setEnabled(self._selected_status() in RESUMABLE)

    def resume(self) -> None:
        """Queue the selected interrupted/stopped run to continue where it ended."""
        rid = self._one()
        if rid is None:
            return
        try:
            resume_config(self.ctx.store.get_run(rid))
        except UserError as exc:
            show_error(self, "Resume", str(exc))
            return
        self.resume_requested.emit(rid)

    def run_ids(self) -> list[int]:
        """Ids in the table's current (sorted, filtered) order."""
        return [
            int(self.proxy.index(r, 0).data(Qt.ItemDataRole.UserRole))
            for r in range(self.proxy.rowCount())
        ]

    def selected_ids(self) -> list[int]:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [int(self.proxy.index(r, 0).data(Qt.ItemDataRole.UserRole)) for r in rows]

    def select_ids(self, ids: list[int]) -> None:
        self.table.clearSelection()
        sel = self.table.selectionModel()
        for r in range(self.proxy.rowCount()):
            if int(self.proxy.index(r, 0).data(Qt.ItemDataRole.UserRole)) in ids:
                sel.select(
                    self.proxy.index(r, 0),
                    sel.SelectionFlag.Select | sel.SelectionFlag.Rows,
                )

    def _one(self) -> int | None:
        ids = self.selected_ids()
        if len(ids) != 1:
            show_error(self, "Runs", "Select exactly one run first.")
            return None
        return ids[0]

    def rename(self) -> None:
        rid = self._one()
        if rid is None:
            return
        run = self.ctx.store.get_run(rid)
        name, ok = QInputDialog.getText(self, "Rename run", "Name:", text=run.get("name") or "")
        if ok:
            self.ctx.store.update_run(rid, name=name.strip())
            self.ctx.runs_changed.emit()

    def edit_tags(self) -> None:
        rid = self._one()
        if rid is None:
            return
        run = self.ctx.store.get_run(rid)
        tags, ok = QInputDialog.getText(
            self, "Tags", "Comma-separated tags:", text=run.get("tags") or ""
        )
        if ok:
            clean = ", ".join(t.strip() for t in tags.split(",") if t.strip())
            self.ctx.store.update_run(rid, tags=clean)
            self.ctx.runs_changed.emit()

    def delete(self) -> None:
        ids = self.selected_ids()
        if not ids:
            show_error(self, "Runs", "Select the runs to delete first.")
            return
        if self.ctx.training.busy:
            running = {r["id"] for r in self.ctx.store.runs(status="running")}
            if running & set(ids):
                show_error(self, "Runs", "A selected run is training; stop it before deleting it.")
                return
        answer = QMessageBox.question(
            self,
            "Delete runs",
            f"Delete {len(ids)} run(s) ({', '.join(map(str, ids))}) with their epochs and meter "
            "samples? This cannot be undone.",
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        try:
            for rid in ids:
                self.ctx.store.delete_run(rid)
        except UserError as exc:
            show_error(self, "Delete failed", str(exc))
        self.ctx.runs_changed.emit()

    def show_details(self) -> RunDetails | None:
        """Open the selected run's details (non-modal, so several can stay open side by side)."""
        rid = self._one()
        if rid is None:
            return None
        dlg = RunDetails(self.ctx, rid, self)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.show()
        self.details = dlg
        return dlg

"""Every stored run in a sortable, filterable table, with rename, tag, delete and details."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from PySide6.QtCore import QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from pepr_desktop.core.errors import UserError
from pepr_desktop.core.resources import RESOURCES
from pepr_desktop.core.training.resume import RESUMABLE, resume_config
from pepr_desktop.gui.context import AppContext, show_error

# one column per resource of the registry (core/resources.py), in its display unit
RESOURCE_COLUMNS = tuple((r.resource, f"{r.label} ({r.unit})") for r in RESOURCES.values())
COLUMNS = (
    ("id", "ID"),
    ("name", "Name"),
    ("dataset", "Dataset"),
    ("model", "Model"),
    ("status", "Status"),
    ("test_acc", "Test acc."),
    *RESOURCE_COLUMNS,
    ("epochs", "Epochs"),
    ("tags", "Tags"),
    ("created", "Date"),
)
NUMERIC = {"id", "test_acc", *RESOURCES, "train_time_s", "peak_mem_mb"}
FINE = {"test_acc", "energy", "co2"}  # small numbers: four decimals


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
        return f"{v:.4f}" if key in FINE else f"{v:.1f}"
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
        root.addWidget(self.table, 1)
        self.count_label = QLabel()
        root.addWidget(self.count_label)

    def refresh(self) -> None:
        status = self.status_combo.currentText()
        runs = self.ctx.store.runs(status=None if status == "all" else status)
        self.model.setRowCount(0)
        for run in runs:
            items = []
            for key, _ in COLUMNS:
                v = run_value(run, key)
                it = QStandardItem(_text(key, v))
                it.setData(
                    v if v is not None else (float("-inf") if key in NUMERIC else ""),
                    Qt.ItemDataRole.UserRole,
                )
                if key in NUMERIC:
                    it.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if key == "status" and run.get("message"):
                    it.setToolTip(run["message"])
                items.append(it)
            self.model.appendRow(items)
        self.count_label.setText(f"{len(runs)} run(s) in {self.ctx.store.path}")
        self._update_buttons()

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


DETAIL_FIGURES = (
    ("status", "Status"),
    ("test_acc", "Test accuracy"),
    ("val_acc", "Validation accuracy"),
    ("energy_j", "Energy (J)"),
    ("co2_g", "CO2 (g)"),
    ("train_time_s", "Training time (s)"),
    ("peak_mem_mb", "Peak memory (MB)"),
    ("params", "Parameters"),
    ("device", "Device"),
    ("device_name", "Device name"),
    ("energy_method", "Energy method"),
    ("host", "Host"),
    ("sweep_id", "Sweep"),
    ("reason", "Reason"),
    ("message", "Message"),
)
EPOCH_COLUMNS = (
    ("epoch", "Epoch"),
    ("train_loss", "Train loss"),
    ("val_acc", "Val. acc."),
    ("test_acc", "Test acc."),
    ("seconds", "Time (s)"),
    ("energy_j", "Energy (J)"),
    ("energy_method", "Energy method"),
)


class RunDetails(QDialog):
    """One run in tabs: figures and settings, the per-epoch table, the test-set confusion view
    (issue 13) and a drop zone to try the trained model on new images."""

    def __init__(self, ctx: AppContext, run_id: int, parent: QWidget | None = None) -> None:
        from PySide6.QtWidgets import QFormLayout, QTableWidget, QTableWidgetItem, QTabWidget

        from pepr_desktop.gui.widgets.confusion import ConfusionView
        from pepr_desktop.gui.widgets.try_it import TryItPanel

        super().__init__(parent)
        run = ctx.store.get_run(run_id)
        self.run_id = run_id
        self.setWindowTitle(f"Run {run_id}: {run['model']} on {run['dataset']}")
        self.resize(900, 640)
        lay = QVBoxLayout(self)
        self.tabs = QTabWidget()
        lay.addWidget(self.tabs, 1)

        summary = QWidget()
        sl = QHBoxLayout(summary)
        form = QFormLayout()
        self.figures: dict[str, QLabel] = {}
        for key, label in DETAIL_FIGURES:
            v = run.get(key)
            if v in (None, "") and key in (
                "reason",
                "message",
                "val_acc",
                "co2_g",
                "host",
                "sweep_id",
            ):
                continue
            text = _text(key if key in NUMERIC else "", v) if not isinstance(v, int) else f"{v:,}"
            if key == "energy_j" and v is not None:
                text = f"{v:.1f} J ({v / 3600:.4f} Wh)"
            if key == "energy_j" and v is None:
                text = "n/a (" + (run.get("energy_note") or "not measured") + ")"
            w = QLabel(text)
            w.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            w.setWordWrap(True)
            form.addRow(label, w)
            self.figures[key] = w
        epochs_txt = f"{run.get('epochs_done') or 0} of {run.get('epochs_planned') or '?'}"
        form.addRow("Epochs", QLabel(epochs_txt))
        sl.addLayout(form, 1)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setPlainText("config:\n" + json.dumps(run.get("config"), indent=2, default=str))
        sl.addWidget(self.text, 1)
        self.tabs.addTab(summary, "Summary")

        eps = ctx.store.epochs(run_id)
        self.epoch_table = QTableWidget(len(eps), len(EPOCH_COLUMNS))
        self.epoch_table.setHorizontalHeaderLabels([c[1] for c in EPOCH_COLUMNS])
        self.epoch_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.epoch_table.verticalHeader().setVisible(False)
        self.epoch_table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents
        )
        for r, e in enumerate(eps):
            for c, (key, _) in enumerate(EPOCH_COLUMNS):
                v = e.get(key)
                if key == "epoch":
                    v = int(v) + 1
                if v is None:
                    txt = "n/a"
                elif isinstance(v, float):
                    txt = f"{v:.4f}" if key in ("train_loss", "val_acc", "test_acc") else f"{v:.2f}"
                else:
                    txt = str(v)
                item = QTableWidgetItem(txt)
                if isinstance(v, (int, float)):
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                self.epoch_table.setItem(r, c, item)
        self.tabs.addTab(self.epoch_table, f"Epochs ({len(eps)})")

        self.confusion = ConfusionView()
        try:
            self.confusion.load_run(ctx.store, run_id)
        except UserError as exc:
            self.confusion.title.setText(str(exc))
        self.tabs.addTab(self.confusion, "Confusion")

        self.try_it = TryItPanel()
        usable = run.get("status") in ("finished", "stopped") and bool(run.get("checkpoint"))
        self.try_it.set_run(ctx.store.path, run_id if usable else None)
        if not usable:
            self.try_it.hint.setText(
                "This run has no saved model to try (it did not finish, or its checkpoint "
                "was not kept)."
            )
        self.tabs.addTab(self.try_it, "Try it")

        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        box.rejected.connect(self.reject)
        lay.addWidget(box)

    def done(self, result: int) -> None:
        self.try_it.wait(30_000)  # its worker holds the model; let it finish before we go
        super().done(result)

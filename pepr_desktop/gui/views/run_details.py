"""One run in tabs: a readable summary (results and settings in tables, sensible precision),
the per-epoch table, the test-set confusion view (issue 13) and a drop zone to try the trained
model; Export model (ONNX / TorchScript / safetensors, core/models/export.py) and Save report
(HTML or PNG: results, curves, confusion, energy, settings) at the bottom."""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from pepr_desktop.core.errors import UserError
from pepr_desktop.core.scoring.degenerate import run_verdict
from pepr_desktop.core.training.threads import throttled
from pepr_desktop.gui import file_dialogs
from pepr_desktop.gui.chart_theme import power_kind
from pepr_desktop.gui.context import AppContext, show_error
from pepr_desktop.gui.gui_text import for_gui
from pepr_desktop.gui.run_scores import dataset_pepr
from pepr_desktop.gui.widgets.run_card import duration
from pepr_desktop.gui.widgets.tables import RIGHT, fmt, fmt_sig
from pepr_desktop.gui.worker import TaskWorker

log = logging.getLogger(__name__)

EPOCH_COLUMNS = (
    ("epoch", "Epoch"),
    ("train_loss", "Train loss"),
    ("val_acc", "Val. acc."),
    ("test_acc", "Test acc."),
    ("seconds", "Time (s)"),
    ("energy_j", "Energy (Wh)"),
    ("energy_method", "Energy method"),
)
SETTING_LABELS = {
    "dataset": "Dataset",
    "model": "Model",
    "epochs": "Epochs",
    "batch_size": "Batch size",
    "lr": "Learning rate",
    "seed": "Seed",
    "device": "Device",
    "image_size": "Image size (px)",
    "data_fraction": "Data fraction",
    "pretrained": "Pretrained weights",
    "class_weights": "Class weights",
    "sampler": "Sampler",
    "augment": "Augmentation",
    "schedule": "LR schedule",
    "label_smoothing": "Label smoothing",
    "early_stop": "Energy-aware early stop",
    "budget_energy_wh": "Energy budget (Wh)",
    "budget_time_min": "Time budget (min)",
    "budget_memory_mb": "Memory budget (MB)",
}
EXPORT_FILTERS = {
    "ONNX (*.onnx)": "onnx",
    "TorchScript (*.pt)": "torchscript",
    "safetensors (*.safetensors)": "safetensors",
}


def _setting_text(key: str, v: Any) -> str:
    if v is None:
        return {"image_size": "dataset's own"}.get(key, "no limit" if "budget" in key else "—")
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return fmt_sig(v, 3, strip=True)
    return str(v)


def settings_rows(config: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The run's settings as (label, value), known ones first, in a fixed order."""
    cfg = dict(config or {})
    rows = [
        (label, _setting_text(k, cfg.pop(k))) for k, label in SETTING_LABELS.items() if k in cfg
    ]
    for k in sorted(cfg):
        v = cfg[k]
        if v in (None, "", {}, []) or k in ("extra", "checkpoint", "eval_batch_size"):
            continue
        rows.append((k.replace("_", " "), _setting_text(k, v)))
    return rows


def _threads_text(epochs: list[dict]) -> str:
    """Short enough for the table: a throttled run's time and energy are a shared machine's."""
    t = throttled(epochs)
    return "" if t is None else f"as few as {t[0]} of {t[1]} (CPU shared)"


def result_rows(
    run: dict[str, Any], pepr: tuple[float | None, str], epochs: list[dict] | None = None
) -> list[tuple[str, str, str]]:
    """(key, label, text) of a run's results with sensible precision (0.04 g, never 0.0 g);
    with its `epochs`, a row when it trained on fewer CPU threads than it could."""
    e = run.get("energy_j")
    kind = power_kind(str(run.get("energy_method") or ""))
    energy = (
        f"{fmt_sig(e / 3600, 3)} Wh ({fmt_sig(e, 3)} J), {kind}"
        if e is not None
        else "n/a (" + for_gui(run.get("energy_note") or "not measured") + ")"
    )
    co2 = run.get("co2_g")
    params = run.get("params")
    rows = [
        ("status", "Status", str(run.get("status") or "")),
        ("test_acc", "Test accuracy", fmt(run.get("test_acc"), 3)),
        ("test_bacc", "Balanced accuracy (test)", fmt(run.get("test_bacc"), 3)),
        ("val_acc", "Validation accuracy", fmt(run.get("val_acc"), 3)),
        ("pepr", "PePR-E (finished runs of this dataset)", fmt(pepr[0], 3)),
        ("energy_j", "Energy", energy),
        ("co2_g", "CO2", "n/a" if co2 is None else f"{fmt_sig(co2, 2, strip=True)} g"),
        ("train_time_s", "Training time", duration(run.get("train_time_s"))),
        ("peak_mem_mb", "Peak memory (MB)", fmt_sig(run.get("peak_mem_mb"), 3)),
        ("params", "Parameters", f"{params:,}" if isinstance(params, int) else fmt(params)),
        (
            "epochs",
            "Epochs",
            f"{run.get('epochs_done') or 0} of {run.get('epochs_planned') or '?'}",
        ),
        ("device", "Device", str(run.get("device") or "")),
        ("device_name", "Device name", str(run.get("device_name") or "")),
        ("energy_method", "Energy method", str(run.get("energy_method") or "")),
        ("host", "Host", str(run.get("host") or "")),
        ("sweep_id", "Sweep", str(run.get("sweep_id") or "")),
        ("reason", "Reason", str(run.get("reason") or "")),
        ("message", "Message", for_gui(str(run.get("message") or ""))),
        ("cpu_threads", "CPU threads", _threads_text(epochs or [])),
    ]
    optional = {
        "val_acc", "co2_g", "host", "sweep_id", "reason", "message", "device_name", "cpu_threads"
    }  # fmt: skip
    return [r for r in rows if not (r[0] in optional and r[2] in ("", "n/a"))]


def _kv_table(rows: list[tuple[str, str]], head: tuple[str, str]) -> QTableWidget:
    t = QTableWidget(len(rows), 2)
    t.setHorizontalHeaderLabels(list(head))
    t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    t.verticalHeader().setVisible(False)
    t.setWordWrap(True)
    h = t.horizontalHeader()
    h.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
    h.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
    for r, (a, b) in enumerate(rows):
        t.setItem(r, 0, QTableWidgetItem(a))
        t.setItem(r, 1, QTableWidgetItem(b))
    t.resizeRowsToContents()
    return t


def export_task(
    progress: Any, should_stop: Any, *, db_path: Path, run_id: int, fmt_: str, path: Path
) -> Any:
    """`core.models.export.export_model` on the details' own worker thread."""
    from pepr_desktop.core.models.export import export_model
    from pepr_desktop.core.store.remote import RemoteStore

    store = RemoteStore(db_path)
    try:
        return export_model(store, run_id, fmt_, path)
    finally:
        store.close()


class RunDetails(QDialog):
    """One run in tabs, with Export model and Save report."""

    def __init__(self, ctx: AppContext, run_id: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.run = run = ctx.store.get_run(run_id)
        self.run_id = run_id
        self.epochs = ctx.store.epochs(run_id)
        self.verdict = run_verdict(run) if run.get("status") in ("finished", "stopped") else None
        self.setWindowTitle(f"Run {run_id}: {run['model']} on {run['dataset']}")
        self.resize(900, 600)
        lay = QVBoxLayout(self)
        self.tabs = QTabWidget()
        lay.addWidget(self.tabs, 1)
        self.tabs.addTab(self._build_summary(), "Summary")
        self.tabs.addTab(self._build_epochs(), f"Epochs ({len(self.epochs)})")
        self._build_confusion_and_try_it()
        self.tasks = TaskWorker(self)  # exports: its own worker, its own dialogs
        self.tasks.finished_ok.connect(self._on_exported)
        self.tasks.user_error.connect(lambda m: show_error(self, "Export failed", m))
        self.tasks.crashed.connect(lambda m: show_error(self, "Export failed", m))
        self.tasks.busy_changed.connect(
            lambda b: self.export_btn.setEnabled(not b and self._usable)
        )
        lay.addLayout(self._build_buttons())

    def _pepr(self) -> tuple[float | None, str]:
        try:
            same = self.ctx.store.runs(dataset=self.run["dataset"])
        except UserError:
            return None, ""
        return dataset_pepr(same).get(self.run_id, (None, ""))

    def _build_summary(self) -> QWidget:
        summary = QWidget()
        sl = QVBoxLayout(summary)
        if self.verdict is not None:
            flag = QLabel(f"⚠ Not a useful model: {self.verdict.label}. Try: {self.verdict.fix}.")
            flag.setWordWrap(True)
            flag.setStyleSheet("color: #b3261e; font-weight: bold;")
            sl.addWidget(flag)
        row = QHBoxLayout()
        sl.addLayout(row, 1)
        self.results = result_rows(self.run, self._pepr(), self.epochs)
        box = QGroupBox("Results")
        bl = QVBoxLayout(box)
        self.results_table = _kv_table([(a, b) for _k, a, b in self.results], ("Figure", "Value"))
        self.figures: dict[str, QTableWidgetItem] = {
            k: self.results_table.item(i, 1) for i, (k, _a, _b) in enumerate(self.results)
        }
        if self.verdict is not None:
            self.figures["test_acc"].setForeground(QColor("#b3261e"))
        bl.addWidget(self.results_table)
        row.addWidget(box, 1)
        self.settings = settings_rows(self.run.get("config"))
        sbox = QGroupBox("Settings")
        sbl = QVBoxLayout(sbox)
        self.settings_table = _kv_table(self.settings, ("Setting", "Value"))
        sbl.addWidget(self.settings_table)
        row.addWidget(sbox, 1)
        return summary

    def _build_epochs(self) -> QTableWidget:
        eps = self.epochs
        t = QTableWidget(len(eps), len(EPOCH_COLUMNS))
        t.setHorizontalHeaderLabels([c[1] for c in EPOCH_COLUMNS])
        t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        t.verticalHeader().setVisible(False)
        t.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        for r, e in enumerate(eps):
            for c, (key, _) in enumerate(EPOCH_COLUMNS):
                v = e.get(key)
                if key == "epoch":
                    v = int(v) + 1
                if key == "energy_j" and v is not None:
                    txt = fmt_sig(v / 3600, 3)
                elif v is None:
                    txt = "n/a"
                elif isinstance(v, float):
                    txt = f"{v:.4f}" if key in ("train_loss", "val_acc", "test_acc") else f"{v:.2f}"
                else:
                    txt = str(v)
                item = QTableWidgetItem(txt)
                if isinstance(v, (int, float)):
                    item.setTextAlignment(RIGHT)
                t.setItem(r, c, item)
        self.epoch_table = t
        return t

    def _build_confusion_and_try_it(self) -> None:
        from pepr_desktop.gui.widgets.confusion import ConfusionView
        from pepr_desktop.gui.widgets.try_it import TryItPanel

        self.confusion = ConfusionView()
        try:
            self.confusion.load_run(self.ctx.store, self.run_id)
        except UserError as exc:
            self.confusion.title.setText(str(exc))
        self.tabs.addTab(self.confusion, "Confusion")
        self.try_it = TryItPanel()
        run = self.run
        self._usable = run.get("status") in ("finished", "stopped") and bool(run.get("checkpoint"))
        self.try_it.set_run(self.ctx.store.path, self.run_id if self._usable else None)
        if not self._usable:
            self.try_it.hint.setText(
                "This run has no saved model to try (it did not finish, or its checkpoint "
                "was not kept)."
            )
        self.tabs.addTab(self.try_it, "Try it")

    def _build_buttons(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.export_btn = QPushButton("Export model…")
        self.export_btn.setToolTip("ONNX, TorchScript or safetensors, with a JSON sidecar")
        self.export_btn.setEnabled(self._usable)
        self.export_btn.clicked.connect(self._export_dialog)
        self.report_btn = QPushButton("Save report…")
        self.report_btn.setToolTip("Results, curves, confusion matrix, energy and settings")
        self.report_btn.clicked.connect(self._report_dialog)
        self.close_btn = QPushButton("Close")
        self.close_btn.clicked.connect(self.reject)
        row.addWidget(self.export_btn)
        row.addWidget(self.report_btn)
        row.addStretch(1)
        row.addWidget(self.close_btn)
        return row

    # export and report ----------------------------------------------------------------------
    def export_model(self, path: Path, fmt_: str | None = None) -> None:
        """Export in the background; the format follows the file's suffix unless given."""
        from pepr_desktop.core.models.export import FORMATS, SUFFIX

        path = Path(path)
        if fmt_ is None:
            by_suffix = {v: k for k, v in SUFFIX.items()}
            fmt_ = by_suffix.get(path.suffix.lower())
        if fmt_ not in FORMATS:
            show_error(self, "Export model", f"{path.name}: save as .onnx, .pt or .safetensors.")
            return
        self.export_btn.setEnabled(False)
        self.tasks.submit(
            partial(
                export_task, db_path=self.ctx.store.path, run_id=self.run_id, fmt_=fmt_, path=path
            )
        )

    def _export_dialog(self) -> None:
        name = f"run{self.run_id}_{self.run['model']}.onnx"
        path = file_dialogs.save_file(self, "Export model", name, ";;".join(EXPORT_FILTERS))
        if path:
            self.export_model(Path(path))

    def _on_exported(self, result: Any) -> None:
        model_path, sidecar = result
        self.exported = (Path(model_path), Path(sidecar))
        self.ctx.status_message.emit(
            f"Exported run {self.run_id} to {model_path} (+ {Path(sidecar).name})"
        )

    def save_report(self, path: Path) -> Path | None:
        from pepr_desktop.gui.report import write_report

        flag = f"Not a useful model: {self.verdict.label}" if self.verdict else ""
        try:
            out = write_report(
                Path(path),
                self.run,
                self.epochs,
                [(a, b) for _k, a, b in self.results],
                self.settings,
                flag,
            )
        except UserError as exc:
            show_error(self, "Save report", str(exc))
            return None
        self.ctx.status_message.emit(f"Saved the report of run {self.run_id} to {out}")
        return out

    def _report_dialog(self) -> None:
        path = file_dialogs.save_file(
            self,
            "Save run report",
            f"run{self.run_id}_report.html",
            "HTML report (*.html);;PNG image (*.png)",
        )
        if path:
            self.save_report(Path(path))

    def done(self, result: int) -> None:
        self.try_it.wait(30_000)  # its worker holds the model; let it finish before we go
        self.tasks.wait(60_000)
        super().done(result)

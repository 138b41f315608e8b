"""Try a run's model: drop images (or pick them) and see the predicted class and probabilities.

Loading the model (timm build + checkpoint) and classifying run off the GUI thread, queued on
the panel's own `gui.worker.TaskWorker` (`submit`), so drops run one at a time in drop order and
the window never freezes, whatever the model's size. The worker opens its own read-only
RemoteStore; the loaded model is cached between drops.
Each image is converted the way training data were (core/models/predict.py); an unreadable file
shows
its one-line message in its row instead of stopping the others.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from pepr_desktop.core.errors import UserError
from pepr_desktop.gui import file_dialogs
from pepr_desktop.gui.widgets.preview_grid import array_to_pixmap
from pepr_desktop.gui.worker import TaskWorker


def _predict(
    state: dict[str, Any], paths: list[str], _progress: Any = None, _should_stop: Any = None
) -> list[dict[str, Any]]:
    """Classify the images of `paths` with the model of `state`'s run, loading it once per panel
    state (cached on `state`). Runs on the worker thread: no widget access here. A TaskWorker
    function: the progress and stop callbacks are not used (one drop is one short task)."""
    from pepr_desktop.core.models.predict import (
        collect_images,
        load_run_model,
        predict_arrays,
        read_image,
    )
    from pepr_desktop.core.store.remote import RemoteStore

    key = (state["db"], state["run_id"])
    if state.get("loaded_key") != key:
        with RemoteStore(state["db"], readonly=True) as store:
            state["model"] = load_run_model(store, state["run_id"])
        state["loaded_key"] = key
    rm = state["model"]
    rows: list[dict[str, Any]] = []
    good: list[tuple[int, np.ndarray]] = []
    for p in paths:
        try:
            files = collect_images([p])
        except UserError as exc:
            rows.append({"path": p, "error": str(exc)})
            continue
        for f in files:
            try:
                img = read_image(f, rm.spec.channels, rm.spec.data_size)
            except UserError as exc:
                rows.append({"path": str(f), "error": str(exc)})
                continue
            good.append((len(rows), img))
            rows.append({"path": str(f), "image": img})
    if good:
        probs = predict_arrays(rm, [img for _, img in good])
        for (i, _), pr in zip(good, probs):
            k = int(pr.argmax())
            rows[i].update(
                label=rm.spec.class_names[k],
                confidence=float(pr[k]),
                probabilities={c: float(v) for c, v in zip(rm.spec.class_names, pr)},
            )
    return rows


class TryItPanel(QWidget):
    """Drop images onto it to classify them with one run's model.

    `set_run(db_path, run_id)` chooses the run (the model loads on the first drop);
    `predict_paths(paths)` does what a drop does. `predictionsReady(rows)` fires with one dict per
    image: path, and label/confidence/probabilities, or error.
    """

    predictionsReady = Signal(object)
    failed = Signal(str)

    def __init__(self, parent: QWidget | None = None, *, thumb_px: int = 48) -> None:
        super().__init__(parent)
        self.thumb_px = thumb_px
        self._state: dict[str, Any] = {"db": None, "run_id": None}
        self._tasks = TaskWorker(self)  # one model, used by one drop at a time, in drop order
        self._tasks.finished_ok.connect(self._done)
        self._tasks.user_error.connect(self._failed)
        self._tasks.crashed.connect(lambda msg: self._failed(f"prediction failed: {msg}"))
        self.setAcceptDrops(True)
        self.hint = QLabel("Choose a finished run, then drop images here to try its model.")
        self.hint.setWordWrap(True)
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setStyleSheet("border: 2px dashed #9ca3af; padding: 14px; color: #4b5563;")
        self.pick = QPushButton("Choose images…")
        self.pick.clicked.connect(self._choose)
        self.clear_button = QPushButton("Clear")
        self.clear_button.clicked.connect(self.clear)
        self.status = QLabel()
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["image", "file", "prediction", "probabilities"])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        buttons = QHBoxLayout()
        buttons.addWidget(self.pick)
        buttons.addWidget(self.clear_button)
        buttons.addStretch(1)
        buttons.addWidget(self.status)
        layout = QVBoxLayout(self)
        layout.addWidget(self.hint)
        layout.addLayout(buttons)
        layout.addWidget(self.table, 1)
        self._set_enabled(False)

    # ----------------------------------------------------------------- API

    def set_run(self, db_path: str | os.PathLike[str] | None, run_id: int | None) -> None:
        """The run whose model to try (None: none). The model loads lazily, off the GUI thread."""
        self._state = {"db": str(db_path) if db_path else None, "run_id": run_id}
        self.clear()
        if run_id is None:
            self.hint.setText("Choose a finished run, then drop images here to try its model.")
        else:
            self.hint.setText(
                f"Drop images or folders here to classify them with run {run_id}'s model."
            )
        self._set_enabled(run_id is not None)

    def predict_paths(self, paths: list[str]) -> None:
        if self._state.get("run_id") is None or not paths:
            return
        self.status.setText(f"classifying {len(paths)} item(s)…")
        self._tasks.submit(partial(_predict, self._state, [str(p) for p in paths]))

    def clear(self) -> None:
        self.table.setRowCount(0)
        self.status.setText("")

    def wait(self, msecs: int = 30_000) -> bool:
        """Block until queued predictions are done (for closing and tests)."""
        return self._tasks.wait(msecs)

    # ----------------------------------------------------------------- drag and drop

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
        if self._state.get("run_id") is not None and any(u.isLocalFile() for u in urls):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.predict_paths(paths)

    # ----------------------------------------------------------------- internals

    def _set_enabled(self, on: bool) -> None:
        self.pick.setEnabled(on)
        self.clear_button.setEnabled(on)

    def _choose(self) -> None:
        files = file_dialogs.open_files(
            self, "Images to classify", "", "Images (*.png *.jpg *.jpeg *.bmp *.tif *.tiff *.webp)"
        )
        self.predict_paths(files)

    def _done(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            self._add_row(row)
        bad = sum("error" in r for r in rows)
        self.status.setText(
            f"{len(rows) - bad} classified" + (f", {bad} unreadable" if bad else "")
        )
        self.predictionsReady.emit(rows)

    def _failed(self, message: str) -> None:
        self.status.setText(message)
        self.failed.emit(message)

    def _add_row(self, row: dict[str, Any]) -> None:
        r = self.table.rowCount()
        self.table.insertRow(r)
        thumb = QLabel()
        if "image" in row:
            thumb.setPixmap(array_to_pixmap(row["image"], self.thumb_px))
        self.table.setCellWidget(r, 0, thumb)
        name = QTableWidgetItem(Path(row["path"]).name)
        name.setToolTip(row["path"])
        self.table.setItem(r, 1, name)
        if "error" in row:
            item = QTableWidgetItem("unreadable")
            item.setForeground(QColor("#b91c1c"))
            self.table.setItem(r, 2, item)
            msg = QTableWidgetItem(row["error"])
            msg.setToolTip(row["error"])
            msg.setForeground(QColor("#b91c1c"))
            self.table.setItem(r, 3, msg)
        else:
            self.table.setItem(r, 2, QTableWidgetItem(f"{row['label']} ({row['confidence']:.1%})"))
            probs = sorted(row["probabilities"].items(), key=lambda kv: -kv[1])
            self.table.setItem(r, 3, QTableWidgetItem("  ".join(f"{c}: {p:.3f}" for c, p in probs)))
        self.table.setRowHeight(r, self.thumb_px + 6)

"""A finished run's per-class evaluation: confusion matrix, precision/recall/F1, ROC (binary),
and the misclassified test images of the chosen cell.

It renders the JSON stored in `runs.evaluation` (core/training/evaluation.py); the misclassified
images are
read from the dataset's .npz by seeking to just those rows (core/data/preview.py `read_rows`).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QIcon
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from pepr_desktop.core.errors import UserError
from pepr_desktop.gui.chart_theme import pyqtgraph
from pepr_desktop.gui.widgets.preview_grid import array_to_pixmap

pg = pyqtgraph()  # themed: the ROC plot follows the app's theme

log = logging.getLogger(__name__)


def misclassified_images(store: Any, run: dict[str, Any]) -> dict[int, np.ndarray]:
    """Test images (by index) of a run's stored misclassified list, read without a full load."""
    from pepr_desktop.core.data import registry as datasets
    from pepr_desktop.core.data.preview import read_rows

    ev = run.get("evaluation") or {}
    idx = list((ev.get("misclassified") or {}).get("index", []))
    if not idx:
        return {}
    info = datasets.resolve(run["dataset"], store)
    if info.path is None or not info.path.is_file():
        raise UserError(f"the file of dataset '{info.name}' is not available to show images.")
    return dict(zip(idx, read_rows(info.path, "test_images", idx)))


def _cell_colour(fraction: float, diagonal: bool) -> QColor:
    """Blue for correct, red for wrong, stronger with the share of the true class's images."""
    f = max(0.0, min(1.0, fraction))
    base = (37, 99, 235) if diagonal else (220, 38, 38)
    return QColor(
        round(255 + (base[0] - 255) * f),
        round(255 + (base[1] - 255) * f),
        round(255 + (base[2] - 255) * f),
    )


class ConfusionView(QWidget):
    """Confusion matrix + per-class table + ROC curve + misclassified browser for one run.

    `set_evaluation(evaluation, images)`: `evaluation` is a run's stored evaluation dict,
    `images` optional {test index: uint8 image} for the browser. Click an off-diagonal cell to
    browse the test images of that true -> predicted mix-up.
    """

    cellChosen = Signal(int, int)  # true class, predicted class

    def __init__(self, parent: QWidget | None = None, *, thumb_px: int = 56) -> None:
        super().__init__(parent)
        self.thumb_px = thumb_px
        self.evaluation: dict[str, Any] | None = None
        self.images: dict[int, np.ndarray] = {}
        self.title = QLabel("No evaluation: the run did not finish, or predates it.")
        self.title.setWordWrap(True)
        self.matrix = QTableWidget()
        self.matrix.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.matrix.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.matrix.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.matrix.cellClicked.connect(self.choose_cell)
        self.per_class = QTableWidget(0, 5)
        self.per_class.setHorizontalHeaderLabels(["class", "precision", "recall", "F1", "support"])
        self.per_class.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.per_class.verticalHeader().hide()
        self.per_class.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.roc = pg.PlotWidget()
        self.roc.setBackground("w")
        self.roc.setLabel("bottom", "false positive rate")
        self.roc.setLabel("left", "true positive rate")
        self.roc.setXRange(0, 1, padding=0.02)
        self.roc.setYRange(0, 1, padding=0.02)
        self.roc.setMinimumWidth(220)
        self.roc.hide()
        self.browser_label = QLabel()
        self.browser = QListWidget()
        self.browser.setViewMode(QListWidget.ViewMode.IconMode)
        self.browser.setIconSize(QSize(thumb_px, thumb_px))
        self.browser.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.browser.setMaximumHeight(thumb_px * 2 + 40)
        top = QHBoxLayout()
        left = QVBoxLayout()
        left.addWidget(QLabel("Confusion matrix (rows: true class, columns: predicted)"))
        left.addWidget(self.matrix)
        left.addWidget(self.per_class)
        top.addLayout(left, 3)
        top.addWidget(self.roc, 2)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addLayout(top, 1)
        layout.addWidget(self.browser_label)
        layout.addWidget(self.browser)

    # ----------------------------------------------------------------- filling

    def load_run(self, store: Any, run_id: int) -> None:
        """Show a stored run's evaluation with its misclassified test images (if readable)."""
        run = store.get_run(run_id)
        images: dict[int, np.ndarray] = {}
        if run.get("evaluation"):
            try:
                images = misclassified_images(store, run)
            except UserError as exc:
                log.info("no misclassified images for run %s: %s", run_id, exc)
        self.set_evaluation(run.get("evaluation"), images)

    def set_evaluation(
        self, evaluation: dict[str, Any] | None, images: dict[int, np.ndarray] | None = None
    ) -> None:
        self.evaluation = evaluation
        self.images = dict(images or {})
        self.browser.clear()
        if not evaluation:
            self.title.setText("No evaluation: the run did not finish, or predates it.")
            self.matrix.clear()
            self.matrix.setRowCount(0)
            self.matrix.setColumnCount(0)
            self.per_class.setRowCount(0)
            self.roc.hide()
            self.browser_label.setText("")
            return
        ev = evaluation
        roc = ev.get("roc")
        self.title.setText(
            f"<b>{ev['split']} split</b>, {ev['n']} images: accuracy {ev['accuracy']:.3f}, "
            f"macro F1 {ev['macro']['f1']:.3f}"
            + (f", ROC AUC {roc['auc']:.3f} ({roc['positive_class']} positive)" if roc else "")
        )
        self._fill_matrix(ev)
        self._fill_per_class(ev)
        self._fill_roc(roc)
        mis = ev.get("misclassified") or {}
        self.browser_label.setText(
            f"{mis.get('count', 0)} misclassified test images"
            + ("; click an off-diagonal cell to see them" if self.images else "")
        )

    def _fill_matrix(self, ev: dict[str, Any]) -> None:
        names = ev["class_names"]
        cm = np.asarray(ev["confusion"])
        k = len(names)
        self.matrix.clear()
        self.matrix.setRowCount(k)
        self.matrix.setColumnCount(k)
        self.matrix.setHorizontalHeaderLabels([f"→ {n}" for n in names])
        self.matrix.setVerticalHeaderLabels(names)
        rows = cm.sum(1)
        for i in range(k):
            for j in range(k):
                frac = cm[i, j] / rows[i] if rows[i] else 0.0
                item = QTableWidgetItem(f"{cm[i, j]}\n{100 * frac:.1f}%")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                bg = _cell_colour(frac, i == j)
                item.setBackground(QBrush(bg))
                if bg.lightness() < 140:
                    item.setForeground(QBrush(QColor("white")))
                item.setToolTip(
                    f"true {names[i]}, predicted {names[j]}: {cm[i, j]} of {rows[i]} images"
                )
                self.matrix.setItem(i, j, item)
        self.matrix.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)

    def _fill_per_class(self, ev: dict[str, Any]) -> None:
        pc = ev["per_class"]
        names = ev["class_names"]
        self.per_class.setRowCount(len(names))
        for r, name in enumerate(names):
            values = [
                name,
                f"{pc['precision'][r]:.3f}",
                f"{pc['recall'][r]:.3f}",
                f"{pc['f1'][r]:.3f}",
                str(pc["support"][r]),
            ]
            for c, v in enumerate(values):
                item = QTableWidgetItem(v)
                if c:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                self.per_class.setItem(r, c, item)

    def _fill_roc(self, roc: dict[str, Any] | None) -> None:
        self.roc.clear()
        if not roc:
            self.roc.hide()
            return
        self.roc.plot([0, 1], [0, 1], pen=pg.mkPen("#9ca3af", style=Qt.PenStyle.DashLine))
        self.roc.plot(roc["fpr"], roc["tpr"], pen=pg.mkPen("#2563eb", width=2))
        self.roc.setTitle(f"ROC, AUC {roc['auc']:.3f}")
        self.roc.show()

    # ----------------------------------------------------------------- browsing

    def choose_cell(self, true_class: int, pred_class: int) -> None:
        """Fill the browser with the stored misclassified test images of one cell."""
        self.browser.clear()
        ev = self.evaluation
        if not ev:
            return
        self.cellChosen.emit(true_class, pred_class)
        names = ev["class_names"]
        if true_class == pred_class:
            self.browser_label.setText(
                f"{names[true_class]} predicted correctly; choose an off-diagonal cell to see "
                "mistakes."
            )
            return
        mis = ev.get("misclassified") or {}
        shown = 0
        for idx, t, p, conf in zip(
            mis.get("index", []),
            mis.get("true", []),
            mis.get("pred", []),
            mis.get("confidence", []),
        ):
            if t != true_class or p != pred_class:
                continue
            shown += 1
            item = QListWidgetItem(f"#{idx}\n{conf:.2f}")
            item.setToolTip(
                f"test image #{idx}: true {names[t]}, predicted {names[p]} ({conf:.1%})"
            )
            if idx in self.images:
                item.setIcon(QIcon(array_to_pixmap(self.images[idx], self.thumb_px)))
            self.browser.addItem(item)
        count = int(np.asarray(ev["confusion"])[true_class, pred_class])
        more = f" (first {shown} stored)" if shown < count else ""
        self.browser_label.setText(
            f"true {names[true_class]}, predicted {names[pred_class]}: {count} images{more}"
        )

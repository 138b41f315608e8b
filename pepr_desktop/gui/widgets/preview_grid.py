"""Dataset preview: counts per class and split, warnings, and a grid of sample images per class.

The data come from `core.preview`, which reads the label arrays and seeks to a few image rows of
the canonical .npz: about 0.1 s for PneumoniaMNIST, and independent of the number of images, so
it runs on the GUI thread without a worker.
"""

from __future__ import annotations

import logging

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QHeaderView,
    QLabel,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from pepr_desktop.core.data.preview import DatasetPreview, preview_dataset
from pepr_desktop.core.data.sources import SPLITS, DatasetInfo
from pepr_desktop.core.errors import UserError
from pepr_desktop.gui.gui_text import for_gui

log = logging.getLogger(__name__)


def array_to_pixmap(image: np.ndarray, side: int) -> QPixmap:
    """A uint8 (H, W) grey or (H, W, 3) RGB array as a square pixmap `side` px wide."""
    a = np.ascontiguousarray(image, dtype=np.uint8)
    h, w = a.shape[:2]
    if a.ndim == 2:
        qimg = QImage(a.data, w, h, w, QImage.Format.Format_Grayscale8)
    else:
        qimg = QImage(a.data, w, h, 3 * w, QImage.Format.Format_RGB888)
    pix = QPixmap.fromImage(qimg.copy())  # copy: the QImage must not outlive the numpy buffer
    return pix.scaled(
        side,
        side,
        Qt.AspectRatioMode.KeepAspectRatio,
        Qt.TransformationMode.FastTransformation,  # nearest: 28 px images stay crisp, not blurred
    )


class PreviewGrid(QWidget):
    """Counts table, warnings and `per_class` sample thumbnails per class for one dataset.

    Use `show_dataset(info)` (reads the .npz) or `set_preview(preview)` (already read).
    """

    def __init__(
        self, parent: QWidget | None = None, *, per_class: int = 8, thumb_px: int = 64
    ) -> None:
        super().__init__(parent)
        self.per_class = per_class
        self.thumb_px = thumb_px
        self.preview: DatasetPreview | None = None
        self.summary = QLabel("No dataset selected.")
        self.summary.setWordWrap(True)
        self.warnings = QLabel()
        self.warnings.setWordWrap(True)
        self.warnings.setStyleSheet("color: #b45309;")
        self.warnings.hide()
        self.counts = QTableWidget(0, 1 + len(SPLITS))
        self.counts.setHorizontalHeaderLabels(["class", *SPLITS])
        self.counts.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.counts.verticalHeader().hide()
        self.counts.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.grid_host = QWidget()
        self.grid = QGridLayout(self.grid_host)
        self.grid.setSpacing(4)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.grid_host)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.warnings)
        layout.addWidget(self.counts)
        layout.addWidget(scroll, 1)

    def show_dataset(self, info: DatasetInfo) -> bool:
        """Preview a registered dataset; a problem is shown in the widget. True on success."""
        try:
            pv = preview_dataset(info, per_class=self.per_class)
        except UserError as exc:
            self.clear(for_gui(str(exc)))
            return False
        self.set_preview(pv)
        return True

    def clear(self, message: str = "No dataset selected.") -> None:
        self.preview = None
        self.summary.setText(message)
        self.warnings.hide()
        self.counts.setRowCount(0)
        self._clear_grid()

    def set_preview(self, pv: DatasetPreview) -> None:
        self.preview = pv
        h, w = pv.image_size
        sizes = pv.sizes
        self.summary.setText(
            f"<b>{pv.name}</b>: {len(pv.class_names)} classes, "
            f"{'grey' if pv.channels == 1 else 'RGB'} ({pv.channels} channel"
            f"{'s' if pv.channels > 1 else ''}), {h}x{w} px, "
            + ", ".join(f"{s} {sizes[s]}" for s in SPLITS)
        )
        if pv.warnings:
            self.warnings.setText("\n".join(f"⚠ {for_gui(w)}" for w in pv.warnings))
            self.warnings.show()
        else:
            self.warnings.hide()
        self.counts.setRowCount(len(pv.class_names))
        for r, name in enumerate(pv.class_names):
            self.counts.setItem(r, 0, QTableWidgetItem(name))
            for c, split in enumerate(SPLITS, 1):
                n = pv.counts[split][r]
                item = QTableWidgetItem(str(n))
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                total = sizes[split] or 1
                item.setToolTip(f"{100 * n / total:.1f}% of {split}")
                self.counts.setItem(r, c, item)
        self.counts.setFixedHeight(
            self.counts.horizontalHeader().height()
            + sum(self.counts.rowHeight(r) for r in range(self.counts.rowCount()))
            + 4
        )
        self._fill_grid(pv)

    def _clear_grid(self) -> None:
        while self.grid.count():
            item = self.grid.takeAt(0)
            if item.widget():
                item.widget().deleteLater()

    def _fill_grid(self, pv: DatasetPreview) -> None:
        self._clear_grid()
        for row, name in enumerate(pv.class_names):
            label = QLabel(f"{name}\n({pv.counts[pv.sample_split][row]})")
            label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.grid.addWidget(label, row, 0)
            for col, (img, idx) in enumerate(
                zip(pv.samples.get(row, []), pv.sample_index.get(row, [])), 1
            ):
                thumb = QLabel()
                thumb.setPixmap(array_to_pixmap(img, self.thumb_px))
                thumb.setToolTip(f"{pv.sample_split} image #{idx}")
                self.grid.addWidget(thumb, row, col)
        self.grid.setColumnStretch(self.per_class + 1, 1)

    def thumbnail_count(self) -> int:
        """Sample images currently shown (for tests and status lines)."""
        return sum(
            1
            for i in range(self.grid.count())
            if isinstance(w := self.grid.itemAt(i).widget(), QLabel)
            and w.pixmap() is not None
            and not w.pixmap().isNull()
        )

"""The budgeted search's accuracy chart: one curve per trial (validation metric per epoch),
pruned and stopped trials greyed, final runs drawn thick.

pyqtgraph is imported when the chart is built, never when this module is imported: the search
panel is built only when the user asks for it, and the app's start must not pay for pyqtgraph.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

Key = tuple[str, int]  # (phase, trial number): a final run continues the trial of its number
GREY = "#a8a8a8"
GREYED = ("pruned", "stopped", "failed", "skipped")  # trial statuses drawn (and listed) grey
FINAL_WIDTH = 3.5
TRIAL_WIDTH = 1.6
LEGEND = (
    "One line per trial (validation, never test). Grey: pruned or stopped early. "
    "Thick: the final runs on all the data; the winner's has large dots."
)


class SearchChart(QWidget):
    """Curves keyed by (phase, number); `add_point` draws as epochs arrive, `set_status` greys a
    trial that was pruned, `mark_winner` picks out the winner."""

    def __init__(self, metric_label: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from pepr_desktop.gui.charts import PALETTE, make_plot

        self._palette = PALETTE
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.plot = make_plot(
            f"Validation {metric_label} per epoch", "epoch", metric_label, integer_x=True
        )
        pi = self.plot.getPlotItem()
        pi.setYRange(0.0, 1.0, padding=0.02)  # the metric's whole scale: chance level reads as such
        pi.getAxis("left").setTicks([[(v / 5, f"{v / 5:.1f}") for v in range(6)]])
        self.plot.getPlotItem().getViewBox().setMouseEnabled(x=True, y=False)
        lay.addWidget(self.plot, 1)
        hint = QLabel(LEGEND)
        hint.setObjectName("hint")
        hint.setWordWrap(True)
        lay.addWidget(hint)
        self.curves: dict[Key, Any] = {}  # pyqtgraph PlotDataItem per trial
        self.points: dict[Key, list[tuple[float, float]]] = {}
        self.status: dict[Key, str] = {}
        self.winner: Key | None = None

    def _colour(self, key: Key) -> str:
        return self._palette[key[1] % len(self._palette)]

    def _pen(self, key: Key) -> Any:
        import pyqtgraph as pg

        if key[0] == "final":
            return pg.mkPen(self._colour(key), width=FINAL_WIDTH)
        if self.status.get(key) in GREYED:
            return pg.mkPen(GREY, width=1.2)
        return pg.mkPen(self._colour(key), width=TRIAL_WIDTH)

    def _style(self, key: Key) -> None:
        """Pen and small dots (a few epochs each: dots keep overlapping curves apart)."""
        item = self.curves[key]
        pen = self._pen(key)
        item.setPen(pen)
        item.setSymbol("o")
        item.setSymbolSize(5 if key[0] != "final" else 7)
        item.setSymbolPen(pen)
        item.setSymbolBrush(pen.color())

    def curve(self, key: Key) -> Any:
        """The curve of one trial, created on its first use."""
        if key not in self.curves:
            item = self.plot.plot([], [])
            if key[0] == "final":
                item.setZValue(10)  # finals above the trials they continue
            self.curves[key] = item
            self.points[key] = []
            self._style(key)
        return self.curves[key]

    def add_point(self, key: Key, epoch: int, value: float | None) -> None:
        """Epoch `epoch` (1-based) of trial `key`; a missing value (no metric) draws nothing."""
        item = self.curve(key)
        if value is None:
            return
        pts = self.points[key]
        pts.append((float(epoch), float(value)))
        item.setData([p[0] for p in pts], [p[1] for p in pts])

    def set_status(self, key: Key, status: str) -> None:
        self.status[key] = status
        if key in self.curves:
            self._style(key)

    def mark_winner(self, key: Key) -> None:
        item = self.curves.get(key)
        if item is None:
            return
        import pyqtgraph as pg

        item.setPen(pg.mkPen(self._colour(key), width=FINAL_WIDTH + 1.5))
        item.setSymbolSize(12)
        item.setZValue(20)
        self.winner = key

    def grey_keys(self) -> list[Key]:
        """The trials drawn grey (for tests and the status line)."""
        return [k for k in self.curves if k[0] != "final" and self.status.get(k) in GREYED]

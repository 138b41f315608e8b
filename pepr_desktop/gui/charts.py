"""Live charts that stay fluid on long runs, and read honestly.

Each curve is created once and fed from a bounded ring buffer; appending only marks the curve
dirty. One QTimer per `ChartHub` redraws dirty curves with `setData` at most `max_hz` times a
second, so the cost of charting does not grow with the event rate or the run length.

Readability (issue 19): epoch axes tick at whole epochs (`IntegerAxis`), legends sit outside the
data (`outside_legend`, or a legend strip above the charts), and a meter's figure is labelled
"estimated" or "measured" as the meter reports it (`power_kind`).

Importing this module loads pyqtgraph (themed, through chart_theme); the window imports it only
when a tab with charts is first shown (issue 20).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer

from pepr_desktop.gui.chart_theme import PALETTE, power_kind, pyqtgraph  # noqa: F401 (re-exported)

pg = pyqtgraph()  # themed before any chart of this module or of its importers is made

DEFAULT_CAPACITY = 20_000
AUTO_DOWNSAMPLE_FACTOR = 1.0  # peak buckets per pixel (pyqtgraph's default: 5)


class RingBuffer:
    """Fixed-capacity (x, y) storage; the oldest points fall off once it is full."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self._x = np.empty(capacity, dtype=np.float64)
        self._y = np.empty(capacity, dtype=np.float64)
        self._start = 0
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def append(self, x: float, y: float) -> None:
        i = (self._start + self._len) % self.capacity
        self._x[i], self._y[i] = x, y
        if self._len < self.capacity:
            self._len += 1
        else:
            self._start = (self._start + 1) % self.capacity

    def extend(self, xs: np.ndarray, ys: np.ndarray) -> None:
        """Append many points at once (vectorised; keeps only the newest `capacity`)."""
        xs = np.asarray(xs, dtype=np.float64)[-self.capacity :]
        ys = np.asarray(ys, dtype=np.float64)[-self.capacity :]
        old_x, old_y = self.arrays()
        keep = min(self.capacity - len(xs), len(old_x))
        nx = np.concatenate((old_x[len(old_x) - keep :], xs))
        ny = np.concatenate((old_y[len(old_y) - keep :], ys))
        self._x[: len(nx)], self._y[: len(ny)] = nx, ny
        self._start, self._len = 0, len(nx)

    def clear(self) -> None:
        self._start = self._len = 0

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The points in insertion order (views when contiguous, else one copy)."""
        end = self._start + self._len
        if end <= self.capacity:
            return self._x[self._start : end], self._y[self._start : end]
        k = end - self.capacity
        return (
            np.concatenate((self._x[self._start :], self._x[:k])),
            np.concatenate((self._y[self._start :], self._y[:k])),
        )

    def last(self) -> tuple[float, float] | None:
        if not self._len:
            return None
        i = (self._start + self._len - 1) % self.capacity
        return float(self._x[i]), float(self._y[i])


class LiveCurve:
    """One pyqtgraph curve plus its buffer; `flush` pushes the buffer with a single setData.
    `fit`: the view's range follows this curve (False for an earlier run kept for context)."""

    def __init__(self, item: pg.PlotDataItem, capacity: int) -> None:
        self.item = item
        self.buffer = RingBuffer(capacity)
        self.dirty = False
        self.fit = True

    def append(self, x: float, y: float) -> None:
        self.buffer.append(x, y)
        self.dirty = True

    def extend(self, xs: np.ndarray, ys: np.ndarray) -> None:
        self.buffer.extend(xs, ys)
        self.dirty = True

    def clear(self) -> None:
        self.buffer.clear()
        self.dirty = True

    def flush(self) -> bool:
        if not self.dirty:
            return False
        x, y = self.buffer.arrays()
        self.item.setData(x, y)
        self.dirty = False
        return True


class ChartHub(QObject):
    """Owns the redraw timer for a set of curves: each plot redraws at most `max_hz` per second.

    Plots take turns: one timer tick redraws one plot (round-robin over those with new data), so
    the GUI thread pays for one plot's paint at a time instead of all of them in one long stall.
    """

    def __init__(self, parent: QObject | None = None, max_hz: float = 10.0) -> None:
        super().__init__(parent)
        self.curves: list[LiveCurve] = []
        self.groups: dict[int, list[LiveCurve]] = {}  # curves per plot, in creation order
        self.max_hz = max_hz
        self._turn = 0
        self._reset: set[int] = set()  # views whose next fit starts from scratch
        self.redraws = 0  # number of setData calls made; tests and the benchmark read it
        self.timer = QTimer(self)
        self.timer.setInterval(max(1, int(1000 / max_hz)))
        self.timer.timeout.connect(self.flush)
        self.timer.start()

    def add_curve(
        self,
        plot: pg.PlotItem,
        name: str,
        color: str,
        *,
        capacity: int = DEFAULT_CAPACITY,
        symbol: str | None = None,
        dashed: bool = False,
    ) -> LiveCurve:
        pen = pg.mkPen(
            color, width=2, style=Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine
        )
        kwargs = (
            {"symbol": symbol, "symbolBrush": color, "symbolPen": None, "symbolSize": 7}
            if symbol
            else {}
        )
        # One peak bucket per pixel column: its min and max are all a pixel can show, and a
        # 10k-point curve then paints ~1k points instead of pyqtgraph's default ~7k (5 buckets
        # per pixel), which took the first paint of a long run from ~13 to ~7 ms (issue 19).
        item = plot.plot(
            [], [], pen=pen, name=name, autoDownsampleFactor=AUTO_DOWNSAMPLE_FACTOR, **kwargs
        )
        item.setClipToView(True)
        item.setDownsampling(auto=True, method="peak")
        curve = LiveCurve(item, capacity)
        self.curves.append(curve)
        self.groups.setdefault(id(plot), []).append(curve)
        self.timer.setInterval(max(1, int(1000 / (self.max_hz * len(self.groups)))))
        return curve

    def remove_curve(self, curve: LiveCurve) -> None:
        """Take `curve` off its plot and out of the redraw turns."""
        vb = curve.item.getViewBox()
        if vb is not None:
            vb.removeItem(curve.item)
        if curve in self.curves:
            self.curves.remove(curve)
        for group in self.groups.values():
            if curve in group:
                group.remove(curve)

    def reset_range(self, vb: pg.ViewBox) -> None:
        """Forget `vb`'s range: the next redraw fits it to its data from scratch (a new run)."""
        self._reset.add(id(vb))

    def flush(self) -> None:
        """Redraw the next plot (in turn) that has new data."""
        groups = list(self.groups.values())
        for k in range(len(groups)):
            i = (self._turn + k) % len(groups)
            if any(c.dirty for c in groups[i]):
                self._turn = i + 1
                self._flush_group(groups[i])
                return

    def flush_all(self) -> None:
        for group in self.groups.values():
            self._flush_group(group)

    def _flush_group(self, group: list[LiveCurve]) -> None:
        views: dict[int, pg.ViewBox] = {}
        for c in group:
            if c.flush():
                self.redraws += 1
                vb = c.item.getViewBox()
                if vb is not None:
                    views[id(vb)] = vb
        for vb in views.values():
            self._fit(vb)

    def _fit(self, vb: pg.ViewBox) -> None:
        """Set the view range here, with slack, instead of pyqtgraph's auto-range.

        Why: auto-range runs inside paint; each range change re-lays out the axes and schedules
        another paint, so one redraw of 10k-point curves became 3-4 paints in a row (measured:
        longest stall median 117 -> 72 ms with this and fixed axis widths, issue 7). The x range
        grows by 25% steps and y changes only when the data leaves it or fills a third of it."""
        xs: list[float] = []
        ys: list[float] = []
        every_y = getattr(vb, "y_all_runs", False)  # epoch charts: earlier runs stay in view
        for c in self.curves:
            if (c.fit or every_y) and c.item.getViewBox() is vb and len(c.buffer):
                x, y = c.buffer.arrays()
                y = y[np.isfinite(y)]
                if len(y):
                    if c.fit:
                        xs += [float(x.min()), float(x.max())]
                    ys += [float(y.min()), float(y.max())]
        if not xs:
            return
        vb.disableAutoRange()
        x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
        (cx0, cx1), (cy0, cy1) = vb.viewRange()
        fresh = id(vb) in self._reset  # a new run: fit from scratch, no stale range
        self._reset.discard(id(vb))
        fixed_x = getattr(vb, "fixed_x", None)  # epochs: (0.5, planned + 0.5), set per run
        fixed_y = getattr(vb, "fixed_y", None)  # accuracy: (0, 1)
        if fixed_x is not None:
            want = (fixed_x[0], max(fixed_x[1], x1 + 0.5))
            if fresh or abs(cx0 - want[0]) + abs(cx1 - want[1]) > 1e-6:
                vb.setXRange(*want, padding=0, update=False)
        else:
            xspan = max(x1 - x0, 1e-9)
            if fresh or not (cx0 <= x0 and x1 <= cx1 and cx1 - cx0 < 2 * xspan + 1):
                vb.setXRange(x0, x0 + 1.25 * xspan, padding=0.02, update=False)
        if fixed_y is not None:
            if fresh or abs(cy0 - fixed_y[0]) + abs(cy1 - fixed_y[1]) > 1e-6:
                vb.setYRange(*fixed_y, padding=0, update=False)
            return
        if getattr(vb, "from_zero", False) and y0 >= 0:  # power, energy, loss: 0 at the bottom,
            y0 = 0.0  # so a flat 35 W never looks like a swing between 34.9 and 35.1
        yspan = max(y1 - y0, 1e-9, 0.05 * abs(y1))
        if fresh or not (cy0 <= y0 and y1 <= cy1 and cy1 - cy0 < 3 * yspan + 1e-6):
            low = y0 if getattr(vb, "from_zero", False) and y0 == 0 else y0 - 0.1 * yspan
            vb.setYRange(low, y1 + 0.1 * yspan, padding=0, update=False)


class IntegerAxis(pg.AxisItem):
    """An axis that ticks only at whole numbers (epochs): never 1.2, 1.4."""

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list:
        span = max(maxVal - minVal, 1e-9)
        room = max(2, int(size / 40))  # about one label per 40 px
        step = 1
        for s in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000):
            step = s
            if span / s <= room:
                break
        first = int(np.ceil(minVal / step) * step)
        ticks = [float(v) for v in range(max(first, 0), int(maxVal) + 1, step)]
        return [(float(step), ticks)]

    def tickStrings(self, values: list, scale: float, spacing: float) -> list[str]:
        return [str(round(v)) for v in values]


def make_plot(
    title: str, x_label: str, y_label: str, *, integer_x: bool = False, legend: bool = False
) -> pg.PlotWidget:
    """A PlotWidget with the app's look: grid, labelled axes with units; `integer_x` ticks whole
    numbers only (epochs); `legend` adds a legend outside the data, below the x axis."""
    axes = {"bottom": IntegerAxis("bottom")} if integer_x else None
    w = pg.PlotWidget(axisItems=axes)
    w.setMinimumHeight(140)
    pi = w.getPlotItem()
    pi.setTitle(title)
    pi.setLabel("bottom", x_label)
    pi.setLabel("left", y_label)
    pi.showGrid(x=True, y=True, alpha=0.25)
    for axis in ("bottom", "left"):  # units are in the labels; no "(x0.001)" rescaling
        pi.getAxis(axis).enableAutoSIPrefix(False)
    pi.getAxis("left").setWidth(56)  # tick labels changing width must not re-lay out the plot
    if legend:
        outside_legend(w)
    pi.setMenuEnabled(True)
    return w


def outside_legend(w: pg.PlotWidget, columns: int = 3) -> pg.LegendItem:
    """A legend in the plot's layout below the x axis, so it never covers the data; items
    plotted with a `name` join it (pyqtgraph adds them to `PlotItem.legend`)."""
    pi = w.getPlotItem()
    legend = pg.LegendItem(colCount=columns, labelTextSize="8pt", frame=False)
    pi.layout.addItem(legend, 4, 1)
    pi.legend = legend
    return legend

"""Compare stored runs of one dataset: PePR-E/C/T/M table with ranks, accuracy-vs-resource scatter
with the Pareto front, overlaid per-epoch curves, export to CSV and PNG/SVG.

Scores come from `core.compare.compare_runs` (the same code as `pepr compare`); PePR depends on
the set compared, so it is recomputed whenever the selection changes and never stored. Point
labels are placed so they never overlap or leave the plot (widgets/point_labels.py), legends sit
below the axes, runs without epochs stay out of the curves, and a collapsed model is flagged.
"""

from __future__ import annotations

import csv
import html
import math
from pathlib import Path
from typing import Any

import pyqtgraph as pg
import pyqtgraph.exporters
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from pepr_desktop.core.errors import UserError
from pepr_desktop.core.resources import RESOURCES
from pepr_desktop.core.scoring.degenerate import run_verdict
from pepr_desktop.gui import file_dialogs
from pepr_desktop.gui.charts import PALETTE, make_plot
from pepr_desktop.gui.context import AppContext, show_error
from pepr_desktop.gui.widgets import point_labels
from pepr_desktop.gui.widgets.confusion import ConfusionView
from pepr_desktop.gui.widgets.tables import NumericItem, fmt_sig


def score_runs(runs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """One dict per run (acc, resources, pepr, rank, pareto per resource; None = excluded) and
    the comparison's notes (unfinished runs, mixed devices or meter methods)."""
    from pepr_desktop.core.scoring.compare import compare_runs

    table = compare_runs(runs, resource="all")
    rows = [
        {
            "run_id": r.run_id,
            "model": r.model,
            "status": r.status,
            "acc": r.performance,
            "resources": r.resources,
            "pepr": r.pepr,
            "rank": r.rank,
            "pareto": r.pareto,
            "excluded": r.excluded,
        }
        for r in table.rows
    ]
    return rows, list(table.notes)


def mixed_datasets_message(runs: list[dict[str, Any]]) -> str | None:
    """None when all runs share a dataset, else which runs are on which dataset and what to do."""
    by_ds: dict[str, list[int]] = {}
    for r in runs:
        by_ds.setdefault(str(r["dataset"]), []).append(int(r["id"]))
    if len(by_ds) < 2:
        return None
    parts = "; ".join(
        f"{ds}: run{'s' if len(ids) > 1 else ''} {', '.join(map(str, sorted(ids)))}"
        for ds, ids in sorted(by_ds.items())
    )
    return (
        f"The selected runs are on different datasets ({parts}). PePR normalises resources over "
        "one task's comparison set, so select runs of one dataset and compare again."
    )


def _fmt(v: Any, digits: int = 3) -> str:
    """Scores with `digits` decimals, resources with three significant digits, never 1e+03."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{digits}f}" if abs(v) <= 1 else fmt_sig(v, 3)
    return str(v)


def _short(text: str, n: int = 24) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


CONFUSION_TAB = "Confusion (select a run in the table)"


class CompareView(QWidget):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.rows: list[dict[str, Any]] = []
        self.notes: list[str] = []
        self._build()
        ctx.runs_changed.connect(self.refresh)
        self.refresh()

    def _build(self) -> None:
        root = QHBoxLayout(self)
        split = QSplitter(Qt.Orientation.Horizontal)
        root.addWidget(split)
        split.addWidget(self._build_left())
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Resource"))
        self.resource_combo = QComboBox()
        for k, r in RESOURCES.items():
            self.resource_combo.addItem(f"{k} ({r.unit}) → {r.name}", k)
        self.resource_combo.currentIndexChanged.connect(lambda _i: self.update_comparison())
        bar.addWidget(self.resource_combo)
        bar.addStretch(1)
        self.csv_btn = QPushButton("Export CSV…")
        self.csv_btn.clicked.connect(self._export_csv_dialog)
        self.plot_btn = QPushButton("Export plot (PNG/SVG)…")
        self.plot_btn.clicked.connect(self._export_plot_dialog)
        bar.addWidget(self.csv_btn)
        bar.addWidget(self.plot_btn)
        rl.addLayout(bar)
        headers = ["Run", "Model", "Status", "Test acc.", "Bal. acc.", "Check"]
        for k, r in RESOURCES.items():
            headers += [f"{k} ({r.unit})", r.name, f"rank {r.key}"]
        headers.append("Best epochs")
        self.table = QTableWidget(0, len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSortingEnabled(True)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.itemSelectionChanged.connect(self._on_row_selected)
        rl.addWidget(self.table, 2)
        self.note = QLabel()
        self.note.setTextFormat(Qt.TextFormat.RichText)
        self.note.setWordWrap(True)
        self.note.setObjectName("summary")
        rl.addWidget(self.note)
        rl.addWidget(self._build_charts(), 3)
        split.addWidget(right)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 4)
        split.setSizes([280, 1200])

    def _build_left(self) -> QWidget:
        left = QWidget()
        left.setMinimumWidth(220)
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(QLabel("Dataset"))
        self.dataset_combo = QComboBox()
        self.dataset_combo.currentTextChanged.connect(lambda _t: self._fill_runs())
        ll.addWidget(self.dataset_combo)
        ll.addWidget(QLabel("Runs (tick to compare)"))
        self.run_list = QListWidget()
        self.run_list.itemChanged.connect(lambda _i: self.update_comparison())
        ll.addWidget(self.run_list, 1)
        row = QHBoxLayout()
        all_btn = QPushButton("All")
        none_btn = QPushButton("None")
        all_btn.clicked.connect(lambda: self._check_all(True))
        none_btn.clicked.connect(lambda: self._check_all(False))
        row.addWidget(all_btn)
        row.addWidget(none_btn)
        ll.addLayout(row)
        return left

    def _build_charts(self) -> QTabWidget:
        """Accuracy vs resource (Pareto front), per-epoch curves, the selected run's confusion."""
        self.bottom_tabs = QTabWidget()
        self.chart_host = chart_host = QWidget()
        charts = QGridLayout(chart_host)
        charts.setContentsMargins(0, 0, 0, 0)
        self.scatter_plot = make_plot(
            "Accuracy vs resource", "resource", "test accuracy", legend=True
        )
        self.curves_plot = make_plot(
            "Per-epoch test accuracy", "epoch", "test accuracy", integer_x=True, legend=True
        )
        charts.addWidget(self.scatter_plot, 0, 0)
        charts.addWidget(self.curves_plot, 0, 1)
        self.bottom_tabs.addTab(chart_host, "Charts")
        self.confusion = ConfusionView(thumb_px=48)
        self.bottom_tabs.addTab(self.confusion, CONFUSION_TAB)
        self.scatter = pg.ScatterPlotItem(
            size=11, pen=pg.mkPen("#333"), brush=pg.mkBrush(PALETTE[0]), name="run"
        )
        self.scatter_plot.addItem(self.scatter)
        self.front_curve = self.scatter_plot.plot(
            [], [], pen=pg.mkPen(PALETTE[1], width=2), name="Pareto front (red points)"
        )
        self.labels: list[pg.TextItem] = []
        self.leaders: list[pg.PlotCurveItem] = []
        self._points: list[tuple[float, float, str]] = []
        vb = self.scatter_plot.getPlotItem().getViewBox()
        vb.sigResized.connect(lambda *_a: self._place_labels())
        vb.sigRangeChangedManually.connect(lambda *_a: self._place_labels())
        return self.bottom_tabs

    # data -------------------------------------------------------------------------------------
    def refresh(self) -> None:
        current = self.dataset_combo.currentText()
        names = sorted({r["dataset"] for r in self.ctx.store.runs()})
        self.dataset_combo.blockSignals(True)
        self.dataset_combo.clear()
        self.dataset_combo.addItems(names)
        if current in names:
            self.dataset_combo.setCurrentText(current)
        self.dataset_combo.blockSignals(False)
        self._fill_runs()

    def _fill_runs(self) -> None:
        checked = set(self.checked_ids())
        ds = self.dataset_combo.currentText()
        self.run_list.blockSignals(True)
        self.run_list.clear()
        for r in self.ctx.store.runs(dataset=ds or None) if ds else []:
            if r["status"] == "running":
                continue
            acc = r.get("test_acc")
            flag = " ⚠" if run_verdict(r) and r["status"] in ("finished", "stopped") else ""
            status = "" if r["status"] == "finished" else f" · {r['status']}"
            label = f"#{r['id']} {r.get('name') or r['model']}{status} · acc {_fmt(acc)}{flag}"
            it = QListWidgetItem(label)
            it.setData(Qt.ItemDataRole.UserRole, r["id"])
            it.setFlags(it.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            it.setCheckState(
                Qt.CheckState.Checked if r["id"] in checked else Qt.CheckState.Unchecked
            )
            self.run_list.addItem(it)
        self.run_list.blockSignals(False)
        self.update_comparison()

    def _check_all(self, on: bool) -> None:
        self.run_list.blockSignals(True)
        for i in range(self.run_list.count()):
            self.run_list.item(i).setCheckState(
                Qt.CheckState.Checked if on else Qt.CheckState.Unchecked
            )
        self.run_list.blockSignals(False)
        self.update_comparison()

    def checked_ids(self) -> list[int]:
        return [
            int(self.run_list.item(i).data(Qt.ItemDataRole.UserRole))
            for i in range(self.run_list.count())
            if self.run_list.item(i).checkState() == Qt.CheckState.Checked
        ]

    def set_runs(self, ids: list[int]) -> None:
        """Show these runs (they must share a dataset)."""
        runs = self.ctx.store.runs(ids=ids)
        mixed = mixed_datasets_message(runs)
        if mixed or not runs:
            show_error(self, "Compare", mixed or "The selected runs no longer exist.")
            return
        self.dataset_combo.setCurrentText(runs[0]["dataset"])
        self.run_list.blockSignals(True)
        for i in range(self.run_list.count()):
            it = self.run_list.item(i)
            on = int(it.data(Qt.ItemDataRole.UserRole)) in ids
            it.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
        self.run_list.blockSignals(False)
        self.update_comparison()

    def resource(self) -> str:
        return self.resource_combo.currentData() or "energy"

    def update_comparison(self) -> None:
        ids = self.checked_ids()
        self.rows = []
        self.notes = []
        if ids:
            try:
                runs = self.ctx.store.runs(ids=ids)
                self.rows, self.notes = score_runs(runs)
                self._add_best_epochs(runs)
                by_id = {int(r["id"]): r for r in runs}
                for row in self.rows:
                    run = by_id[row["run_id"]]
                    row["bacc"] = run.get("test_bacc")
                    v = run_verdict(run) if run.get("status") in ("finished", "stopped") else None
                    row["flag"] = v.label if v else ""
            except UserError as exc:
                show_error(self, "Compare", str(exc))
        self._fill_table()
        self._draw()

    def _add_best_epochs(self, runs: list[dict[str, Any]]) -> None:
        """The PePR-optimal epoch count of each run (core/scoring/epoch_pepr.py): in hindsight, the
        epoch whose accuracy per cumulative resource scores best over all ticked runs' epochs."""
        self.epoch_basis = ""
        from pepr_desktop.core.scoring.epoch_pepr import for_runs

        table = for_runs(self.ctx.store, runs)
        self.epoch_basis = table.basis
        best = {int(c.key): (c.best_epochs, c.epochs) for c in table.curves}
        for r in self.rows:
            r["best_epochs"], r["epochs"] = best.get(r["run_id"], (None, None))

    def selected_run_id(self) -> int | None:
        rows = {i.row() for i in self.table.selectedIndexes()}
        if len(rows) != 1:
            return None
        item = self.table.item(rows.pop(), 0)
        return int(item.text()) if item is not None else None

    def _on_row_selected(self) -> None:
        """The selected row's test-set confusion matrix (issue 13); a run without one says so."""
        rid = self.selected_run_id()
        tab = self.bottom_tabs.indexOf(self.confusion)
        if rid is None:
            self.confusion.set_evaluation(None)
            self.bottom_tabs.setTabText(tab, CONFUSION_TAB)
            return
        row = next((r for r in self.rows if r["run_id"] == rid), {})
        who = f"#{rid} {row.get('model', '')}".strip()
        self.bottom_tabs.setTabText(tab, f"Confusion: {who}")
        try:
            self.confusion.load_run(self.ctx.store, rid)
        except UserError as exc:
            self.confusion.set_evaluation(None)
            self.confusion.title.setText(f"Run {who}: {exc}")
            return
        self.confusion.title.setText(f"Run {who}: {self.confusion.title.text()}")

    def _fill_table(self) -> None:
        t = self.table
        t.setSortingEnabled(False)
        t.setRowCount(len(self.rows))
        for i, r in enumerate(self.rows):
            values: list[Any] = [
                r["run_id"],
                r["model"],
                r["status"],
                r["acc"],
                r.get("bacc"),
                f"⚠ {r['flag']}" if r.get("flag") else "",
            ]
            for k in RESOURCES:
                values += [r["resources"].get(k), r["pepr"].get(k), r["rank"].get(k)]
            values.append(r.get("best_epochs"))
            for j, v in enumerate(values):
                numeric = isinstance(v, (int, float)) and not isinstance(v, bool)
                item = NumericItem(_fmt(v), float(v)) if numeric else QTableWidgetItem(_fmt(v))
                if j == len(values) - 1 and r.get("epochs"):
                    item.setToolTip(f"of {r['epochs']} trained epochs")
                if j in (3, 5) and r.get("flag"):
                    item.setForeground(Qt.GlobalColor.red)
                    item.setToolTip(f"Not a useful model: {r['flag']}")
                t.setItem(i, j, item)
        t.setSortingEnabled(True)
        excluded = sorted(
            {f"#{r['run_id']} {k}: {why}" for r in self.rows for k, why in r["excluded"].items()}
        )
        base = (
            "PePR = accuracy / (1 + normalised resource), min-max over the ticked runs "
            "(Selvan et al., NLDL 2025)."
        )
        if self.rows and getattr(self, "epoch_basis", ""):
            base += (
                f" Best epochs: the PePR-optimal epoch count ({self.epoch_basis}), in hindsight."
            )
        text = base + (" Not scored: " + "; ".join(excluded[:6]) if excluded else "")
        notes = [html.escape(n) for n in self.notes]
        warnings = [n for n in notes if n.startswith("warning")]
        others = [n for n in notes if not n.startswith("warning")]
        if others:
            text += "<br>Note: " + "; ".join(others)
        if warnings:  # unlike hardware or meters: the resource figures may not compare
            text += "<br><b style='color:#b45309'>⚠ " + "<br>⚠ ".join(warnings) + "</b>"
        self.note.setText(text)

    def _draw(self) -> None:
        self._draw_scatter()
        self._draw_curves()

    def _draw_scatter(self) -> None:
        res = self.resource()
        unit, key = RESOURCES[res].unit, RESOURCES[res].key
        pi = self.scatter_plot.getPlotItem()
        pi.setLabel("bottom", f"{res} ({unit})")
        pi.setTitle(f"Test accuracy vs {res} (PePR-{key})")
        pts = [(r["resources"].get(res), r["acc"], r) for r in self.rows]
        pts = [(x, y, r) for x, y, r in pts if x is not None and y is not None]
        spots = [
            {
                "pos": (x, y),
                "brush": pg.mkBrush(PALETTE[1] if r["pareto"].get(res) else PALETTE[0]),
                "symbol": "x" if r.get("flag") else "o",
            }
            for x, y, r in pts
        ]
        self.scatter.setData(spots)
        front = sorted((x, y) for x, y, r in pts if r["pareto"].get(res))
        self.front_curve.setData([p[0] for p in front], [p[1] for p in front])
        self._points = [
            (x, y, f"#{r['run_id']} {_short(str(r['model']))}" + (" ⚠" if r.get("flag") else ""))
            for x, y, r in pts
        ]
        if pts:  # room around the points for their labels; the labels then fit inside
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            xspan = max(max(xs) - min(xs), abs(max(xs)) * 0.1, 1e-9)
            yspan = max(max(ys) - min(ys), 0.05)
            vb = pi.getViewBox()
            vb.disableAutoRange()
            low = min(xs) - 0.25 * xspan
            vb.setRange(  # resources are never negative: the axis starts at 0 at the lowest
                xRange=(max(low, 0.0) if min(xs) >= 0 else low, max(xs) + 0.25 * xspan),
                yRange=(min(ys) - 0.3 * yspan, max(ys) + 0.3 * yspan),
                padding=0,
            )
        self._place_labels()

    def _place_labels(self) -> None:
        """Labels beside their points, never overlapping, inside the plot (leader lines when a
        label had to move away)."""
        from PySide6.QtCore import QPointF

        for item in self.labels + self.leaders:
            self.scatter_plot.removeItem(item)
        self.labels, self.leaders = [], []
        vb = self.scatter_plot.getPlotItem().getViewBox()
        w, h = vb.width(), vb.height()
        if not self._points:
            return
        if w < 10 or h < 10:  # not laid out yet: plain labels; resizing places them
            w, h = 600.0, 300.0
        px = [vb.mapFromView(QPointF(x, y)) for x, y, _t in self._points]
        items = [pg.TextItem(text, color="#444", anchor=(0, 0)) for _x, _y, text in self._points]
        sizes = [(t.boundingRect().width() + 2, t.boundingRect().height() + 1) for t in items]
        placed = point_labels.place(
            [(p.x(), p.y()) for p in px], [t for _x, _y, t in self._points], w, h, sizes=sizes
        )
        for (x, y, _text), box, t in zip(self._points, placed, items):
            corner = vb.mapToView(QPointF(box.x, box.y))
            t.setPos(corner.x(), corner.y())
            self.scatter_plot.addItem(t, ignoreBounds=True)
            self.labels.append(t)
            if box.leader:
                mid = vb.mapToView(QPointF(box.x + box.w / 2, box.y + box.h / 2))
                line = pg.PlotCurveItem([x, mid.x()], [y, mid.y()], pen=pg.mkPen("#999", width=1))
                self.scatter_plot.addItem(line, ignoreBounds=True)
                self.leaders.append(line)

    def _draw_curves(self) -> None:
        cp = self.curves_plot.getPlotItem()
        cp.clear()
        if cp.legend is not None:
            cp.legend.clear()
        longest = 0
        for n, r in enumerate(self.rows):
            eps = self.ctx.store.epochs(r["run_id"])
            xs = [e["epoch"] + 1 for e in eps if e.get("test_acc") is not None]
            ys = [e["test_acc"] for e in eps if e.get("test_acc") is not None]
            if not xs:  # a run stopped before its first epoch: nothing to draw or name
                continue
            longest = max(longest, max(xs))
            color = PALETTE[n % len(PALETTE)]
            cp.plot(
                xs,
                ys,
                pen=pg.mkPen(color, width=2),
                symbol="o",
                symbolBrush=color,
                symbolSize=6,
                name=f"#{r['run_id']} {_short(str(r['model']))}",
            )
        if longest:
            cp.getViewBox().setXRange(0.5, longest + 0.5, padding=0)

    # export -----------------------------------------------------------------------------------
    def export_csv(self, path: Path) -> None:
        fields = ["run_id", "model", "status", "test_acc"]
        for k, r in RESOURCES.items():
            fields += [f"{k}_{r.unit}", f"pepr_{r.key}", f"rank_{r.key}", f"pareto_{r.key}"]
        fields.append("best_epochs")
        with open(path, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(fields)
            for r in self.rows:
                row = [r["run_id"], r["model"], r["status"], r["acc"]]
                for k in RESOURCES:
                    row += [
                        r["resources"].get(k),
                        r["pepr"].get(k),
                        r["rank"].get(k),
                        r["pareto"].get(k),
                    ]
                row.append(r.get("best_epochs"))
                w.writerow(["" if v is None else v for v in row])

    def export_plot(self, path: Path) -> None:
        if path.suffix.lower() == ".svg":
            # Qt's own SVG painter: pyqtgraph's SVGExporter fails on Qt 6.12's path syntax.
            from PySide6.QtCore import QPoint
            from PySide6.QtGui import QPainter
            from PySide6.QtSvg import QSvgGenerator

            w = self.chart_host
            gen = QSvgGenerator()
            gen.setFileName(str(path))
            gen.setSize(w.size())
            gen.setViewBox(w.rect())
            gen.setTitle("PePR comparison")
            painter = QPainter(gen)
            try:
                w.render(painter, QPoint(0, 0))
            finally:
                painter.end()
            if not path.is_file():
                raise OSError(f"could not write {path}")
        else:
            image = self.charts_image()
            if not image.save(str(path), "PNG") and not path.is_file():
                raise OSError(f"could not write {path}")

    def charts_image(self, width: int = 900) -> Any:
        """Both charts side by side, each with its legend, as one QImage."""
        from PySide6.QtGui import QColor, QImage, QPainter

        parts = []
        for plot in (self.scatter_plot, self.curves_plot):
            exporter = pyqtgraph.exporters.ImageExporter(plot.getPlotItem())
            exporter.parameters()["width"] = width
            parts.append(exporter.export(toBytes=True))
        out = QImage(
            sum(p.width() for p in parts),
            max(p.height() for p in parts),
            QImage.Format.Format_RGB32,
        )
        out.fill(QColor("white"))
        painter = QPainter(out)
        try:
            x = 0
            for p in parts:
                painter.drawImage(x, 0, p)
                x += p.width()
        finally:
            painter.end()
        return out

    def _export_csv_dialog(self) -> None:
        if not self.rows:
            show_error(self, "Export", "Tick at least one run to compare first.")
            return
        path = file_dialogs.save_file(self, "Export comparison", "pepr_compare.csv", "CSV (*.csv)")
        if path:
            try:
                self.export_csv(Path(path))
            except OSError as exc:
                show_error(self, "Export failed", f"could not write {path}: {exc.strerror or exc}")

    def _export_plot_dialog(self) -> None:
        path = file_dialogs.save_file(
            self, "Export plot", "pepr_compare.png", "PNG image (*.png);;SVG drawing (*.svg)"
        )
        if path:
            try:
                self.export_plot(Path(path))
            except OSError as exc:
                show_error(self, "Export failed", f"could not write {path}: {exc.strerror or exc}")

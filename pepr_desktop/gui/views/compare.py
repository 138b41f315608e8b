"""Compare stored runs of one dataset: PePR-E/C/T/M table with ranks, accuracy-vs-resource scatter
with the Pareto front, overlaid per-epoch curves, export to CSV and PNG/SVG.

Scores come from `core.compare.compare_runs` (the same code as `pepr compare`); PePR depends on
the set compared, so it is recomputed whenever the selection changes and never stored.
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
    QVBoxLayout,
    QWidget,
)

from pepr_desktop.core.errors import UserError
from pepr_desktop.core.resources import RESOURCES
from pepr_desktop.gui import file_dialogs
from pepr_desktop.gui.charts import PALETTE, make_plot
from pepr_desktop.gui.context import AppContext, show_error
from pepr_desktop.gui.widgets.tables import NumericItem


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


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


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

        left = QWidget()
        left.setMinimumWidth(260)
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
        split.addWidget(left)

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
        headers = ["Run", "Model", "Status", "Test acc."]
        for k, r in RESOURCES.items():
            headers += [f"{k} ({r.unit})", r.name, f"rank {r.key}"]
        headers.append("Best epochs")
        self.table = QTableWidget(0, len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSortingEnabled(True)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        rl.addWidget(self.table, 2)
        self.note = QLabel()
        self.note.setTextFormat(Qt.TextFormat.RichText)
        self.note.setWordWrap(True)
        self.note.setObjectName("summary")
        rl.addWidget(self.note)
        from PySide6.QtWidgets import QTabWidget

        from pepr_desktop.gui.widgets.confusion import ConfusionView

        self.bottom_tabs = QTabWidget()
        chart_host = QWidget()
        charts = QGridLayout(chart_host)
        charts.setContentsMargins(0, 0, 0, 0)
        self.scatter_plot = make_plot("Accuracy vs resource", "resource", "test accuracy")
        self.curves_plot = make_plot("Per-epoch test accuracy", "epoch", "test accuracy")
        charts.addWidget(self.scatter_plot, 0, 0)
        charts.addWidget(self.curves_plot, 0, 1)
        self.bottom_tabs.addTab(chart_host, "Charts")
        self.confusion = ConfusionView(thumb_px=48)
        self.bottom_tabs.addTab(self.confusion, "Confusion of selected run")
        rl.addWidget(self.bottom_tabs, 3)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.itemSelectionChanged.connect(self._on_row_selected)
        self.scatter = pg.ScatterPlotItem(
            size=11, pen=pg.mkPen("#333"), brush=pg.mkBrush(PALETTE[0])
        )
        self.scatter_plot.addItem(self.scatter)
        self.front_curve = self.scatter_plot.plot(
            [], [], pen=pg.mkPen(PALETTE[1], width=2), name="Pareto front"
        )
        self.labels: list[pg.TextItem] = []
        split.addWidget(right)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 4)
        split.setSizes([280, 1200])

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
            label = f"#{r['id']} {r.get('name') or r['model']} · {r['status']} · acc {_fmt(acc, 3)}"
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
        if rid is None:
            self.confusion.set_evaluation(None)
            return
        try:
            self.confusion.load_run(self.ctx.store, rid)
        except UserError as exc:
            self.confusion.set_evaluation(None)
            self.confusion.title.setText(str(exc))

    def _fill_table(self) -> None:
        t = self.table
        t.setSortingEnabled(False)
        t.setRowCount(len(self.rows))
        for i, r in enumerate(self.rows):
            values: list[Any] = [r["run_id"], r["model"], r["status"], r["acc"]]
            for k in RESOURCES:
                values += [r["resources"].get(k), r["pepr"].get(k), r["rank"].get(k)]
            values.append(r.get("best_epochs"))
            for j, v in enumerate(values):
                numeric = isinstance(v, (int, float)) and not isinstance(v, bool)
                item = NumericItem(_fmt(v), float(v)) if numeric else QTableWidgetItem(_fmt(v))
                if j == len(values) - 1 and r.get("epochs"):
                    item.setToolTip(f"of {r['epochs']} trained epochs")
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
        res = self.resource()
        unit, key = RESOURCES[res].unit, RESOURCES[res].key
        pi = self.scatter_plot.getPlotItem()
        pi.setLabel("bottom", f"{res} ({unit})")
        pi.setTitle(f"Test accuracy vs {res} — Pareto front in red (PePR-{key})")
        for lab in self.labels:
            self.scatter_plot.removeItem(lab)
        self.labels = []
        pts = [(r["resources"].get(res), r["acc"], r) for r in self.rows]
        pts = [(x, y, r) for x, y, r in pts if x is not None and y is not None]
        spots = [
            {"pos": (x, y), "brush": pg.mkBrush(PALETTE[1] if r["pareto"].get(res) else PALETTE[0])}
            for x, y, r in pts
        ]
        self.scatter.setData(spots)
        for x, y, r in pts:
            t = pg.TextItem(f"#{r['run_id']} {r['model']}", color="#555", anchor=(0, 1))
            t.setPos(x, y)
            self.scatter_plot.addItem(t)
            self.labels.append(t)
        front = sorted((x, y) for x, y, r in pts if r["pareto"].get(res))
        self.front_curve.setData([p[0] for p in front], [p[1] for p in front])
        cp = self.curves_plot.getPlotItem()
        cp.clear()
        if cp.legend is not None:
            cp.legend.clear()
        for n, r in enumerate(self.rows):
            eps = self.ctx.store.epochs(r["run_id"])
            xs = [e["epoch"] + 1 for e in eps if e.get("test_acc") is not None]
            ys = [e["test_acc"] for e in eps if e.get("test_acc") is not None]
            color = PALETTE[n % len(PALETTE)]
            cp.plot(
                xs,
                ys,
                pen=pg.mkPen(color, width=2),
                symbol="o",
                symbolBrush=color,
                symbolSize=6,
                name=f"#{r['run_id']} {r['model']}",
            )

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
            from PySide6.QtGui import QPainter
            from PySide6.QtSvg import QSvgGenerator

            w = self.scatter_plot
            gen = QSvgGenerator()
            gen.setFileName(str(path))
            gen.setSize(w.size())
            gen.setViewBox(w.rect())
            gen.setTitle("PePR comparison")
            painter = QPainter(gen)
            try:
                w.render(painter)
            finally:
                painter.end()
            if not path.is_file():
                raise OSError(f"could not write {path}")
        else:
            exporter = pyqtgraph.exporters.ImageExporter(self.scatter_plot.getPlotItem())
            exporter.parameters()["width"] = 1200
            if not exporter.export(str(path)) and not path.is_file():
                raise OSError(f"could not write {path}")

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

"""Live training: progress with ETA and the phase (training, evaluating), budget bars, the live
charts, Pause/Resume/Stop, the editable queue, the last run's summary card and the log.

Events arrive from the worker as signals on the GUI thread. Handlers only append to ring buffers
and update labels; the charts redraw on their own timer, so the cost per event stays constant.
Runs stay on the charts when the queue moves on (each its own colour, the newest bold, up to
`MAX_RUNS_SHOWN`); the axes reset for each run. A failed run opens a dialog that says what
happened and what to click (gui/run_errors.py).
"""

from __future__ import annotations

import html
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from pepr_desktop.core.events import BatchEnded, EpochEnded, MeterSample, RunFinished, RunStarted
from pepr_desktop.core.metering.projection import extrapolate, fraction_done
from pepr_desktop.core.training.config import TrainConfig
from pepr_desktop.core.training.threads import throttled
from pepr_desktop.gui.charts import PALETTE, ChartHub, LiveCurve, make_plot, power_kind
from pepr_desktop.gui.context import AppContext, show_error
from pepr_desktop.gui.run_errors import explain
from pepr_desktop.gui.widgets.run_card import RunCard, duration
from pepr_desktop.gui.widgets.tables import fmt_sig

log = logging.getLogger(__name__)

LOG_LINES = 2_000
MAX_RUNS_SHOWN = 6  # runs kept on the charts; older ones leave them
EMPTY_STATE = (
    "<h3>No run yet</h3><p>Queue one from <b>New experiment</b>: pick a dataset, then "
    "<b>Find the best model</b>, <b>Recommend models</b> and <b>Train selected</b>, or type a "
    "model name and click <b>Train</b>.</p><p>Power, energy, loss and accuracy are charted here "
    "live; each run keeps its colour when the next one starts.</p>"
)


def _duration(s: float | None) -> str:
    return "–" if s is None or s != s or s < 0 else duration(s)


@dataclass
class ChartRun:
    """One run's curves on the four charts."""

    run_id: int
    label: str
    color: str
    curves: dict[str, LiveCurve] = field(default_factory=dict)


class TrainingView(QWidget):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.cfg: TrainConfig | None = None
        self.started: RunStarted | None = None
        self.t0 = 0.0
        self.elapsed = 0.0
        self.energy_j: float | None = None
        self.peak_mem: float | None = None
        self.epochs_seen: list[EpochEnded] = []
        self.last_event: Any = None
        self.chart_runs: list[ChartRun] = []
        self.session_ids: list[int] = []  # runs trained in this window (the card's PePR set)
        self.meter_method = ""
        self.phase = ""
        self._n_runs = 0
        self.hub = ChartHub(self)
        self._build()
        w = ctx.training
        w.event.connect(self.on_event)
        w.queue_changed.connect(self._on_queue)
        w.busy_changed.connect(self._on_busy)
        w.user_error.connect(self._on_user_error)
        w.sweep_progress.connect(self.append_log)
        w.crashed.connect(self._on_crash)
        self._on_busy(False)

    # layout -------------------------------------------------------------------------------------
    def _build(self) -> None:
        root = QVBoxLayout(self)
        head = QHBoxLayout()
        self.run_label = QLabel("No run yet. Queue one from New experiment.")
        self.run_label.setObjectName("headline")
        head.addWidget(self.run_label, 1)
        self.pause_btn = QPushButton("Pause")
        self.resume_btn = QPushButton("Resume")
        self.stop_btn = QPushButton("Stop")
        self.stop_btn.setObjectName("danger")
        self.stop_btn.setToolTip("Stop after the current batch; the finished epochs are kept")
        self.pause_btn.clicked.connect(self.pause)
        self.resume_btn.clicked.connect(self.resume)
        self.stop_btn.clicked.connect(self.stop)
        for b in (self.pause_btn, self.resume_btn, self.stop_btn):
            head.addWidget(b)
        root.addLayout(head)
        root.addLayout(self._build_progress())
        self.stack = QStackedWidget()
        self.empty = QLabel(EMPTY_STATE)
        self.empty.setObjectName("empty")
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.stack.addWidget(self.empty)
        # charts on top, queue + card + log in a full-width strip below: a side column made the
        # log so narrow that lines wrapped every few words
        split = QSplitter(Qt.Orientation.Vertical)
        split.setChildrenCollapsible(False)
        split.addWidget(self._build_charts())
        split.addWidget(self._build_bottom())
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        split.setSizes([600, 200])
        self.stack.addWidget(split)
        root.addWidget(self.stack, 1)

    def _build_progress(self) -> QGridLayout:
        prog = QGridLayout()
        prog.setVerticalSpacing(4)
        self.phase_label = QLabel("")
        self.phase_label.setObjectName("hint")
        self.epoch_bar = QProgressBar()
        self.batch_bar = QProgressBar()
        self.eta_label = QLabel("ETA –")
        prog.addWidget(self.phase_label, 0, 0, 1, 6)
        prog.addWidget(QLabel("Epochs"), 1, 0)
        prog.addWidget(self.epoch_bar, 1, 1)
        prog.addWidget(QLabel("Batches"), 1, 2)
        prog.addWidget(self.batch_bar, 1, 3)
        prog.addWidget(self.eta_label, 1, 4, 1, 2)
        self.energy_bar = QProgressBar()
        self.time_bar = QProgressBar()
        self.memory_bar = QProgressBar()
        for i, (name, bar) in enumerate(
            (
                ("Energy budget", self.energy_bar),
                ("Time budget", self.time_bar),
                ("Memory budget", self.memory_bar),
            )
        ):
            bar.setFormat("no limit")
            bar.setValue(0)
            prog.addWidget(QLabel(name), 2, 2 * i)
            prog.addWidget(bar, 2, 2 * i + 1)
        for c in (1, 3, 5):
            prog.setColumnStretch(c, 1)
        return prog

    def _build_charts(self) -> QWidget:
        charts = QWidget()
        outer = QVBoxLayout(charts)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(2)
        self.legend = QLabel()  # one legend for the four charts, outside the data
        self.legend.setWordWrap(True)
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        outer.addWidget(self.legend)
        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        outer.addLayout(grid, 1)
        self.power_plot = make_plot("Power", "time (s)", "power (W)")
        self.energy_plot = make_plot("Cumulative energy", "time (s)", "energy (Wh)")
        self.loss_plot = make_plot("Training loss", "epoch", "cross-entropy", integer_x=True)
        self.acc_plot = make_plot("Accuracy", "epoch", "accuracy", integer_x=True)
        self.acc_plot.getPlotItem().getViewBox().fixed_y = (0.0, 1.0)
        for plot in (self.power_plot, self.energy_plot, self.loss_plot):
            plot.getPlotItem().getViewBox().from_zero = True
        self.loss_plot.getPlotItem().getViewBox().y_all_runs = True
        self.acc_plot.setYRange(0, 1, padding=0)
        grid.addWidget(self.power_plot, 0, 0)
        grid.addWidget(self.energy_plot, 0, 1)
        grid.addWidget(self.loss_plot, 1, 0)
        grid.addWidget(self.acc_plot, 1, 1)
        self.budget_line = pg.InfiniteLine(
            angle=0,
            pen=pg.mkPen(PALETTE[1], width=2, style=Qt.PenStyle.DotLine),
            label="budget",
            labelOpts={"position": 0.1, "color": PALETTE[1]},
        )
        self.budget_line.setVisible(False)
        self.energy_plot.addItem(self.budget_line)
        self.power_note = pg.TextItem("", color="#888", anchor=(0, 0))
        self.power_plot.addItem(self.power_note)
        self._update_legend()
        return charts

    def _build_bottom(self) -> QSplitter:
        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.setChildrenCollapsible(False)
        qbox = QGroupBox("Queue")
        ql = QVBoxLayout(qbox)
        self.queue_list = QListWidget()
        ql.addWidget(self.queue_list, 1)
        row = QHBoxLayout()
        self.up_btn = QPushButton("Up")
        self.down_btn = QPushButton("Down")
        self.remove_btn = QPushButton("Remove")
        self.up_btn.clicked.connect(lambda: self._move_selected(-1))
        self.down_btn.clicked.connect(lambda: self._move_selected(1))
        self.remove_btn.clicked.connect(self._remove_selected)
        for b in (self.up_btn, self.down_btn, self.remove_btn):
            b.setToolTip("Reorder or drop the waiting runs (the running one: Stop)")
            row.addWidget(b)
        ql.addLayout(row)
        bottom.addWidget(qbox)
        self.card = RunCard()
        bottom.addWidget(self.card)
        lbox = QGroupBox("Log")
        lbox.setMinimumWidth(260)
        ll = QVBoxLayout(lbox)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(LOG_LINES)
        ll.addWidget(self.log)
        bottom.addWidget(lbox)
        bottom.setStretchFactor(0, 1)
        bottom.setStretchFactor(1, 2)
        bottom.setStretchFactor(2, 3)
        bottom.setSizes([240, 420, 700])
        bottom.setMinimumHeight(130)
        self.log_panel = lbox
        return bottom

    # the runs on the charts ---------------------------------------------------------------------
    def _add_chart_run(self, ev: RunStarted) -> ChartRun:
        """New curves for this run; the previous ones fade and stop steering the axes."""
        for old in self.chart_runs:
            self._fade(old)
        if self.chart_runs and self.chart_runs[-1].run_id == ev.run_id:  # resumed: same run
            for c in self.chart_runs.pop().curves.values():
                self.hub.remove_curve(c)
        while len(self.chart_runs) >= MAX_RUNS_SHOWN:
            for c in self.chart_runs.pop(0).curves.values():
                self.hub.remove_curve(c)
        color = PALETTE[self._n_runs % len(PALETTE)]
        self._n_runs += 1
        h = self.hub
        pi = {
            "power": self.power_plot.getPlotItem(),
            "energy": self.energy_plot.getPlotItem(),
            "loss": self.loss_plot.getPlotItem(),
            "acc": self.acc_plot.getPlotItem(),
        }
        run = ChartRun(ev.run_id, f"#{ev.run_id} {ev.model}", color)
        run.curves = {
            "power": h.add_curve(pi["power"], "power", color),
            "energy": h.add_curve(pi["energy"], "energy", color),
            "projection": h.add_curve(pi["energy"], "projected", color, capacity=2, dashed=True),
            "loss": h.add_curve(pi["loss"], "train", color, capacity=10_000, symbol="o"),
            "val": h.add_curve(pi["acc"], "val", color, capacity=10_000, symbol="o"),
            "test": h.add_curve(pi["acc"], "test", color, capacity=10_000, symbol="s", dashed=True),
        }
        self.chart_runs.append(run)
        for plot in (self.power_plot, self.energy_plot, self.loss_plot, self.acc_plot):
            vb = plot.getPlotItem().getViewBox()
            h.reset_range(vb)
        span = (0.5, ev.epochs + 0.5)
        for plot in (self.loss_plot, self.acc_plot):
            vb = plot.getPlotItem().getViewBox()
            vb.fixed_x = span
            vb.setXRange(*span, padding=0)
        self._update_legend()
        return run

    def _fade(self, run: ChartRun) -> None:
        faded = QColor(run.color)
        faded.setAlpha(110)
        for key, c in run.curves.items():
            if key == "projection":
                c.clear()
                c.flush()
                continue
            style = Qt.PenStyle.DashLine if key == "test" else Qt.PenStyle.SolidLine
            c.item.setPen(pg.mkPen(faded, width=1.2, style=style))
            if c.item.opts.get("symbol"):
                c.item.setSymbolSize(4)
                c.item.setSymbolBrush(faded)
            c.fit = False

    def _update_legend(self) -> None:
        runs = []
        for i, r in enumerate(reversed(self.chart_runs)):
            name = html.escape(r.label)
            runs.append(
                f"<span style='color:{r.color}'>━━</span> "
                + (f"<b>{name}</b> (now)" if i == 0 else name)
            )
        kind = power_kind(self.meter_method) if self.meter_method else ""
        lines = "●━ validation &nbsp; ■┅ test &nbsp; ┅ projected energy" + (
            f" &nbsp; power and energy {kind}" if kind else ""
        )
        self.legend.setText(
            ("Runs: " + " &nbsp; ".join(runs) + " &nbsp;|&nbsp; " if runs else "") + lines
        )

    def _set_meter_method(self, method: str) -> None:
        """Title the power and energy charts as the meter reports itself."""
        if not method or method == self.meter_method:
            return
        self.meter_method = method
        kind = power_kind(method)
        self.power_plot.getPlotItem().setTitle(f"Power — {kind} ({method})")
        self.energy_plot.getPlotItem().setTitle(f"Cumulative energy — {kind}")
        self._update_legend()

    @property
    def newest(self) -> ChartRun | None:
        return self.chart_runs[-1] if self.chart_runs else None

    def _curve(self, key: str) -> LiveCurve:
        run = self.newest
        if run is None:
            raise AttributeError(key)
        return run.curves[key]

    # the newest run's curves, by name (tests and the benchmark feed and read them)
    power_curve = property(lambda self: self._curve("power"))
    energy_curve = property(lambda self: self._curve("energy"))
    projection_curve = property(lambda self: self._curve("projection"))
    loss_curve = property(lambda self: self._curve("loss"))
    val_curve = property(lambda self: self._curve("val"))
    test_curve = property(lambda self: self._curve("test"))

    # commands -----------------------------------------------------------------------------------
    def start(self, cfgs: list[TrainConfig]) -> None:
        for c in cfgs:
            what = f"resume of run {c.run_id}: " if hasattr(c, "run_id") else ""
            self.append_log(
                f"queued {what}{c.model} on {c.dataset} ({c.epochs} epochs, {c.device})"
            )
        self.ctx.training.enqueue(cfgs)

    def pause(self) -> None:
        self.ctx.training.pause()
        self.append_log("paused")
        self._set_phase("Paused: Resume continues after this batch.")
        self._on_busy(True)

    def resume(self) -> None:
        self.ctx.training.resume()
        self.append_log("resumed")
        self._set_phase("Resumed.")
        self._on_busy(True)

    def stop(self) -> None:
        self.ctx.training.stop()
        self.append_log("stop requested: the run ends after the current batch")
        self._set_phase("Stopping after the current batch…")

    def append_log(self, text: str) -> None:
        self.log.appendPlainText(f"{time.strftime('%H:%M:%S')}  {text}")

    def _selected_queue_row(self) -> int:
        return self.queue_list.currentRow()

    def _move_selected(self, delta: int) -> None:
        row = self._selected_queue_row()
        if row >= 0 and self.ctx.training.move(row, delta):
            self.queue_list.setCurrentRow(row + delta)

    def _remove_selected(self) -> None:
        row = self._selected_queue_row()
        if row >= 0:
            self.ctx.training.remove(row)

    # events -------------------------------------------------------------------------------------
    def _set_phase(self, text: str) -> None:
        if text != self.phase:
            self.phase = text
            self.phase_label.setText(text)

    def _on_busy(self, busy: bool) -> None:
        paused = self.ctx.training.paused
        self.pause_btn.setEnabled(busy and not paused)
        self.resume_btn.setEnabled(busy and paused)
        self.stop_btn.setEnabled(busy)

    def _on_queue(self, cfgs: list[TrainConfig]) -> None:
        self.queue_list.clear()
        for c in cfgs:
            what = f"resume #{c.run_id}  ·  " if hasattr(c, "run_id") else ""
            self.queue_list.addItem(f"{what}{c.model}  ·  {c.dataset}  ·  {c.epochs} ep")
        for b in (self.up_btn, self.down_btn, self.remove_btn):
            b.setEnabled(bool(cfgs))

    def _on_user_error(self, message: str) -> None:
        self.append_log(f"error: {message}")
        show_error(self, "Training could not start", message)

    def _on_crash(self, message: str) -> None:
        self.append_log(f"error: {message}")
        show_error(self, "Training stopped", explain(message).text())

    def on_event(self, ev: Any) -> None:
        self.last_event = ev
        if isinstance(ev, BatchEnded):
            self._on_batch(ev)
        elif isinstance(ev, MeterSample):
            self._on_sample(ev)
        elif isinstance(ev, EpochEnded):
            self._on_epoch(ev)
        elif isinstance(ev, RunStarted):
            self._on_started(ev)
        elif isinstance(ev, RunFinished):
            self._on_finished(ev)

    def _on_started(self, ev: RunStarted) -> None:
        self.started = ev
        row = self.ctx.store.get_run(ev.run_id)
        self.cfg = TrainConfig.from_dict(
            row.get("config") or {"dataset": ev.dataset, "model": ev.model}
        )
        self.energy_j, self.peak_mem, self.elapsed = None, None, 0.0
        self.epochs_seen = []
        self.stack.setCurrentIndex(1)
        run = self._add_chart_run(ev)
        if ev.start_epoch > 0:  # a resumed run: show the epochs it already has
            for e in self.ctx.store.epochs(ev.run_id):
                x = e["epoch"] + 1
                run.curves["loss"].append(x, e["train_loss"])
                if e.get("val_acc") is not None:
                    run.curves["val"].append(x, e["val_acc"])
                if e.get("test_acc") is not None:
                    run.curves["test"].append(x, e["test_acc"])
        self.run_label.setText(
            f"Run {ev.run_id}: <b>{html.escape(ev.model)}</b> on {html.escape(ev.dataset)} · "
            f"{ev.device} · {ev.params / 1e6:.2f} M params"
        )
        self._set_phase("Preparing the data and the model…")
        self.epoch_bar.setRange(0, ev.epochs)
        self.epoch_bar.setValue(ev.start_epoch)
        self.epoch_bar.setFormat("%v of %m done")
        self.batch_bar.setRange(0, max(ev.batches_per_epoch, 1))
        self.batch_bar.setValue(0)
        self.batch_bar.setFormat("%v / %m")
        b = self.cfg.budget_energy_wh
        self.budget_line.setVisible(b is not None)
        if b is not None:
            self.budget_line.setValue(b)
        self.power_note.setText("waiting for meter samples…")
        for bar in (self.energy_bar, self.time_bar, self.memory_bar):
            bar.setValue(0)
        self._update_budget_bars()
        resumed = f" (resumed at epoch {ev.start_epoch + 1})" if ev.start_epoch else ""
        self.append_log(
            f"run {ev.run_id} started: {ev.model}, {ev.epochs} epochs on {ev.device}{resumed}"
        )
        if ev.run_id not in self.session_ids:
            self.session_ids.append(ev.run_id)
        self._on_busy(True)

    def _fraction_done(self, epoch: int, batch: int, batches: int) -> float:
        if not self.started:
            return 0.0
        return fraction_done(epoch, batch, batches, self.started.start_epoch, self.started.epochs)

    def _on_batch(self, ev: BatchEnded) -> None:
        self.batch_bar.setMaximum(max(ev.batches, 1))
        self.batch_bar.setValue(ev.batch)
        epochs = self.started.epochs if self.started else "?"
        if ev.batch >= ev.batches:  # the epoch's batches are done: validation and test follow
            self.batch_bar.setFormat("evaluating…")
            self._set_phase(
                f"Evaluating epoch {ev.epoch + 1} of {epochs} on the validation and test splits…"
            )
        elif not self.ctx.training.paused:
            self.batch_bar.setFormat("%v / %m")
            self._set_phase(f"Training epoch {ev.epoch + 1} of {epochs}")
        self.elapsed = ev.elapsed_s
        f = self._fraction_done(ev.epoch, ev.batch, ev.batches)
        total_s = extrapolate(ev.elapsed_s, f)
        eta = None if total_s is None else total_s - ev.elapsed_s
        self.eta_label.setText(f"elapsed {_duration(ev.elapsed_s)} · ETA {_duration(eta)}")
        run = self.newest
        if run is not None and self.energy_j is not None and f > 0:
            last = run.curves["energy"].buffer.last()
            if last:
                t, e = last
                proj = run.curves["projection"]
                proj.clear()
                proj.append(t, e)
                proj.append(extrapolate(t, f), extrapolate(e, f))
        self._update_budget_bars()

    def _on_sample(self, ev: MeterSample) -> None:
        run = self.newest
        if run is None or ev.run_id != run.run_id:
            return
        total = sum(ev.power_w.values()) if ev.power_w else None
        if total is not None:
            run.curves["power"].append(ev.t, total)
            self.power_note.setText("")
        if ev.energy_j is not None:
            self.energy_j = ev.energy_j
            run.curves["energy"].append(ev.t, ev.energy_j / 3600)
        self._set_meter_method(ev.method)
        if self.ctx.meter_method != ev.method:
            self.ctx.meter_method = ev.method
            self.ctx.status_message.emit("")

    def _on_epoch(self, ev: EpochEnded) -> None:
        self.epochs_seen.append(ev)
        run = self.newest
        x = ev.epoch + 1
        if run is not None:
            run.curves["loss"].append(x, ev.train_loss)
            if ev.metrics.get("val_acc") is not None:
                run.curves["val"].append(x, ev.metrics["val_acc"])
            if ev.metrics.get("test_acc") is not None:
                run.curves["test"].append(x, ev.metrics["test_acc"])
        self.epoch_bar.setValue(x)
        self.batch_bar.setValue(0)
        self.batch_bar.setFormat("%v / %m")
        epochs = self.started.epochs if self.started else x
        self._set_phase(
            "Final evaluation on the test split (per-class figures, confusion matrix)…"
            if x >= epochs
            else f"Epoch {x} done; epoch {x + 1} of {epochs} starts…"
        )
        if ev.peak_mem_mb is not None:
            self.peak_mem = max(self.peak_mem or 0.0, ev.peak_mem_mb)
        if ev.energy_method and ev.energy_method != "unavailable":
            self.ctx.meter_method = ev.energy_method
            self._set_meter_method(ev.energy_method)
        elif run is not None and not run.curves["energy"].buffer:
            self.power_note.setText(f"energy unavailable: {ev.energy_note or 'no meter'}")
        acc = ev.metrics.get("val_acc")
        tacc = ev.metrics.get("test_acc")
        energy = f", {ev.energy_j / 3600:.4f} Wh" if ev.energy_j is not None else ""
        shared = throttled([{"extra": ev.extra}])  # why an epoch ran slower than the last
        cpu = f", CPU shared: {shared[0]} of {shared[1]} threads" if shared else ""
        self.append_log(
            f"epoch {x}: loss {ev.train_loss:.4f}, val acc {acc if acc is None else f'{acc:.3f}'}, "
            f"test acc {tacc if tacc is None else f'{tacc:.3f}'}, {ev.seconds:.1f} s{energy}{cpu}"
        )
        self._update_budget_bars()

    def _on_finished(self, ev: RunFinished) -> None:
        msg = f"run {ev.run_id} {ev.status}"
        if ev.reason:
            msg += f" ({ev.reason})"
        if ev.message:
            msg += f": {ev.message}"
        self.append_log(msg)
        self.run_label.setText(self.run_label.text().split(" — ")[0] + f" — {ev.status}")
        self._set_phase(f"Run {ev.run_id} {ev.status}" + (f" ({ev.reason})" if ev.reason else ""))
        self.batch_bar.setFormat("done" if ev.status == "finished" else ev.status)
        if self.newest is not None:
            self.newest.curves["projection"].clear()
        self._show_card(ev.run_id)
        self.ctx.runs_changed.emit()
        if ev.status == "failed":
            model = self.started.model if self.started else ""
            size = self.cfg.image_size if self.cfg else None
            show_error(self, f"Run {ev.run_id} failed", explain(ev.message, model, size).text())

    def _show_card(self, run_id: int) -> None:
        try:
            run = self.ctx.store.get_run(run_id)
            session = self.ctx.store.runs(ids=self.session_ids) if self.session_ids else []
        except Exception:  # the card is a courtesy: never let it break the queue
            log.exception("run card for %s", run_id)
            return
        self.card.show_run(run, [r for r in session if r.get("status") == "finished"])

    def _update_budget_bars(self) -> None:
        cfg = self.cfg
        if cfg is None:
            return

        def show(bar: QProgressBar, used: float | None, limit: float | None, unit: str) -> None:
            if limit is None:
                bar.setFormat(
                    f"{fmt_sig(used)} {unit} (no limit)" if used is not None else "no limit"
                )
                bar.setValue(0)
                return
            if used is None:
                bar.setFormat(f"unmeasured / {limit:g} {unit}")
                bar.setValue(0)
                return
            pct = 100 * used / limit
            bar.setValue(int(min(pct, 100)))
            bar.setFormat(f"{fmt_sig(used)} / {limit:g} {unit} ({pct:.0f}%)")

        e = self.energy_j / 3600 if self.energy_j is not None else None
        show(self.energy_bar, e, cfg.budget_energy_wh, "Wh")
        show(self.time_bar, self.elapsed / 60, cfg.budget_time_min, "min")
        show(self.memory_bar, self.peak_mem, cfg.budget_memory_mb, "MB")

"""Live training: progress with ETA, the queue, live charts, budget bars, Pause/Resume/Stop, log.

Events arrive from the worker as signals on the GUI thread. Handlers only append to ring buffers
and update labels; the charts redraw on their own timer, so the cost per event stays constant.
"""

from __future__ import annotations

import time
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt
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
    QVBoxLayout,
    QWidget,
)

from pepr_desktop.core.events import BatchEnded, EpochEnded, MeterSample, RunFinished, RunStarted
from pepr_desktop.core.metering.projection import extrapolate, fraction_done
from pepr_desktop.core.training.config import TrainConfig
from pepr_desktop.gui.charts import PALETTE, ChartHub, make_plot
from pepr_desktop.gui.context import AppContext, show_error

LOG_LINES = 2_000


def _duration(s: float | None) -> str:
    if s is None or s != s or s < 0:
        return "–"
    s = round(s)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


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
        self.hub = ChartHub(self)
        self._build()
        w = ctx.training
        w.event.connect(self.on_event)
        w.queue_changed.connect(self._on_queue)
        w.busy_changed.connect(self._on_busy)
        w.user_error.connect(self._on_user_error)
        w.sweep_progress.connect(self.append_log)
        w.crashed.connect(self._on_user_error)
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
        self.pause_btn.clicked.connect(self.pause)
        self.resume_btn.clicked.connect(self.resume)
        self.stop_btn.clicked.connect(self.stop)
        for b in (self.pause_btn, self.resume_btn, self.stop_btn):
            head.addWidget(b)
        root.addLayout(head)

        prog = QGridLayout()
        self.epoch_bar = QProgressBar()
        self.batch_bar = QProgressBar()
        self.eta_label = QLabel("ETA –")
        prog.addWidget(QLabel("Epochs"), 0, 0)
        prog.addWidget(self.epoch_bar, 0, 1)
        prog.addWidget(QLabel("Batches"), 1, 0)
        prog.addWidget(self.batch_bar, 1, 1)
        prog.addWidget(self.eta_label, 0, 2, 2, 1)
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
            prog.addWidget(QLabel(name), i, 3)
            prog.addWidget(bar, i, 4)
        prog.setColumnStretch(1, 2)
        prog.setColumnStretch(4, 1)
        root.addLayout(prog)

        # charts on top, queue + log in a full-width strip below: a side column made the log so
        # narrow that lines wrapped every few words
        split = QSplitter(Qt.Orientation.Vertical)
        split.setChildrenCollapsible(False)
        charts = QWidget()
        grid = QGridLayout(charts)
        grid.setContentsMargins(0, 0, 0, 0)
        self.power_plot = make_plot("Power", "time (s)", "power (W)")
        self.energy_plot = make_plot("Cumulative energy", "time (s)", "energy (Wh)")
        self.loss_plot = make_plot("Training loss", "epoch", "cross-entropy")
        self.acc_plot = make_plot("Accuracy", "epoch", "accuracy")
        self.acc_plot.setYRange(0, 1)
        grid.addWidget(self.power_plot, 0, 0)
        grid.addWidget(self.energy_plot, 0, 1)
        grid.addWidget(self.loss_plot, 1, 0)
        grid.addWidget(self.acc_plot, 1, 1)
        h = self.hub
        self.power_curve = h.add_curve(self.power_plot.getPlotItem(), "total", PALETTE[0])
        self.energy_curve = h.add_curve(self.energy_plot.getPlotItem(), "measured", PALETTE[0])
        self.projection_curve = h.add_curve(
            self.energy_plot.getPlotItem(), "projected", PALETTE[3], capacity=2, dashed=True
        )
        self.budget_line = pg.InfiniteLine(
            angle=0,
            pen=pg.mkPen(PALETTE[1], width=2, style=Qt.PenStyle.DotLine),
            label="budget",
            labelOpts={"position": 0.1, "color": PALETTE[1]},
        )
        self.budget_line.setVisible(False)
        self.energy_plot.addItem(self.budget_line)
        self.loss_curve = h.add_curve(
            self.loss_plot.getPlotItem(), "train", PALETTE[0], capacity=10_000, symbol="o"
        )
        self.val_curve = h.add_curve(
            self.acc_plot.getPlotItem(), "val", PALETTE[2], capacity=10_000, symbol="o"
        )
        self.test_curve = h.add_curve(
            self.acc_plot.getPlotItem(), "test", PALETTE[3], capacity=10_000, symbol="s"
        )
        self.power_note = pg.TextItem("", color="#888", anchor=(0, 0))
        self.power_plot.addItem(self.power_note)
        split.addWidget(charts)

        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.setChildrenCollapsible(False)
        qbox = QGroupBox("Queue")
        qbox.setMinimumWidth(260)
        ql = QVBoxLayout(qbox)
        self.queue_list = QListWidget()
        ql.addWidget(self.queue_list)
        bottom.addWidget(qbox)
        lbox = QGroupBox("Log")
        lbox.setMinimumWidth(480)
        ll = QVBoxLayout(lbox)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(LOG_LINES)
        ll.addWidget(self.log)
        bottom.addWidget(lbox)
        bottom.setStretchFactor(0, 1)
        bottom.setStretchFactor(1, 3)
        bottom.setSizes([340, 1000])
        bottom.setMinimumHeight(150)
        split.addWidget(bottom)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        split.setSizes([600, 200])
        self.log_panel = lbox
        root.addWidget(split, 1)

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
        self._on_busy(True)

    def resume(self) -> None:
        self.ctx.training.resume()
        self.append_log("resumed")
        self._on_busy(True)

    def stop(self) -> None:
        self.ctx.training.stop()
        self.append_log("stop requested: the run ends after the current batch")

    def append_log(self, text: str) -> None:
        self.log.appendPlainText(f"{time.strftime('%H:%M:%S')}  {text}")

    # events -------------------------------------------------------------------------------------
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

    def _on_user_error(self, message: str) -> None:
        self.append_log(f"error: {message}")
        show_error(self, "Training", message)

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
        for c in (
            self.power_curve,
            self.energy_curve,
            self.projection_curve,
            self.loss_curve,
            self.val_curve,
            self.test_curve,
        ):
            c.clear()
        if ev.start_epoch > 0:  # a resumed run: show the epochs it already has
            for e in self.ctx.store.epochs(ev.run_id):
                x = e["epoch"] + 1
                self.loss_curve.append(x, e["train_loss"])
                if e.get("val_acc") is not None:
                    self.val_curve.append(x, e["val_acc"])
                if e.get("test_acc") is not None:
                    self.test_curve.append(x, e["test_acc"])
        self.run_label.setText(
            f"Run {ev.run_id}: <b>{ev.model}</b> on {ev.dataset} · {ev.device} · "
            f"{ev.params / 1e6:.2f} M params"
        )
        self.epoch_bar.setRange(0, ev.epochs)
        self.epoch_bar.setValue(ev.start_epoch)
        self.epoch_bar.setFormat("%v / %m")
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
        self._on_busy(True)

    def _fraction_done(self, epoch: int, batch: int, batches: int) -> float:
        if not self.started:
            return 0.0
        return fraction_done(epoch, batch, batches, self.started.start_epoch, self.started.epochs)

    def _on_batch(self, ev: BatchEnded) -> None:
        self.batch_bar.setMaximum(max(ev.batches, 1))
        self.batch_bar.setValue(ev.batch)
        self.elapsed = ev.elapsed_s
        f = self._fraction_done(ev.epoch, ev.batch, ev.batches)
        total_s = extrapolate(ev.elapsed_s, f)
        eta = None if total_s is None else total_s - ev.elapsed_s
        self.eta_label.setText(f"elapsed {_duration(ev.elapsed_s)}\nETA {_duration(eta)}")
        if self.energy_j is not None and f > 0:
            last = self.energy_curve.buffer.last()
            if last:
                t, e = last
                self.projection_curve.clear()
                self.projection_curve.append(t, e)
                self.projection_curve.append(extrapolate(t, f), extrapolate(e, f))
        self._update_budget_bars()

    def _on_sample(self, ev: MeterSample) -> None:
        total = sum(ev.power_w.values()) if ev.power_w else None
        if total is not None:
            self.power_curve.append(ev.t, total)
            self.power_note.setText("")
        if ev.energy_j is not None:
            self.energy_j = ev.energy_j
            self.energy_curve.append(ev.t, ev.energy_j / 3600)
        self.ctx.meter_method = ev.method
        self.ctx.status_message.emit("")

    def _on_epoch(self, ev: EpochEnded) -> None:
        self.epochs_seen.append(ev)
        x = ev.epoch + 1
        self.loss_curve.append(x, ev.train_loss)
        if ev.metrics.get("val_acc") is not None:
            self.val_curve.append(x, ev.metrics["val_acc"])
        if ev.metrics.get("test_acc") is not None:
            self.test_curve.append(x, ev.metrics["test_acc"])
        self.epoch_bar.setValue(x)
        if ev.peak_mem_mb is not None:
            self.peak_mem = max(self.peak_mem or 0.0, ev.peak_mem_mb)
        if ev.energy_method and ev.energy_method != "unavailable":
            self.ctx.meter_method = ev.energy_method
        elif not self.energy_curve.buffer:
            self.power_note.setText(f"energy unavailable: {ev.energy_note or 'no meter'}")
        acc = ev.metrics.get("val_acc")
        tacc = ev.metrics.get("test_acc")
        energy = f", {ev.energy_j / 3600:.4f} Wh" if ev.energy_j is not None else ""
        self.append_log(
            f"epoch {x}: loss {ev.train_loss:.4f}, val acc {acc if acc is None else f'{acc:.3f}'}, "
            f"test acc {tacc if tacc is None else f'{tacc:.3f}'}, {ev.seconds:.1f} s{energy}"
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
        self.ctx.runs_changed.emit()

    def _update_budget_bars(self) -> None:
        cfg = self.cfg
        if cfg is None:
            return

        def show(bar: QProgressBar, used: float | None, limit: float | None, unit: str) -> None:
            if limit is None:
                bar.setFormat(f"{used:.4g} {unit} (no limit)" if used is not None else "no limit")
                bar.setValue(0)
                return
            if used is None:
                bar.setFormat(f"unmeasured / {limit:g} {unit}")
                bar.setValue(0)
                return
            pct = 100 * used / limit
            bar.setValue(int(min(pct, 100)))
            bar.setFormat(f"{used:.3g} / {limit:g} {unit} ({pct:.0f}%)")

        e = self.energy_j / 3600 if self.energy_j is not None else None
        show(self.energy_bar, e, cfg.budget_energy_wh, "Wh")
        show(self.time_bar, self.elapsed / 60, cfg.budget_time_min, "min")
        show(self.memory_bar, self.peak_mem, cfg.budget_memory_mb, "MB")

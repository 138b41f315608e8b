"""The "Find the best model" panel: a budgeted search (`core.search.auto`) watched live.

The search runs on the context's `TaskWorker` (`experiment_tasks.find_best_task`); its typed
events (core/search/auto/events.py) arrive unchanged as the task's progress messages and are
routed here by class: an accuracy chart with one curve per trial, a budget bar from each event's
`spent`, a status line and a leaderboard that fills as trials end. At the end the winner is named
and opens in Run details (export and try-it live there).

Built only when the user clicks the button (pyqtgraph is imported by the chart, at that moment).
"""

from __future__ import annotations

import html
import logging
from functools import partial
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from pepr_desktop.core.errors import UserError
from pepr_desktop.core.search.auto.events import (
    SearchFinished,
    SearchPlanned,
    TrialEnded,
    TrialEpoch,
    TrialProgress,
    TrialRecord,
    TrialStarted,
)
from pepr_desktop.core.search.auto.predict import interval_text
from pepr_desktop.core.search.auto.spec import AutoSpec
from pepr_desktop.gui.context import AppContext, show_error
from pepr_desktop.gui.gui_text import for_gui
from pepr_desktop.gui.views.experiment_tasks import CancelControl, SearchCancelled, find_best_task
from pepr_desktop.gui.widgets.search_chart import GREYED, SearchChart
from pepr_desktop.gui.widgets.tables import fmt, read_only_table

log = logging.getLogger(__name__)

COLUMNS = (
    "Run",
    "Phase",
    "Model",
    "Size",
    "Recipe",
    "Status",
    "Val",  # renamed to the search metric
    "Epochs",
    "Time (s)",
    "Energy (Wh)",
    "Test ACC",
    "Test BACC",
    "Test AUC",
    "Flag",
)
METRIC_LABELS = {"val_bacc": "BACC", "val_acc": "ACC", "val_auc": "AUC"}
PANEL_SIZE = (1120, 660)  # shrunk to the screen: fits 1280x720 and 1024x700


def _key(rec: Any) -> tuple[str, int]:
    return (rec.phase, rec.number)


def _rank(rec: TrialRecord) -> tuple:
    """Finals first, then trials; best validation first (as `AutoResult.leaderboard`)."""
    return (rec.phase != "final", rec.score is None, -(rec.score or 0.0), rec.number)


def spent_text(spent: dict[str, Any]) -> str:
    """'0.4 of 2 min, 0.012 of 1 Wh (23 % of the budget)' from a guard snapshot."""
    parts = []
    minutes = (spent.get("spent_s") or 0.0) / 60
    if spent.get("time_min") is not None:
        parts.append(f"{minutes:.1f} of {spent['time_min']:g} min")
    else:
        parts.append(f"{minutes:.1f} min")
    if spent.get("energy_wh") is not None:
        parts.append(f"{fmt(spent.get('spent_energy_wh'), 3)} of {spent['energy_wh']:g} Wh")
    share = spent.get("fraction_spent") or 0.0
    return f"spent {', '.join(parts)} ({share:.0%} of the budget)"


class FindBestPanel(QDialog):
    """One budgeted search: `start()` runs it; the panel renders its events."""

    def __init__(self, ctx: AppContext, spec: AutoSpec, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx, self.spec = ctx, spec
        self.metric_name = METRIC_LABELS.get(spec.val_key, spec.val_key)
        self.control: CancelControl | None = None
        self.running = False
        self.result: Any = None
        self.records: dict[tuple[str, int], TrialRecord] = {}
        self.started: set[tuple[str, int]] = set()
        self.best: TrialRecord | None = None
        self.phase = "Probing which models fit this budget here…"
        self.details: Any = None
        self.setWindowTitle(f"Find the best model: {spec.dataset}")
        self._build()
        self._resize_to_screen()

    # layout -------------------------------------------------------------------------------------
    def _build(self) -> None:
        lay = QVBoxLayout(self)
        self.header = QLabel(
            f"<b>{html.escape(self.spec.dataset)}</b>, {html.escape(self.spec.budget.describe())}"
            f": trials ranked by validation {self.metric_name}; the test split is read once, "
            "for the final runs, after the choice"
        )
        self.header.setWordWrap(True)
        self.header.setTextFormat(Qt.TextFormat.RichText)
        lay.addWidget(self.header)
        self.budget_bar = QProgressBar()
        self.budget_bar.setRange(0, 1000)
        self.budget_bar.setValue(0)
        self.budget_bar.setTextVisible(True)
        self.budget_bar.setFormat("spent 0.0 min (0% of the budget)")
        lay.addWidget(self.budget_bar)
        self.status_label = QLabel(self.phase)
        self.status_label.setWordWrap(True)
        lay.addWidget(self.status_label)
        split = QSplitter(Qt.Orientation.Vertical)
        self.chart = SearchChart(self.metric_name)
        split.addWidget(self.chart)
        self.table = read_only_table(
            [c if c != "Val" else f"Val {self.metric_name}" for c in COLUMNS]
        )
        self.table.setWordWrap(False)  # a long flag is elided; its tooltip has it whole
        split.addWidget(self.table)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        split.setSizes([290, 250])  # about six leaderboard rows at 1280x720
        lay.addWidget(split, 1)
        self.winner_label = QLabel()
        self.winner_label.setWordWrap(True)
        self.winner_label.setTextFormat(Qt.TextFormat.RichText)
        lay.addWidget(self.winner_label)
        lay.addLayout(self._build_buttons())

    def _build_buttons(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.pause_btn = QPushButton("Pause")
        self.pause_btn.setCheckable(True)
        self.pause_btn.setToolTip("Hold the search; paused time does not count against the budget")
        self.pause_btn.toggled.connect(self.set_paused)
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setToolTip("Stop the search; the runs it trained stay in Runs")
        self.cancel_btn.clicked.connect(self.cancel)
        self.open_btn = QPushButton("Open winner in Run details")
        self.open_btn.setObjectName("primary")
        self.open_btn.setToolTip("Its confusion matrix, try it on images, export it")
        self.open_btn.setEnabled(False)
        self.open_btn.clicked.connect(self.open_winner)
        self.close_btn = QPushButton("Close")
        self.close_btn.setToolTip("Close this window (a running search goes on)")
        self.close_btn.clicked.connect(self.close)
        for b in (self.pause_btn, self.cancel_btn):
            b.setEnabled(False)
            row.addWidget(b)
        row.addStretch(1)
        row.addWidget(self.open_btn)
        row.addWidget(self.close_btn)
        return row

    def _resize_to_screen(self) -> None:
        screen = self.screen().availableGeometry() if self.screen() else None
        w, h = PANEL_SIZE
        if screen is not None:
            w, h = min(w, screen.width() - 40), min(h, screen.height() - 60)
        self.resize(max(w, 600), max(h, 400))

    # running ------------------------------------------------------------------------------------
    def start(self) -> None:
        """Run the search on the context's TaskWorker (the caller checked it is free)."""
        tasks = self.ctx.tasks
        self.control = CancelControl()
        task = partial(
            find_best_task, db_path=self.ctx.store.path, spec=self.spec, control=self.control
        )
        tasks.progress.connect(self.on_event)
        tasks.finished_ok.connect(self.on_result)
        tasks.user_error.connect(self.on_failed)
        tasks.crashed.connect(self.on_failed)
        tasks.busy_changed.connect(self._on_busy)
        self.running = True
        self.pause_btn.setEnabled(True)
        self.cancel_btn.setEnabled(True)
        tasks.start(task)

    def _on_busy(self, busy: bool) -> None:
        if busy:
            return
        tasks = self.ctx.tasks  # the worker is shared: listen only while our search runs
        for signal, slot in (
            (tasks.progress, self.on_event),
            (tasks.finished_ok, self.on_result),
            (tasks.user_error, self.on_failed),
            (tasks.crashed, self.on_failed),
            (tasks.busy_changed, self._on_busy),
        ):
            signal.disconnect(slot)
        self.running = False
        for b in (self.pause_btn, self.cancel_btn):
            b.setEnabled(False)
        self.ctx.runs_changed.emit()  # Runs and Compare show the trials

    def set_paused(self, on: bool) -> None:
        if self.control is None or not self.running:
            return
        if on:
            self.control.pause()
            self.pause_btn.setText("Resume")
            self._show_status("Paused (the running trial holds after its current batch).")
        else:
            self.control.resume()
            self.pause_btn.setText("Pause")
            self._show_status()

    def cancel(self) -> None:
        if self.control is not None and self.running:
            self.control.stop("cancelled")  # wakes a paused search, so it can end
            self.ctx.tasks.cancel()
            self.cancel_btn.setEnabled(False)
            self.pause_btn.setEnabled(False)
            self.phase = "Cancelling: the running trial stops within one batch…"
            self._show_status()

    # events (GUI thread) ------------------------------------------------------------------------
    def on_event(self, ev: Any) -> None:
        """Route one search event by its class (anything else is not ours)."""
        handler = {
            SearchPlanned: self._planned,
            TrialStarted: self._trial_started,
            TrialEpoch: self._trial_epoch,
            TrialProgress: self._trial_progress,
            TrialEnded: self._trial_ended,
            SearchFinished: lambda e: self.show_result(e.result),
        }.get(type(ev))
        if handler is None:
            return
        if getattr(ev, "spent", None):
            self.show_spent(ev.spent)
        handler(ev)

    def show_spent(self, spent: dict[str, Any]) -> None:
        share = spent.get("fraction_spent") or 0.0
        self.budget_bar.setValue(int(1000 * min(max(share, 0.0), 1.0)))
        self.budget_bar.setFormat(spent_text(spent))

    def _planned(self, ev: SearchPlanned) -> None:
        arms = ", ".join(f"{a['model']}@{a['image_size']}" for a in ev.arms[:6])
        more = f" and {len(ev.arms) - 6} more" if len(ev.arms) > 6 else ""
        self.phase = f"Searching over {len(ev.arms)} model x input size pairs: {arms}{more}."
        if ev.skipped:
            names = ", ".join(s["model"] for s in ev.skipped[:4])
            self.phase += f" Not fitting: {names}."
        self._show_status()

    def _trial_started(self, ev: TrialStarted) -> None:
        key = (ev.phase, ev.number)
        self.started.add(key)
        self.chart.curve(key)
        if ev.phase == "final":
            self.phase = "Final runs: the best trials again, on all the data."
        what = "final run" if ev.phase == "final" else "trial"
        self._show_status(f"{what} {ev.number}: {ev.model}@{ev.image_size}, {ev.recipe}")

    def _trial_epoch(self, ev: TrialEpoch) -> None:
        self.chart.add_point((ev.phase, ev.number), ev.epoch + 1, ev.metrics.get(self.spec.val_key))

    def _trial_progress(self, ev: TrialProgress) -> None:
        what = "final run" if ev.phase == "final" else "trial"
        self._show_status(
            f"{what} {ev.number}: epoch {ev.epoch + 1}, batch {ev.batch} of {ev.batches}"
        )

    def _trial_ended(self, ev: TrialEnded) -> None:
        rec = ev.record
        self.records[_key(rec)] = rec
        self.best = ev.best or self.best
        self.chart.set_status(_key(rec), rec.status)
        self.fill_table(sorted(self.records.values(), key=_rank))
        self._show_status()

    def _show_status(self, now: str = "") -> None:
        ended = list(self.records.values())
        counts: dict[str, int] = {}
        for r in ended:
            counts[r.status] = counts.get(r.status, 0) + 1
        running = len(self.started - set(self.records))
        parts = [f"{running} running"] + [f"{n} {s}" for s, n in sorted(counts.items())]
        won = self.result.winner if self.result is not None else None
        b = won or self.best
        best = (
            f"{'winner' if won else 'best trial so far'}: val {self.metric_name} "
            f"{fmt(b.score)} ({b.model}@{b.image_size}, {b.recipe})"
            if b is not None
            else "best trial so far: none yet"
        )
        lines = [self.phase, f"{', '.join(parts)} · {best}"]
        if now:
            lines.append(now)
        self.status_label.setText("\n".join(lines))

    # the end ------------------------------------------------------------------------------------
    def on_result(self, result: Any) -> None:
        if isinstance(result, SearchCancelled):
            self.phase = "Cancelled before any model was tried."
            self._show_status()
        elif hasattr(result, "leaderboard") and result is not self.result:
            self.show_result(result)

    def on_failed(self, message: str) -> None:
        """The experiment view shows the one dialog; here the panel says it ended."""
        self.phase = "The search failed: " + for_gui(message.splitlines()[0] if message else "")
        self._show_status()

    def show_result(self, result: Any) -> None:
        """The final leaderboard (finals with their test figures) and the winner."""
        self.result = result
        self.show_spent(result.spent)
        board = result.leaderboard()
        for rec in board:
            self.records[_key(rec)] = rec
        self.fill_table(board)
        w = result.winner
        state = "Cancelled" if result.cancelled else "Done"
        why = for_gui(result.message or "").strip().rstrip(".")
        if w is None:
            self.phase = f"{state}: no model trained" + (f" ({why})." if why else ".")
            self.winner_label.setText("")
        else:
            self.phase = f"{state}: {why}." if why else f"{state}."
            self.chart.mark_winner(_key(w))
            self.winner_label.setText(self._winner_html(w))
        self.open_btn.setEnabled(w is not None and w.run_id is not None)
        self._show_status()

    def _winner_html(self, w: TrialRecord) -> str:
        t = w.test or {}
        test = (
            f"; test ACC {fmt(t.get('test_acc'))}, BACC {fmt(t.get('test_bacc'))}, "
            f"AUC {fmt(t.get('test_auc'))}"
            if t
            else ""
        )
        flag = (
            f"<br><span style='color:#b45309'>flagged: {html.escape(w.degenerate)}</span>"
            if w.degenerate
            else ""
        )
        return (
            f"Winner: <b>run {w.run_id}, {w.model}</b> at {w.image_size} px with "
            f"{html.escape(w.recipe)}, "
            f"{w.epochs} epochs: val {self.metric_name} {fmt(w.score)}{test}"
            f"{self._prediction_html(w.predicted)}{flag}"
        )

    def _prediction_html(self, p: dict | None) -> str:
        """Predicted (validation) and expected on test: unknown until earlier searches here
        have read this dataset's test split, since validation cannot see a shift."""
        if not p or p.get("value") is None:
            return ""
        te = p.get("test_expected")
        expected = (
            f"{interval_text(te)} ({html.escape(te['method'])})"
            if te and te.get("value") is not None
            else "unknown (no earlier test readings of this dataset here)"
        )
        return (
            f"<br>Predicted val {self.metric_name} {interval_text(p)}; expected on test {expected}"
        )

    def fill_table(self, records: list[TrialRecord]) -> None:
        self.table.setRowCount(len(records))
        winner = self.result.winner if self.result is not None else None
        for r, rec in enumerate(records):
            t = rec.test or {}
            energy = None if rec.energy_wh is None else rec.energy_wh
            values = [
                rec.run_id,
                "final" if rec.phase == "final" else f"trial {rec.number}",
                rec.model,
                rec.image_size,
                rec.recipe,
                rec.status,
                rec.score,
                rec.epochs,
                round(rec.seconds, 1),
                energy,
                t.get("test_acc"),
                t.get("test_bacc"),
                t.get("test_auc"),
                rec.degenerate or "",
            ]
            for col, v in enumerate(values):
                item = QTableWidgetItem(fmt(v, 4 if col == 9 else 1 if col == 8 else 3))
                if col in (5, 13) and (rec.note or rec.degenerate):  # why it stopped, or flag
                    item.setToolTip(for_gui(rec.degenerate or rec.note))
                if rec.status in GREYED and rec.phase != "final":  # a final stops at the budget
                    item.setForeground(QColor("#8a8a8a"))
                if rec is winner:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.table.setItem(r, col, item)

    def open_winner(self) -> Any:
        """The winner in Run details (non-modal), as the Runs view opens a run."""
        w = self.result.winner if self.result is not None else None
        if w is None or w.run_id is None:
            return None
        from pepr_desktop.gui.views.run_details import RunDetails

        try:
            # parented to the view: it stays open when a new search replaces this panel
            dlg = RunDetails(self.ctx, w.run_id, self.parentWidget() or self)
        except UserError as exc:  # deleted meanwhile, or the database was switched
            show_error(self, "Run details", str(exc))
            return None
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.show()
        self.details = dlg
        return dlg

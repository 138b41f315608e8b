"""The recommendation, in rank order: a table with a Rank column (#1 selected, so "Train
selected" trains the top model) and a side panel with the selected model's full reasons.

Expected accuracy may be unknown (None): it shows as "unknown", never as a stand-in. Where the
recommender gives an interval, its source and how far past predictions missed, they are shown.
"""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QSplitter,
    QTableWidgetItem,
    QTextBrowser,
    QWidget,
)

from pepr_desktop.gui.gui_text import for_gui
from pepr_desktop.gui.widgets.tables import NumericItem, fmt, fmt_sig, read_only_table

COLUMNS = (  # two-line headers: the units stay in view and the columns stay narrow
    "Rank",
    "Model",
    "Params\n(M)",
    "Time\n(min)",
    "Energy\n(Wh)",
    "Memory\n(MB)",
    "Expected\naccuracy",
    "Expected\nPePR",
    "Fits",
)
RANK_COL, MODEL_COL, ACC_COL, FITS_COL = 0, 1, 6, 8
UNRANKED = 10_000  # rows without a rank (they do not fit) sort after every ranked row


def accuracy_parts(c: Any) -> tuple[float | None, float | None, float | None, str, str]:
    """(expected, low, high, source, note) of a candidate, whichever fields it carries."""
    est = getattr(c, "accuracy", None) or getattr(c, "acc_estimate", None)
    value = getattr(c, "expected_acc", None)
    low = getattr(c, "acc_low", getattr(c, "expected_acc_low", None))
    high = getattr(c, "acc_high", getattr(c, "expected_acc_high", None))
    interval = getattr(c, "acc_interval", None)
    if interval and low is None:
        low, high = interval
    source = getattr(c, "acc_source", "") or ""
    note = getattr(c, "acc_note", "") or ""
    if est is not None and hasattr(est, "low"):
        value = est.value if value is None else value
        low, high = (est.low, est.high) if low is None else (low, high)
        source, note = source or est.source, note or getattr(est, "note", "")
    return value, low, high, str(source), str(note)


def accuracy_text(c: Any) -> str:
    value, low, high, _source, _note = accuracy_parts(c)
    if value is None:
        return "unknown"
    if low is not None and high is not None:
        return f"{value:.3f} ({low:.2f}–{high:.2f})"
    return f"{value:.3f}"


def past_error_text(c: Any, rec: Any = None) -> str:
    """How far this machine's past predictions missed, when the recommender says."""
    for obj in (c, rec):
        past = getattr(obj, "past_errors", None) if obj is not None else None
        if past is not None and hasattr(past, "describe"):
            return str(past.describe())
        err = getattr(obj, "past_median_error", None) if obj is not None else None
        if isinstance(err, (int, float)):
            return f"past predictions here missed by a median of {err:.2f}"
    return ""


def _values(c: Any) -> list[Any]:
    t = getattr(c, "predicted_time_s", None)
    params = getattr(c, "params", None)
    return [
        getattr(c, "rank", None),
        c.model,
        params / 1e6 if params else None,
        t / 60 if t is not None else None,
        getattr(c, "predicted_energy_wh", None),
        getattr(c, "predicted_memory_mb", None),
        accuracy_parts(c)[0],
        getattr(c, "expected_pepr", None),
        getattr(c, "fits", None),
    ]


def _texts(v: list[Any], c: Any) -> list[str]:
    rank, _model, params, t, e, mem, _acc, pepr, fits = v
    pre = " · pretrained" if getattr(c, "pretrained", False) else ""
    return [
        f"#{rank}" if rank else "–",
        c.model + pre,
        fmt(params, 2),
        fmt_sig(t, 2),
        fmt_sig(e, 3),
        fmt(mem, 0) if mem is not None else "n/a",
        accuracy_text(c),
        fmt(pepr, 3),
        fmt(fits),
    ]


class CandidateTable(QSplitter):
    """The ranked table (left) and the why panel (right)."""

    selection_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.candidates: list[Any] = []
        self.recommendation: Any = None
        self.table = read_only_table(COLUMNS, sortable=True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setMinimumWidth(360)  # columns fit their contents: a model name is never cut
        self.table.itemSelectionChanged.connect(self._on_selection)
        self.why = QTextBrowser()
        self.why.setMinimumWidth(180)
        self.why.setMaximumWidth(280)
        self.why.setPlaceholderText("Select a model to see why it is placed there.")
        self.addWidget(self.table)
        self.addWidget(self.why)
        self.setStretchFactor(0, 3)
        self.setStretchFactor(1, 1)
        self.setChildrenCollapsible(False)

    def fill(self, cands: list[Any], rec: Any = None) -> None:
        """Fill the table in rank order (unranked rows after, as given) and select #1."""
        self.recommendation = rec
        order = sorted(
            range(len(cands)),
            key=lambda i: (getattr(cands[i], "rank", None) or UNRANKED, i),
        )
        self.candidates = [cands[i] for i in order]
        t = self.table
        t.setSortingEnabled(False)
        t.clearContents()
        t.setRowCount(len(self.candidates))
        for r, c in enumerate(self.candidates):
            values = _values(c)
            for col, (v, text) in enumerate(zip(values, _texts(values, c))):
                if col == RANK_COL:
                    item: QTableWidgetItem = NumericItem(text, float(v or UNRANKED + r))
                elif isinstance(v, (int, float)) and not isinstance(v, bool):
                    item = NumericItem(text, float(v))
                else:
                    item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, r)
                if col == FITS_COL and v is False:
                    item.setForeground(Qt.GlobalColor.red)
                if col == ACC_COL:
                    item.setToolTip(self._acc_tooltip(c))
                t.setItem(r, col, item)
        t.setSortingEnabled(True)
        t.sortByColumn(RANK_COL, Qt.SortOrder.AscendingOrder)
        if self.candidates:
            t.selectRow(0)
        else:
            self.why.clear()

    def _acc_tooltip(self, c: Any) -> str:
        value, _low, _high, source, note = accuracy_parts(c)
        what = "unknown: no run of it here and no paper figure" if value is None else source
        return f"{what}{': ' + note if note else ''}"

    def clear(self) -> None:
        self.fill([])

    def candidate_at(self, row: int) -> Any:
        item = self.table.item(row, MODEL_COL)
        return self.candidates[int(item.data(Qt.ItemDataRole.UserRole))]

    def selected(self) -> list[Any]:
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        return [self.candidate_at(r) for r in rows]

    def select_model(self, model: str) -> bool:
        for r in range(self.table.rowCount()):
            if self.candidate_at(r).model == model:
                self.table.clearSelection()
                self.table.selectRow(r)
                return True
        return False

    def _on_selection(self) -> None:
        sel = self.selected()
        self.why.setHtml(self.explain(sel[0]) if len(sel) == 1 else self._several(sel))
        self.selection_changed.emit()

    def _several(self, sel: list[Any]) -> str:
        if not sel:
            return ""
        names = ", ".join(html.escape(c.model) for c in sel)
        return f"<b>{len(sel)} models selected</b>: {names}.<br>Train selected queues them all."

    def explain(self, c: Any) -> str:
        """The full reasons for one candidate, in GUI words."""
        value, low, high, source, note = accuracy_parts(c)
        rank = getattr(c, "rank", None)
        head = f"#{rank} " if rank else ""
        lines = [f"<b>{head}{html.escape(c.model)}</b>"]
        why = for_gui(str(getattr(c, "why", "") or ""))
        if why:
            lines.append(html.escape(why))
        if value is None:
            lines.append("Expected accuracy: <b>unknown</b> (no run of it here, no paper figure).")
        else:
            rng = f" (likely {low:.2f}–{high:.2f})" if low is not None and high is not None else ""
            src = f", from {html.escape(source)}" if source else ""
            lines.append(f"Expected accuracy: <b>{value:.3f}</b>{rng}{src}.")
        if note:
            lines.append(html.escape(for_gui(note)))
        past = past_error_text(c, self.recommendation)
        if past:
            lines.append(html.escape(past[:1].upper() + past[1:]) + ".")
        over = getattr(c, "over", None)
        if over and not why.startswith("does not fit"):
            lines.append("Over budget: " + html.escape(", ".join(over)) + ".")
        pre = getattr(c, "pretrained_note", "")
        if pre and pre not in why:
            lines.append(html.escape(for_gui(pre)))
        return "<br><br>".join(lines)

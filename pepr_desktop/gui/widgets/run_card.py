"""The end-of-run summary card: accuracy, balanced accuracy, energy, CO2, time, PePR within this
session's runs, and the degenerate-model flag (a model that only answers one class)."""

from __future__ import annotations

import html
import logging
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QVBoxLayout, QWidget

from pepr_desktop.core.scoring.degenerate import run_verdict
from pepr_desktop.gui.chart_theme import power_kind
from pepr_desktop.gui.run_scores import session_pepr
from pepr_desktop.gui.widgets.tables import fmt, fmt_sig

log = logging.getLogger(__name__)

ROWS = (  # two figures per row, so the card fits the strip under the charts
    ("acc", "Test acc."),
    ("bacc", "Bal. acc."),
    ("energy", "Energy"),
    ("co2", "CO2"),
    ("time", "Time"),
    ("pepr", "PePR"),
)


def duration(s: float | None) -> str:
    if s is None or s != s or s < 0:
        return "n/a"
    s = round(s)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}" if m else f"{sec} s"


class RunCard(QFrame):
    """What the last run achieved and what it cost, at a glance."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("card")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 8, 10, 8)
        self.title = QLabel("<b>Last run</b>")
        self.title.setWordWrap(True)
        lay.addWidget(self.title)
        grid = QGridLayout()
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(2)
        self.values: dict[str, QLabel] = {}
        self.names: dict[str, QLabel] = {}
        for i, (key, label) in enumerate(ROWS):
            name = QLabel(label)
            self.names[key] = name
            name.setObjectName("hint")
            value = QLabel("–")
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            row, col = divmod(i, 2)
            grid.addWidget(name, row, 2 * col)
            grid.addWidget(value, row, 2 * col + 1)
            self.values[key] = value
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        self.values["pepr"].setToolTip("PePR among the runs finished in this session")
        lay.addLayout(grid)
        self.flag = QLabel()
        self.flag.setWordWrap(True)
        self.flag.setStyleSheet("color: #b3261e;")
        self.flag.hide()
        lay.addWidget(self.flag)
        lay.addStretch(1)
        self.clear()

    def clear(self) -> None:
        self.title.setText("<b>Last run</b>: its summary shows here when it ends")
        for v in self.values.values():
            v.setText("–")
        self.flag.hide()

    def show_run(self, run: dict[str, Any], session_runs: list[dict[str, Any]]) -> None:
        """Fill the card from a stored run and the runs of this session."""
        status = run.get("status") or "?"
        why = f" ({run['reason']})" if run.get("reason") and status != "finished" else ""
        self.title.setText(
            f"<b>Run {run.get('id')}: {html.escape(str(run.get('model')))}</b> — "
            f"{html.escape(status + why)}, {run.get('epochs_done') or 0} of "
            f"{run.get('epochs_planned') or '?'} epochs"
        )
        v = self.values
        v["acc"].setText(fmt(run.get("test_acc"), 3))
        v["bacc"].setText(fmt(run.get("test_bacc"), 3))
        e = run.get("energy_j")
        kind = power_kind(str(run.get("energy_method") or ""))
        v["energy"].setText("n/a" if e is None else f"{fmt_sig(e / 3600, 3)} Wh")
        self.names["energy"].setText("Energy, est." if "estimated" in kind else "Energy")
        v["energy"].setToolTip(f"{kind} ({run.get('energy_method') or 'no meter'})")
        co2 = run.get("co2_g")
        v["co2"].setText("n/a" if co2 is None else f"{fmt_sig(co2, 2, strip=True)} g")
        v["time"].setText(duration(run.get("train_time_s")))
        scored = session_pepr(run, session_runs) if run.get("test_acc") is not None else None
        if scored is None:
            v["pepr"].setText("n/a")
        else:
            score, name, n = scored
            v["pepr"].setText(f"{score:.3f}")
            self.names["pepr"].setText(name)
            v["pepr"].setToolTip(f"{name} among {n} run{'s' * (n > 1)} finished in this session")
        verdict = run_verdict(run)
        self.flag.setVisible(verdict is not None)
        if verdict is not None:
            self.flag.setText(f"⚠ Not a useful model: {verdict.label}.")
            self.flag.setToolTip(f"Try: {verdict.fix}.")

"""Table helpers the views share: number formatting, numerically sorted cells, read-only tables."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem


class NumericItem(QTableWidgetItem):
    """Shows formatted text but sorts by the number behind it (missing values sort first)."""

    def __init__(self, text: str, value: float | None) -> None:
        super().__init__(text)
        self.value = value

    def __lt__(self, other: QTableWidgetItem) -> bool:
        ov = getattr(other, "value", None)
        a = float("-inf") if self.value is None else self.value
        b = float("-inf") if ov is None else ov
        return a < b


def fmt(v: Any, digits: int = 3) -> str:
    """A cell's text: n/a for None, yes/no for booleans, `digits` decimals (or significant
    digits from 1000 up) for floats, str() for the rest."""
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.{digits}g}" if abs(v) >= 1000 else f"{v:.{digits}f}"
    return str(v)


def cell(v: Any, text: Callable[[Any], str] = fmt) -> QTableWidgetItem:
    """A cell for `v`: a NumericItem (sorts by value) for numbers, a plain item otherwise."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return NumericItem(text(v), float(v))
    return QTableWidgetItem(text(v))


def read_only_table(columns: Sequence[str], *, sortable: bool = False) -> QTableWidget:
    """A table with these column headers, no row numbers, not editable, columns sized to their
    contents and the last one stretched."""
    t = QTableWidget(0, len(columns))
    t.setHorizontalHeaderLabels(list(columns))
    t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    t.setSortingEnabled(sortable)
    t.verticalHeader().setVisible(False)
    h = t.horizontalHeader()
    h.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    h.setStretchLastSection(True)
    return t

"""Table helpers the views share: number formatting, numerically sorted cells, read-only tables.

Numbers are always shown in fixed notation (never `1.3e+03`): `fmt` with fixed decimals,
`fmt_sig` with a fixed number of significant digits (0.04 g stays 0.040 g, not 0.0 g).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


class NumericItem(QTableWidgetItem):
    """Shows formatted text but sorts by the number behind it (missing values sort first)."""

    def __init__(self, text: str, value: float | None) -> None:
        super().__init__(text)
        self.value = value
        self.setTextAlignment(RIGHT)

    def __lt__(self, other: QTableWidgetItem) -> bool:
        ov = getattr(other, "value", None)
        a = float("-inf") if self.value is None else self.value
        b = float("-inf") if ov is None else ov
        return a < b


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def fmt(v: Any, digits: int = 3) -> str:
    """A cell's text: n/a for None (and NaN), yes/no for booleans, `digits` decimals for floats
    below 1000 and whole numbers with thousands separators from 1000 up, str() for the rest."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.{digits}f}"
    if isinstance(v, int):
        return f"{v:,}" if abs(v) >= 10_000 else str(v)
    return str(v)


def fmt_sig(v: Any, sig: int = 3, *, strip: bool = False) -> str:
    """`v` with `sig` significant digits in fixed notation (0.0412 -> '0.0412', 1234.5 ->
    '1,234'); `strip` drops trailing zeros ('0.040' -> '0.04'). n/a for None or NaN."""
    if not _finite(v):
        return fmt(v)
    if v == 0:
        return "0"
    a = abs(float(v))
    if a >= 10 ** (sig - 1):
        return f"{v:,.0f}"
    decimals = min(8, sig - 1 - math.floor(math.log10(a)))
    text = f"{v:.{decimals}f}"
    if strip and "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


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

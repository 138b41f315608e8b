"""What the app knows about its charts without importing pyqtgraph: the palette, the power
wording and the theme, which is applied when pyqtgraph is first loaded.

Why a module of its own: importing pyqtgraph costs about 0.5 s (it touches every Qt class), and
the first tab has no chart, so the window starts without it (issue 20). Every module that draws
charts gets pyqtgraph through `pyqtgraph()` (charts.py and widgets/confusion.py at their top), so
the theme is in place before the first chart is made, whenever that is.
"""

from __future__ import annotations

import sys
from types import ModuleType

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
THEME_OPTIONS = {
    "dark": {"background": "#1e1f22", "foreground": "#d0d0d0", "antialias": True},
    "light": {"background": "w", "foreground": "#333333", "antialias": True},
}

_theme: str | None = None  # None: pyqtgraph's own defaults (no app, e.g. a view under test)
_applied: str | None = None  # the theme pyqtgraph was last configured with


def set_theme(theme: str) -> None:
    """The theme of charts created from now on; pyqtgraph is configured now if it is already
    loaded, else when `pyqtgraph()` first loads it."""
    global _theme
    _theme = theme if theme in THEME_OPTIONS else "light"
    if "pyqtgraph" in sys.modules:
        pyqtgraph()


def pyqtgraph() -> ModuleType:
    """pyqtgraph, imported on first use and configured with the app's theme."""
    global _applied
    import pyqtgraph as pg

    if _theme is not None and _applied != _theme:
        pg.setConfigOptions(**THEME_OPTIONS[_theme])
        _applied = _theme
    return pg


def power_kind(method: str) -> str:
    """'measured', 'estimated' or 'partly estimated' for a meter method ('rapl+dram_estimate'):
    a method ending in '_estimate' is a model of the power, not a reading."""
    parts = [p for p in (method or "").split("+") if p and p != "unavailable"]
    if not parts:
        return "not measured"
    est = [p.endswith("_estimate") for p in parts]
    return "estimated" if all(est) else "partly estimated" if any(est) else "measured"

"""Start-up stays fast (issue 20): the window is shown without importing pyqtgraph or building
the tabs nobody has opened; a tab is built when first shown or used, and then is the real view."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QLabel, QWidget

from pepr_desktop.gui.widgets.lazy_tabs import LazyTabs

HEAVY = (
    "pyqtgraph",
    "pepr_desktop.gui.charts",
    "pepr_desktop.gui.views.training",
    "pepr_desktop.gui.views.runs",
    "pepr_desktop.gui.views.compare",
    "torch",
)

# In a fresh process: this test session has imported pyqtgraph long before.
SCRIPT = f"""
import json, sys, time
from PySide6.QtWidgets import QApplication
from pepr_desktop.core.store.remote import StoreProcess
from pepr_desktop.gui import chart_theme
from pepr_desktop.gui.main_window import MainWindow

HEAVY = {HEAVY!r}
app = QApplication([])
chart_theme.set_theme("dark")
win = MainWindow()
win.show()
deadline = time.monotonic() + 60
while not (win.windowHandle() is not None and win.windowHandle().isExposed()):
    app.processEvents()
    assert time.monotonic() < deadline, "window not shown"
app.processEvents()
out = {{"shown": [m for m in HEAVY if m in sys.modules], "pending": win.tabs.pending()}}
win.tabs.setCurrentIndex(1)  # Live training: its charts need pyqtgraph now
app.processEvents()
import pyqtgraph as pg
out["after"] = [m for m in HEAVY if m in sys.modules]
out["current"] = type(win.tabs.currentWidget()).__name__
out["same"] = win.tabs.currentWidget() is win.training
out["background"] = pg.getConfigOption("background")
out["pending_after"] = win.tabs.pending()
print(json.dumps(out))
win.ctx.shutdown()
StoreProcess.shutdown()
"""


def test_the_window_is_shown_without_pyqtgraph_until_a_chart_tab_is(isolated: Path) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "OMP_NUM_THREADS": "1"}
    env["PEPR_LOG_DIR"] = str(isolated / "logs")
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["shown"] == []  # nothing heavy was needed to show the first tab
    assert seen["pending"] == ["training", "runs", "compare"]
    assert seen["current"] == "TrainingView" and seen["same"] is True
    assert "pyqtgraph" in seen["after"] and "pepr_desktop.gui.views.training" in seen["after"]
    assert "pepr_desktop.gui.views.compare" not in seen["after"]  # still unopened
    assert "torch" not in seen["after"]
    assert seen["background"] == "#1e1f22"  # the theme set before pyqtgraph loaded applies
    assert seen["pending_after"] == ["runs", "compare"]


def _tabs(qtbot, built: list[str]) -> LazyTabs:
    tabs = LazyTabs()
    qtbot.addWidget(tabs)
    tabs.addTab(QLabel("first"), QIcon(), "First")
    for key in ("a", "b"):
        tabs.add_lazy(key, lambda key=key: built.append(key) or QLabel(key), QIcon(), key.upper())
    return tabs


def test_a_lazy_tab_is_built_once_when_shown_and_then_is_the_view(qtbot) -> None:
    built: list[str] = []
    tabs = _tabs(qtbot, built)
    tabs.show()
    qtbot.waitExposed(tabs)
    assert built == [] and tabs.pending() == ["a", "b"]
    seen: list[int] = []
    tabs.currentChanged.connect(seen.append)
    tabs.setCurrentIndex(2)
    assert built == ["b"] and tabs.pending() == ["a"]
    view = tabs.view("b")
    assert tabs.currentWidget() is view and tabs.indexOf(view) == 2
    assert [tabs.tabText(i) for i in range(tabs.count())] == ["First", "A", "B"]
    assert seen == [2]  # one change of tab, not the swap's removals and insertions
    assert view.isVisible()
    tabs.setCurrentIndex(0)
    tabs.setCurrentIndex(2)
    assert built == ["b"]  # built once


def test_asking_for_a_view_builds_it_without_switching_to_it(qtbot) -> None:
    built: list[str] = []
    tabs = _tabs(qtbot, built)
    a = tabs.view("a")
    assert built == ["a"] and tabs.currentIndex() == 0 and tabs.widget(1) is a
    tabs.setCurrentWidget(a)
    assert tabs.currentIndex() == 1


def test_a_failing_factory_leaves_the_tab_lazy(qtbot) -> None:
    tabs = LazyTabs()
    qtbot.addWidget(tabs)
    tries: list[int] = []

    def flaky() -> QWidget:
        tries.append(1)
        if len(tries) == 1:
            raise RuntimeError("not yet")
        return QLabel("ok")

    tabs.addTab(QLabel("first"), QIcon(), "First")  # a tab added current would build now
    tabs.add_lazy("x", flaky, QIcon(), "X")
    with pytest.raises(RuntimeError):
        tabs.view("x")
    assert tabs.pending() == ["x"] and tabs.count() == 2
    assert isinstance(tabs.view("x"), QLabel) and tabs.pending() == []


def test_warm_up_builds_the_other_tabs_in_steps(qtbot) -> None:
    built: list[str] = []
    tabs = _tabs(qtbot, built)
    order: list[str] = []
    tabs.build_all_later(first=lambda: order.append("first"))
    assert built == [] and order == []  # nothing before the event loop turns
    qtbot.waitUntil(lambda: tabs.pending() == [], timeout=5000)
    assert order == ["first"] and built == ["a", "b"]
    assert tabs.currentIndex() == 0  # warming up never switches tabs


def test_the_main_window_builds_its_tabs_when_they_are_used(window, qtbot) -> None:
    assert window.tabs.pending() == ["training", "runs", "compare"]
    window.tabs.setCurrentWidget(window.runs)  # asking for the view builds it
    assert window.tabs.currentWidget() is window.runs
    assert window.tabs.pending() == ["training", "compare"]
    window.warm_up()
    qtbot.waitUntil(lambda: window.tabs.pending() == [], timeout=30_000)
    assert window.tabs.currentWidget() is window.runs
    assert window.tabs.indexOf(window.compare) == 3

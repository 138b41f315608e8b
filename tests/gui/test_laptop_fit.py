"""Issue 19: every tab is usable on a laptop screen. At 1280x720 and 1024x700 the window's
minimum size fits, and every primary button of every tab is on screen and not clipped, also
with the dataset preview unfolded and with a run's charts shown."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import QPushButton

SIZES = [(1280, 720), (1024, 700)]


def _buttons(win) -> dict[str, list[QPushButton]]:
    ex, tv, rv, cv = win.experiment, win.training, win.runs, win.compare
    return {
        "New experiment": [
            ex.import_btn,
            ex.preview_btn,
            ex.find_best_btn,
            ex.recommend_btn,
            ex.train_one_btn,
            ex.train_btn,
        ],
        "Live training": [tv.pause_btn, tv.resume_btn, tv.stop_btn],
        "Runs": [rv.details_btn, rv.resume_btn, rv.compare_btn, rv.delete_btn],
        "Compare": [cv.csv_btn, cv.plot_btn],
    }


def _unclipped(win, btn: QPushButton) -> bool:
    """Shown, wholly inside the window, not cut by a scroll area or a parent, and wide enough
    for its text."""
    if not btn.isVisible():
        return False
    where = QRect(btn.mapTo(win, QPoint(0, 0)), btn.size())
    wide = btn.width() >= btn.sizeHint().width()  # not squeezed: its text is not cut
    return win.rect().contains(where) and btn.visibleRegion().boundingRect() == btn.rect() and wide


@pytest.mark.parametrize("size", SIZES)
def test_every_tab_fits_and_shows_its_buttons(window, qtbot, size) -> None:
    w, h = size
    hint = window.minimumSizeHint()
    assert hint.width() <= w and hint.height() <= h, f"minimum size {hint.toTuple()}"
    window.resize(w, h)
    window.show()
    qtbot.waitExposed(window)
    assert window.size().toTuple() == (w, h)
    tabs = window.tabs
    buttons = _buttons(window)
    for i in range(tabs.count()):
        tabs.setCurrentIndex(i)
        qtbot.wait(30)
        name = tabs.tabText(i)
        page = tabs.widget(i)
        primary = [b for b in page.findChildren(QPushButton) if b.objectName() == "primary"]
        for b in {*buttons[name], *(b for b in primary if b.isVisibleTo(page))}:
            assert _unclipped(window, b), f"{name}: '{b.text()}' is clipped at {w}x{h}"
    assert window.size().toTuple() == (w, h)


@pytest.mark.parametrize("size", SIZES)
def test_preview_and_charts_do_not_grow_the_window(window, qtbot, size) -> None:
    w, h = size
    window.resize(w, h)
    window.show()
    qtbot.waitExposed(window)
    ex = window.experiment
    ex.select_dataset("sample")
    ex.preview_btn.setChecked(True)  # the preview scrolls inside the view
    ex.advanced.set_expanded(True)
    qtbot.wait(50)
    assert window.size().toTuple() == (w, h)
    assert window.minimumSizeHint().height() <= h
    ex.scroll.ensureWidgetVisible(ex.train_btn)  # one scroll away
    qtbot.wait(30)
    assert _unclipped(window, ex.train_btn)
    bar = ex.scroll.verticalScrollBar()
    assert bar.maximum() > 0  # unfolded, the view scrolls rather than growing the window
    bar.setValue(bar.maximum())
    qtbot.wait(30)
    assert not _unclipped(window, ex.import_btn)  # the check sees a button scrolled away
    bar.setValue(0)
    tv = window.training
    window.tabs.setCurrentWidget(tv)
    tv.stack.setCurrentIndex(1)  # a run's charts, queue, card and log
    qtbot.wait(50)
    assert window.size().toTuple() == (w, h)
    for b in (tv.stop_btn, tv.up_btn, tv.down_btn, tv.remove_btn):
        assert _unclipped(window, b), f"'{b.text()}' clipped at {w}x{h}"
    assert tv.acc_plot.height() >= 130 and tv.log_panel.height() >= 120

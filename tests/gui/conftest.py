"""GUI tests run headless; each test gets its own database, settings file and cache."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread() -> None:
    """Tests share two cores with other work; one intra-op thread avoids oversubscription."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PEPR_DB", str(tmp_path / "pepr.sqlite"))
    monkeypatch.setenv("PEPR_SETTINGS", str(tmp_path / "settings.ini"))
    monkeypatch.setenv("PEPR_CACHE", str(tmp_path / "cache"))
    # no idle-power baseline before each run: it only adds seconds to tests
    (tmp_path / "settings.ini").write_text("[General]\nidle_baseline_s=0\n")
    return tmp_path


@pytest.fixture
def dialogs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Record QMessageBox warnings/criticals instead of blocking on them."""
    from PySide6.QtWidgets import QMessageBox

    seen: list[tuple[str, str]] = []

    def record(_parent, title, text, *a, **k):
        seen.append((title, text))
        return QMessageBox.StandardButton.Ok

    monkeypatch.setattr(QMessageBox, "warning", record)
    monkeypatch.setattr(QMessageBox, "critical", record)
    return seen


@pytest.fixture
def window(qtbot, isolated, dialogs, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from pepr_desktop.gui.main_window import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    yield win
    # a run still training at teardown (a slow machine) must not leave the close's question
    # open, modal, with nobody to answer it
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    win.ctx.training.stop()
    win.ctx.training.wait(60_000)
    qtbot.waitUntil(lambda: not win.ctx.training.busy, timeout=10_000)


@pytest.fixture(autouse=True)
def _gui_thread_gc(qapp):
    """Every GUI test runs as the app does, collecting cycles on the GUI thread only
    (gui/main_thread_gc.py); afterwards everything is collected here and collection goes back
    to the interpreter, for the non-GUI tests that share this process."""
    from pepr_desktop.gui import main_thread_gc

    main_thread_gc.install()
    yield
    main_thread_gc.uninstall()

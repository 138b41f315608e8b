"""`pepr-desktop`: start the GUI."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from pepr_desktop import __version__

# After the window is shown and painted, load the chart library and build the other tabs in
# small steps (MainWindow.warm_up), so a first visit of a tab does not pause (issue 20).
WARM_UP_DELAY_MS = 500


def load_style(theme: str) -> str:
    """The QSS style sheet from resources/ (package data); the dark theme adds its overrides."""
    from pepr_desktop.resources_path import resource

    text = ""
    for name in ("style.qss", "style_dark.qss" if theme == "dark" else None):
        if name and resource(name).is_file():
            text += resource(name).read_text(encoding="utf-8")
    return text


def create_app(argv: Sequence[str] | None = None):
    from PySide6.QtWidgets import QApplication

    from pepr_desktop.gui.chart_theme import set_theme
    from pepr_desktop.gui.main_window import MainWindow, icon
    from pepr_desktop.gui.settings import AppSettings

    app = QApplication.instance() or QApplication(list(argv or sys.argv))
    app.setApplicationName("PePR Desktop")
    app.setOrganizationName("pepr-desktop")
    app.setApplicationVersion(__version__)
    settings = AppSettings()
    set_theme(settings.theme)  # applied when pyqtgraph loads, with the first chart tab
    app.setStyleSheet(load_style(settings.theme))
    app.setWindowIcon(icon("app"))
    win = MainWindow(settings)
    return app, win


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Our own flags; anything else (e.g. Qt's -platform) is left for QApplication."""
    p = argparse.ArgumentParser(prog="pepr-desktop", description="PePR Desktop (GUI)")
    p.add_argument("--version", action="store_true", help="print the version and exit")
    p.add_argument(
        "--smoke",
        action="store_true",
        help="build the main window offscreen, print the start-up time and exit (packaging test)",
    )
    args, _rest = p.parse_known_args(list(argv))
    return args


def smoke(t0: float, argv: Sequence[str]) -> int:
    """Build the main window offscreen, process events until it is shown, report the time.

    Used by packaging/smoke_test.sh and the start-up benchmark; it touches no settings (the
    window is not closed through closeEvent, which would save its geometry)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app, win = create_app(argv)
    win.show()
    deadline = time.monotonic() + 60
    handle = win.windowHandle()
    while not (win.isVisible() and handle is not None and handle.isExposed()):
        app.processEvents()
        if time.monotonic() > deadline:
            print("the main window was not shown within 60 s", file=sys.stderr)
            return 1
        handle = win.windowHandle()
    app.processEvents()
    print(f"ready in {time.perf_counter() - t0:.2f} s")
    win.hide()
    win.ctx.shutdown()
    from pepr_desktop.core.store.remote import StoreProcess

    StoreProcess.shutdown()
    return 0


def missing_qt_libraries(argv: Sequence[str]) -> str | None:
    """A one-line message naming the system packages Qt still needs (without them Qt aborts the
    process with a core dump), or None when every library loads."""
    from pepr_desktop.gui import qt_libs

    absent = qt_libs.missing(qt_libs.qpa_platform(argv))
    return qt_libs.message(absent) if absent else None


def _offer_recovery(qt_argv: list[str], exc: Exception) -> Path | None:
    """The database could not be opened: the recovery dialog; the database to open instead
    (recovered, or another one the user chose), or None to quit."""
    from PySide6.QtWidgets import QApplication

    from pepr_desktop.gui.recovery_dialog import offer_recovery
    from pepr_desktop.gui.settings import AppSettings

    _ = QApplication.instance() or QApplication(qt_argv)
    settings = AppSettings()
    path = offer_recovery(None, settings.db_path, str(exc))
    if path is not None:
        if os.environ.get("PEPR_DB"):  # the environment names the database: follow the choice
            os.environ["PEPR_DB"] = str(path)
        settings.db_path = path
    return path


def main(argv: Sequence[str] | None = None) -> int:
    import multiprocessing

    multiprocessing.freeze_support()  # in a bundle, the store process is this executable too
    t0 = time.perf_counter()
    argv = list(sys.argv if argv is None else argv)
    args = parse_args(argv[1:])
    if args.version:  # before any Qt import: no window, no display needed
        print(f"pepr-desktop {__version__}")
        return 0
    if args.smoke:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    problem = missing_qt_libraries(argv[1:])  # before any Qt import: Qt would abort
    if problem:
        print(problem, file=sys.stderr)
        return 2
    from pepr_desktop.core.store.remote import StoreProcess

    StoreProcess.get()  # starts now, in parallel with the Qt imports below
    from pepr_desktop.logsetup import configure_logging

    configure_logging()
    from pepr_desktop.core.errors import StoreError, UserError

    qt_argv = [a for a in argv if a not in ("--smoke", "--version")]
    if args.smoke:
        try:
            return smoke(t0, qt_argv)
        except UserError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    while True:
        try:
            app, win = create_app(qt_argv)
            break
        except StoreError as exc:  # damaged, locked, foreign: explain and offer what can be done
            path = _offer_recovery(qt_argv, exc)
            if path is None:
                StoreProcess.shutdown()
                return 2
        except UserError as exc:
            from PySide6.QtWidgets import QApplication, QMessageBox

            from pepr_desktop.gui.gui_text import for_gui

            _ = QApplication.instance() or QApplication(qt_argv)
            QMessageBox.critical(None, "PePR Desktop", for_gui(str(exc)))
            StoreProcess.shutdown()
            return 2
    win.show()
    from PySide6.QtCore import QTimer

    warm_up = QTimer(win)
    warm_up.setSingleShot(True)
    warm_up.timeout.connect(win.warm_up)
    warm_up.start(WARM_UP_DELAY_MS)
    try:
        return int(app.exec())
    finally:
        warm_up.stop()  # the loop is over: never warm up a window that is closing
        StoreProcess.shutdown()


if __name__ == "__main__":
    sys.exit(main())

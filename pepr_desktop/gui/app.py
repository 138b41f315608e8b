"""`pepr-desktop`: start the GUI."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from pepr_desktop import __version__


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

    from pepr_desktop.gui.charts import apply_theme
    from pepr_desktop.gui.main_window import MainWindow, icon
    from pepr_desktop.gui.settings import AppSettings

    app = QApplication.instance() or QApplication(list(argv or sys.argv))
    app.setApplicationName("PePR Desktop")
    app.setOrganizationName("pepr-desktop")
    app.setApplicationVersion(__version__)
    settings = AppSettings()
    apply_theme(settings.theme)
    app.setStyleSheet(load_style(settings.theme))
    app.setWindowIcon(icon("app"))
    win = MainWindow(settings)
    return app, win


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from pepr_desktop.core.errors import UserError

    try:
        app, win = create_app(argv)
    except UserError as exc:  # e.g. an unusable database: say so in a dialog, not a traceback
        from PySide6.QtWidgets import QApplication, QMessageBox

        _ = QApplication.instance() or QApplication(sys.argv)
        QMessageBox.critical(None, "PePR Desktop", str(exc))
        return 2
    win.show()
    return int(app.exec())


if __name__ == "__main__":
    sys.exit(main())

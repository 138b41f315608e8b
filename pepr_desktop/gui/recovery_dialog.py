"""What the GUI does when its database cannot be opened: explain, and offer to recover it.

`offer_recovery(parent, db_path, error_text)` is called where opening the database failed (at
start-up, or when switching databases). For a damaged file it offers to restore the newest good
backup and salvage what the damaged file still holds (core/store/backup.py: the damaged file is
renamed aside, never deleted); for any file it offers to open another database, or to quit.
It returns the path to open (the recovered file, or another one), or None to quit.

Call it while this process has no connection open on `db_path` (recovery renames the file).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from pepr_desktop.core.errors import UserError
from pepr_desktop.gui import file_dialogs
from pepr_desktop.gui.gui_text import without_cli_hints

log = logging.getLogger(__name__)

TITLE = "PePR Desktop: database"


def offer_recovery(
    parent: QWidget | None,
    db_path: str | Path,
    error_text: str,
    *,
    recover: Callable[[Path], Any] | None = None,
) -> Path | None:
    """Show why `db_path` cannot be opened and what can be done; the path to open, or None.

    `recover(db_path) -> report` defaults to core.store.backup.recover; the report's `lines()`
    are shown when it succeeds. A failed recovery is shown and the choice offered again."""
    from pepr_desktop.core.store.remote import RemoteBackup

    backup = RemoteBackup()  # checks and recovery open SQLite: in the store process, not here
    db_path = Path(db_path)
    do_recover = recover or backup.recover
    while True:
        try:
            state = backup.check(db_path)
            status, verdict = state.status, state.verdict
        except UserError as exc:  # unreadable, locked: not a case for recovery
            status, verdict = "error", str(exc)
        good = (
            backup.newest_good_backup(db_path)
            if status in ("damaged", "not_sqlite", "missing")
            else None
        )
        can_restore = status == "damaged" or (
            status in ("not_sqlite", "missing") and good is not None
        )
        box = _build_box(parent, db_path, error_text, verdict, status, good, can_restore)
        box.exec()
        clicked = box.clickedButton()
        choice = clicked.objectName() if clicked is not None else "quit"
        box.deleteLater()
        if choice == "restore":
            report = _run_recovery(parent, db_path, do_recover)
            if report is not None:
                return db_path
            continue
        if choice == "open_other":
            other = _ask_path(parent, db_path)
            if other is not None:
                return other
            continue
        return None


def _build_box(
    parent: QWidget | None,
    db_path: Path,
    error_text: str,
    verdict: str,
    status: str,
    good: Any,
    can_restore: bool,
) -> QMessageBox:
    box = QMessageBox(parent)
    box.setObjectName("recovery_dialog")
    box.setWindowTitle(TITLE)
    box.setIcon(QMessageBox.Icon.Critical)
    damaged = status in ("damaged", "not_sqlite")
    if damaged:
        box.setText(f"The database {db_path} is damaged and cannot be opened.")
    else:
        box.setText(f"The database {db_path} cannot be opened.")
    details = [without_cli_hints(error_text)]
    if damaged and verdict and verdict not in error_text:
        details.append(f"Integrity check: {verdict}.")
    if can_restore and good is not None:
        runs = (
            "runs unknown"
            if good.runs is None
            else f"{good.runs} run" + ("" if good.runs == 1 else "s")
        )
        details.append(
            f"The newest good backup is from {good.when} ({runs}). Restoring puts it in place, "
            "then copies every run, epoch and sample that the damaged file still holds and the "
            "backup lacks."
        )
    elif can_restore:
        details.append(
            "No backup of this database was found. Salvaging copies every run, epoch and sample "
            "that can still be read into a new file in its place."
        )
    elif damaged:
        details.append("No backup of this database was found, so it cannot be restored.")
    if can_restore:
        details.append(
            f"The damaged file is kept beside it as {db_path.name}.damaged-<date-time>; nothing "
            "is deleted."
        )
    details.append("You can also open another database (later too: File > Open database), or quit.")
    box.setInformativeText("\n\n".join(details))
    if can_restore:
        text = "Restore backup and salvage" if good is not None else "Salvage what can be read"
        restore = box.addButton(text, QMessageBox.ButtonRole.AcceptRole)
        restore.setObjectName("restore")
        box.setDefaultButton(restore)
    other = box.addButton("Open another database…", QMessageBox.ButtonRole.ActionRole)
    other.setObjectName("open_other")
    quit_ = box.addButton("Quit", QMessageBox.ButtonRole.RejectRole)
    quit_.setObjectName("quit")
    box.setEscapeButton(quit_)
    if not can_restore:
        box.setDefaultButton(other)
    return box


def _run_recovery(parent: QWidget | None, db_path: Path, recover: Callable[[Path], Any]) -> Any:
    """Run the recovery with a busy cursor; show its report (or its error). The report or None."""
    QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
    try:
        QApplication.processEvents()
        report = recover(db_path)
    except UserError as exc:
        QApplication.restoreOverrideCursor()
        log.warning("recovery of %s failed: %s", db_path, exc)
        QMessageBox.warning(
            parent, TITLE, f"The database could not be recovered: {without_cli_hints(str(exc))}"
        )
        return None
    except BaseException:
        QApplication.restoreOverrideCursor()
        raise
    QApplication.restoreOverrideCursor()
    lines = report.lines() if hasattr(report, "lines") else [str(report)]
    QMessageBox.information(parent, "Database recovered", "\n".join(lines))
    return report


def _ask_path(parent: QWidget | None, db_path: Path) -> Path | None:
    """An existing database, or the name of a new one (no overwrite question: it is opened)."""
    path = file_dialogs.save_file(
        parent,
        "Open or create a PePR database",
        str(db_path.parent),
        "SQLite (*.sqlite *.db);;All files (*)",
        confirm_overwrite=False,
    )
    return Path(path) if path else None

"""The recovery dialog: a damaged database is explained, restored and salvaged, or another one
opened; the text speaks of the menu, not of command-line options."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from pepr_desktop.core.errors import StoreError
from pepr_desktop.core.store import Store, backup
from pepr_desktop.gui import file_dialogs
from pepr_desktop.gui.gui_text import without_cli_hints as gui_text
from pepr_desktop.gui.recovery_dialog import offer_recovery
from tests.conftest import damage_a_middle_page

PAGE = 4096
ERROR = "pepr.sqlite cannot be used as a PePR database (database disk image is malformed); choose another file with --db."


def _make_db(path: Path, runs: int = 2) -> Path:
    with Store(path) as s:
        for i in range(runs):
            rid = s.create_run(name=f"run{i}")
            s.add_samples([{"run_id": rid, "t": float(k), "power_w": 3.0} for k in range(500)])
    return path


def _damage_middle(path: Path) -> None:
    damage_a_middle_page(path, page_size=PAGE)


class Clicker:
    """Answers the recovery dialogs as they appear: each answer is a button's object name."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = list(answers)
        self.seen: list[dict] = []
        self._tries = 0
        QTimer.singleShot(0, self._poll)

    def _poll(self) -> None:
        box = QApplication.activeModalWidget()
        if (
            isinstance(box, QMessageBox)
            and box.objectName() == "recovery_dialog"
            and box not in [s["box"] for s in self.seen[-1:]]
        ):
            buttons = {b.objectName(): b for b in box.buttons()}
            self.seen.append(
                {
                    "box": box,
                    "text": box.text() + "\n" + box.informativeText(),
                    "buttons": {k: b.text() for k, b in buttons.items()},
                }
            )
            buttons[self.answers.pop(0)].click()
            if not self.answers:
                return
        self._tries += 1
        if self._tries < 2000:
            QTimer.singleShot(10, self._poll)


@pytest.fixture
def shown(monkeypatch) -> list[tuple[str, str]]:
    """QMessageBox.information/warning/critical recorded instead of blocking."""
    seen: list[tuple[str, str]] = []

    def record(_parent, title, text, *a, **k):
        seen.append((title, text))
        return QMessageBox.StandardButton.Ok

    for name in ("information", "warning", "critical"):
        monkeypatch.setattr(QMessageBox, name, record)
    return seen


def test_restore_backup_and_salvage(qtbot, tmp_path: Path, shown) -> None:
    db = _make_db(tmp_path / "pepr.sqlite")
    backup.make_backup(None, db, "start")
    with Store(db) as s:
        s.create_run(name="after the backup")
    _damage_middle(db)
    clicker = Clicker(["restore"])

    assert offer_recovery(None, db, ERROR) == db

    [dialog] = clicker.seen
    assert dialog["buttons"] == {
        "restore": "Restore backup and salvage",
        "open_other": "Open another database…",
        "quit": "Quit",
    }
    text = dialog["text"]
    assert "damaged" in text and "newest good backup is from" in text and "(2 runs)" in text
    assert "File > Open database" in text and "--db" not in text and "pepr " not in text
    [(title, report)] = shown
    assert title == "Database recovered" and "kept as" in report and "--db" not in report
    assert list(tmp_path.glob("pepr.sqlite.damaged-*"))
    with Store(db) as s:
        assert len(s.runs()) == 3


def test_quit_changes_nothing(qtbot, tmp_path: Path, shown) -> None:
    db = _make_db(tmp_path / "pepr.sqlite")
    backup.make_backup(None, db, "start")
    _damage_middle(db)
    digest = hashlib.sha256(db.read_bytes()).hexdigest()
    Clicker(["quit"])
    assert offer_recovery(None, db, ERROR) is None
    assert hashlib.sha256(db.read_bytes()).hexdigest() == digest
    assert not list(tmp_path.glob("*.damaged-*")) and shown == []


def test_open_another_database(qtbot, tmp_path: Path, shown, monkeypatch) -> None:
    db = _make_db(tmp_path / "pepr.sqlite")
    _damage_middle(db)
    answers = iter(["", str(tmp_path / "new.sqlite")])
    monkeypatch.setattr(file_dialogs, "save_file", lambda *a, **k: next(answers))
    clicker = Clicker(["open_other", "open_other"])  # the first file dialog is cancelled
    assert offer_recovery(None, db, ERROR) == tmp_path / "new.sqlite"
    assert len(clicker.seen) == 2
    # no backup: salvaging is still offered
    assert clicker.seen[0]["buttons"]["restore"] == "Salvage what can be read"
    assert "No backup of this database was found" in clicker.seen[0]["text"]


def test_a_file_that_is_not_damaged_is_not_offered_recovery(qtbot, tmp_path: Path, shown) -> None:
    db = _make_db(tmp_path / "pepr.sqlite")
    error = f"{db} was written by a newer PePR Desktop (schema 9 > 3); upgrade the app to open it."
    clicker = Clicker(["quit"])
    assert offer_recovery(None, db, error) is None
    [dialog] = clicker.seen
    assert set(dialog["buttons"]) == {"open_other", "quit"}
    assert "newer PePR Desktop" in dialog["text"] and "damaged" not in dialog["text"]


def test_a_failed_recovery_is_shown_and_the_choice_offered_again(
    qtbot, tmp_path: Path, shown
) -> None:
    db = _make_db(tmp_path / "pepr.sqlite")
    backup.make_backup(None, db, "start")
    _damage_middle(db)

    def failing(_path: Path) -> None:
        raise StoreError(f"recovery of {db} failed (disk I/O error) and nothing changed.")

    clicker = Clicker(["restore", "quit"])
    assert offer_recovery(None, db, ERROR, recover=failing) is None
    assert len(clicker.seen) == 2
    [(_title, text)] = shown
    assert "could not be recovered" in text and "disk I/O error" in text


def test_gui_text_drops_command_line_hints() -> None:
    assert gui_text(ERROR) == (
        "pepr.sqlite cannot be used as a PePR database (database disk image is malformed)."
    )
    assert gui_text("no run with id 3; `pepr runs` lists the stored runs.") == "no run with id 3."
    assert gui_text("database x is locked; close it or try again.") == (
        "database x is locked; close it or try again."
    )


def test_app_start_on_a_damaged_database_offers_recovery(
    qtbot, tmp_path: Path, monkeypatch
) -> None:
    """Page 1 overwritten: the app does not end with a command-line hint but offers recovery;
    choosing it restores the backup and the window opens on the recovered file."""
    from pepr_desktop.gui import app as app_module

    db = _make_db(tmp_path / "pepr.sqlite")
    backup.make_backup(None, db, "start")
    with open(db, "r+b") as fh:
        fh.write(b"\x0d" + b"\x00" * (PAGE - 1))  # a b-tree page where the header was
    monkeypatch.setenv("PEPR_DB", str(db))
    monkeypatch.setenv("PEPR_SETTINGS", str(tmp_path / "settings.ini"))
    offered: list[str] = []

    def offer(parent, path, error_text, **k):
        offered.append(error_text)
        return backup.recover(Path(path)).path

    monkeypatch.setattr("pepr_desktop.gui.recovery_dialog.offer_recovery", offer)
    monkeypatch.setattr(QApplication, "exec", lambda *a: 0)
    shown_windows = []
    monkeypatch.setattr(  # what the window shows, read while the app runs
        "pepr_desktop.gui.main_window.MainWindow.show",
        lambda self: shown_windows.append(len(self.ctx.store.runs())),
    )
    assert app_module.main(["pepr-desktop"]) == 0
    assert len(offered) == 1 and "not a SQLite database" in offered[0]
    assert shown_windows == [2]  # the window opened on the recovered file


def test_open_database_on_a_damaged_file_offers_recovery(
    window, tmp_path: Path, monkeypatch
) -> None:
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"\x0d" + b"\x00" * (PAGE * 2 - 1))
    good = _make_db(tmp_path / "good.sqlite", runs=1)
    calls: list[Path] = []

    def offer(parent, path, error_text, **k):
        calls.append(Path(path))
        return good

    monkeypatch.setattr("pepr_desktop.gui.main_window.offer_recovery", offer)
    assert window.switch_database(bad)
    assert calls == [bad] and window.ctx.store.path == good


def test_damage_found_by_the_start_up_backup_offers_recovery(
    qtbot, isolated, dialogs, monkeypatch
) -> None:
    """A damaged page that opening does not touch: the start-up backup's integrity check finds
    it, and the window offers recovery with its own connection released."""
    from pepr_desktop.gui.main_window import MainWindow

    db = _make_db(isolated / "pepr.sqlite", runs=3)
    backup.make_backup(None, db, "start")
    with Store(db) as s:
        s.create_run(name="after the backup")
    _damage_middle(db)
    offered: list[str] = []

    def offer(parent, path, error_text, **k):
        offered.append(error_text)
        return backup.recover(Path(path)).path  # fails if the window still held the file

    monkeypatch.setattr("pepr_desktop.gui.main_window.offer_recovery", offer)
    win = MainWindow()
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: bool(offered), timeout=20_000)
    assert "damaged" in offered[0]
    qtbot.waitUntil(lambda: win.ctx.store.path == db and len(win.ctx.store.runs()) == 4)
    win.ctx.shutdown()

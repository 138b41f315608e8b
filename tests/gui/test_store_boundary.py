"""Issue 16: the GUI process holds no SQLite connection, and its dialogs open no listed file."""

from __future__ import annotations

import ast
import os
import sys
import time
from pathlib import Path

import pytest

import pepr_desktop.gui
from tests.conftest import open_descriptors

GUI = Path(pepr_desktop.gui.__file__).parent
STATIC_DIALOGS = {"getOpenFileName", "getOpenFileNames", "getSaveFileName", "getExistingDirectory"}


def _gui_sources() -> list[tuple[Path, ast.AST]]:
    return [(p, ast.parse(p.read_text(encoding="utf-8"))) for p in GUI.rglob("*.py")]


def test_gui_imports_no_local_store_and_calls_no_static_dialog() -> None:
    offenders = []
    for path, tree in _gui_sources():
        rel = path.relative_to(GUI)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.ImportFrom)
                and (node.module or "").startswith("pepr_desktop.core.store")
                and node.module != "pepr_desktop.core.store.remote"
            ):
                offenders.append(f"{rel}: imports {node.module}")
            if isinstance(node, ast.Attribute) and node.attr in STATIC_DIALOGS:
                offenders.append(f"{rel}: QFileDialog.{node.attr} (use gui/file_dialogs.py)")
            if isinstance(node, ast.Name) and node.id == "sqlite3":
                offenders.append(f"{rel}: uses sqlite3")
    assert offenders == []


def test_store_refuses_to_open_on_behalf_of_gui_code(tmp_path: Path) -> None:
    from pepr_desktop.core.store import Store

    code = compile("Store(path)", "<gui>", "eval")
    with pytest.raises(RuntimeError, match="GUI process"):
        eval(
            code,
            {
                "__name__": "pepr_desktop.gui.views.fake",
                "Store": Store,
                "path": tmp_path / "x.sqlite",
            },
        )
    assert not (tmp_path / "x.sqlite").exists()


def _listed_files_read(app, dialog, folder: Path) -> dict[str, bool]:
    """Which files of `folder` the dialog read: their access time moves past the old one we set
    (relatime updates it when it is older than the modification time)."""
    dialog.show()
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)
    dialog.close()
    return {p.name: p.stat().st_atime > 1_000_000_001 for p in folder.iterdir()}


def _folder_like_the_databases(tmp_path: Path) -> Path:
    folder = tmp_path / "lab"
    folder.mkdir(parents=True)
    for name in ("pepr.sqlite", "pepr.sqlite-wal", "pepr.sqlite-shm", "notes"):
        p = folder / name
        p.write_bytes(os.urandom(4096))
        os.utime(p, (1_000_000_000, time.time()))
    return folder


def test_app_file_dialogs_never_read_the_files_they_list(qapp, tmp_path: Path) -> None:
    from PySide6.QtWidgets import QFileDialog

    from pepr_desktop.gui.file_dialogs import _dialog

    plain = QFileDialog(None, "plain", str(_folder_like_the_databases(tmp_path / "a")))
    plain.setOption(QFileDialog.Option.DontUseNativeDialog, True)
    control = _listed_files_read(qapp, plain, tmp_path / "a" / "lab")
    if not any(control.values()):
        pytest.skip("this file system does not update access times: the check cannot see reads")
    folder = _folder_like_the_databases(tmp_path / "b")
    read = _listed_files_read(qapp, _dialog(None, "app", str(folder), ""), folder)
    assert read == {name: False for name in read}, f"Qt's default dialog read {control}"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_main_window_holds_no_descriptor_of_its_database(window, qtbot, tmp_path: Path) -> None:
    db = window.ctx.store.path
    window.ctx.store.create_run(model="m", dataset="sample")
    window.ctx.runs_changed.emit()
    qtbot.wait(100)
    assert db.is_file()
    assert open_descriptors(db) == []

"""One runs export: the CLI's `pepr export` and the GUI's File > Export runs write the same file."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from pepr_desktop.core.exports.runs import export_name
from pepr_desktop.core.store import RUN_COLUMNS, Store
from tests.core.exports.test_runs_export import seed_runs


def test_cli_and_gui_export_the_same_csv(store: Store, tmp_path: Path, qtbot, monkeypatch) -> None:
    from pepr_desktop.cli import main
    from pepr_desktop.gui.main_window import MainWindow

    seed_runs(store)
    cli_csv, gui_csv = tmp_path / "cli.csv", tmp_path / "gui.csv"
    assert main(["--db", str(store.path), "export", "--format", "csv", "-o", str(cli_csv)]) == 0
    monkeypatch.setenv("PEPR_DB", str(store.path))
    monkeypatch.setenv("PEPR_SETTINGS", str(tmp_path / "settings.ini"))
    win = MainWindow()
    qtbot.addWidget(win)
    assert win.export_runs(gui_csv) == 2
    win.ctx.shutdown()
    assert gui_csv.read_text() == cli_csv.read_text()
    rows = list(csv.DictReader(cli_csv.open()))
    assert list(rows[0])[: len(RUN_COLUMNS)] == [export_name(c) for c in RUN_COLUMNS]
    assert json.loads(rows[0]["config"]) == {"lr": 0.1} and rows[0]["energy_j"] == ""

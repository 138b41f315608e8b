"""The GUI's metering and database settings live in the settings file `pepr` reads (issue 20)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings

from pepr_desktop.core import config
from pepr_desktop.core.errors import UserError
from pepr_desktop.gui.settings import AppSettings


@pytest.fixture
def ini(tmp_path, monkeypatch):
    path = tmp_path / "gui.ini"
    monkeypatch.setenv("PEPR_SETTINGS", str(path))
    return path


def test_gui_writes_what_the_cli_reads_and_back(ini, monkeypatch) -> None:
    s = AppSettings()
    s.region = "DK"
    s.cpu_watts = 45.0
    assert config.read_file() == {"region": "DK", "cpu_watts": 45.0}
    config.set_value("pue", "1.4")
    config.set_value("region", "DE")
    again = AppSettings()
    assert (again.region, again.cpu_watts, again.pue) == ("DE", 45.0, 1.4)
    s.cpu_watts = None  # "auto" in the dialog removes it from the file
    assert "cpu_watts" not in config.read_file() and AppSettings().cpu_watts is None
    monkeypatch.setenv("PEPR_REGION", "FR")  # the environment wins, as for `pepr`
    assert AppSettings().region == "FR"


def test_a_region_pepr_would_refuse_is_refused(ini) -> None:
    with pytest.raises(UserError, match="unknown region"):
        AppSettings().region = "Atlantis"
    assert config.read_file() == {}


def test_values_kept_by_older_versions_are_still_read(ini) -> None:
    q = QSettings(str(ini), QSettings.Format.IniFormat)
    q.setValue("region", "SE")
    q.setValue("cpu_watts", 0.0)  # 0 meant "not set"
    q.sync()
    s = AppSettings()
    assert s.region == "SE" and s.cpu_watts is None
    s.region = "NO"  # the next save moves it to the file
    assert config.read_file() == {"region": "NO"} and s.q.value("region") is None


def test_a_damaged_settings_file_does_not_stop_the_app(ini) -> None:
    config.config_path().write_text('region = "DK\n')
    s = AppSettings()
    assert s.region == "" and s.cpu_watts is None


def test_the_dialog_shows_a_refused_region_and_stays_open(ini, qtbot, dialogs) -> None:
    from pepr_desktop.gui.main_window import SettingsDialog

    dlg = SettingsDialog(AppSettings())
    qtbot.addWidget(dlg)
    dlg.region.setText("Atlantis")
    dlg.accept()
    assert len(dialogs) == 1 and "unknown region 'Atlantis'" in dialogs[0][1]
    assert dlg.result() != dlg.DialogCode.Accepted and config.read_file() == {}
    dlg.region.setText("DK")
    dlg.cpu.setValue(40)
    dlg.accept()
    assert dlg.result() == dlg.DialogCode.Accepted
    assert config.read_file() == {"region": "DK", "cpu_watts": 40.0}

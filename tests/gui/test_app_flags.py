"""`pepr-desktop --version` / `--smoke` (packaging smoke test, start-up benchmark) and
Help > Open log file."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from pepr_desktop import __version__


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PEPR_DB=str(tmp / "pepr.sqlite"),
        PEPR_SETTINGS=str(tmp / "settings.ini"),
        PEPR_LOG_DIR=str(tmp / "logs"),
        OMP_NUM_THREADS="1",
        **extra,
    )
    return env


def test_version_prints_and_exits_without_a_window(tmp_path: Path) -> None:
    # an unknown Qt platform would abort any attempt to create the application
    env = _env(tmp_path, QT_QPA_PLATFORM="no-such-platform")
    out = subprocess.run(
        [sys.executable, "-m", "pepr_desktop.gui.app", "--version"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"pepr-desktop {__version__}"
    assert not (tmp_path / "pepr.sqlite").exists()  # no window, no database opened


def test_smoke_builds_the_window_offscreen_and_reports_the_time(tmp_path: Path) -> None:
    env = _env(tmp_path)
    env.pop("QT_QPA_PLATFORM", None)  # --smoke picks offscreen itself
    out = subprocess.run(
        [sys.executable, "-m", "pepr_desktop.gui.app", "--smoke"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    m = re.fullmatch(r"ready in (\d+\.\d\d) s", out.stdout.strip())
    assert m and 0 < float(m.group(1)) < 120
    assert (tmp_path / "pepr.sqlite").is_file()  # the real window opened its database


def test_help_open_log_file(window, monkeypatch, isolated, dialogs) -> None:
    from PySide6.QtGui import QDesktopServices

    from pepr_desktop.logsetup import log_file

    monkeypatch.setenv("PEPR_LOG_DIR", str(isolated / "logs"))
    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    help_menu = window.menuBar().actions()[-1].menu()
    action = next(a for a in help_menu.actions() if "log file" in a.text().replace("&", ""))
    action.trigger()  # no log yet: a dialog says where it will be
    assert opened == [] and len(dialogs) == 1 and "no log file yet" in dialogs[0][1]
    log_file().parent.mkdir(parents=True)
    log_file().write_text("x\n")
    action.trigger()
    assert [u.toLocalFile() for u in opened] == [str(log_file())]

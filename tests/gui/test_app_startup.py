"""Start-up on a machine that lacks a library Qt needs: one line naming the package, exit 2,
before Qt is loaded (Qt itself would abort with a core dump). The libraries are faked."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pepr_desktop.gui import app, qt_libs

ROOT = Path(__file__).resolve().parents[2]
ALL = {**qt_libs.CORE, **qt_libs.XCB}


def _without(*gone: str):
    return lambda soname: soname not in gone


def test_a_missing_xcb_library_is_named_with_its_package() -> None:
    absent = qt_libs.missing("xcb", loads=_without("libxcb-cursor.so.0"), system="linux")
    assert absent == {"libxcb-cursor.so.0": "libxcb-cursor0"}
    assert qt_libs.message(absent) == (
        "Qt needs libxcb-cursor0 (libxcb-cursor.so.0 not found): sudo apt install libxcb-cursor0"
    )


def test_several_missing_libraries_make_one_line_with_each_package_once() -> None:
    gone = ("libglib-2.0.so.0", "libgthread-2.0.so.0", "libxcb-icccm.so.4")
    line = qt_libs.message(qt_libs.missing("xcb", loads=_without(*gone), system="linux"))
    assert "\n" not in line
    assert line.endswith("sudo apt install libglib2.0-0 libxcb-icccm4")


def test_offscreen_and_other_systems_do_not_need_the_xcb_libraries() -> None:
    no_xcb = _without(*qt_libs.XCB)
    assert qt_libs.missing("offscreen", loads=no_xcb, system="linux") == {}
    assert qt_libs.missing("wayland", loads=no_xcb, system="linux") == {}
    assert qt_libs.missing("xcb", loads=lambda _: False, system="win32") == {}
    assert qt_libs.missing("xcb", loads=lambda _: False, system="darwin") == {}


def test_under_offscreen_the_real_check_passes_here() -> None:
    """The check runs in CI and in every GUI test's process: it must find what Qt loads."""
    assert qt_libs.missing(qt_libs.qpa_platform([], {"QT_QPA_PLATFORM": "offscreen"})) == {}


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        ([], {}, "xcb"),
        ([], {"QT_QPA_PLATFORM": "offscreen"}, "offscreen"),
        ([], {"QT_QPA_PLATFORM": "xcb:nograb"}, "xcb"),
        ([], {"QT_QPA_PLATFORM": "wayland;xcb"}, "wayland"),
        ([], {"XDG_SESSION_TYPE": "wayland"}, "wayland"),
        (["-platform", "vnc"], {"QT_QPA_PLATFORM": "xcb"}, "vnc"),
    ],
)
def test_the_platform_qt_will_load(argv: list[str], env: dict[str, str], expected: str) -> None:
    assert qt_libs.qpa_platform(argv, env) == expected


def test_the_app_prints_one_line_and_exits_before_qt(monkeypatch, capsys, tmp_path: Path) -> None:
    started: list[str] = []
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    real = qt_libs.missing
    fake = _without("libxcb-cursor.so.0")
    monkeypatch.setattr(qt_libs, "missing", lambda plugin: real(plugin, fake, "linux"))
    from pepr_desktop.core.store import remote

    monkeypatch.setattr(remote.StoreProcess, "get", classmethod(lambda cls: started.append("x")))
    assert app.main(["pepr-desktop"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "Qt needs libxcb-cursor0 (libxcb-cursor.so.0 not found): sudo apt install libxcb-cursor0"
    ]
    assert started == []  # no store process, no database: nothing ran past the check


def test_smoke_runs_offscreen_so_it_skips_the_xcb_check(monkeypatch) -> None:
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("XDG_SESSION_TYPE", raising=False)
    seen: list[str] = []
    monkeypatch.setattr(app, "missing_qt_libraries", lambda argv: seen.append("checked"))
    monkeypatch.setattr(app, "smoke", lambda t0, argv: 0)
    monkeypatch.setattr("pepr_desktop.core.store.remote.StoreProcess.get", lambda: None)
    assert app.main(["pepr-desktop", "--smoke"]) == 0
    assert seen == ["checked"]
    assert qt_libs.qpa_platform([]) == "offscreen"


def test_readme_lists_every_package_and_ci_installs_from_the_same_table() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"(?<![\w.-])lib[\w.+-]*[\w+]", readme))
    assert sorted(set(ALL.values()) - listed) == []
    assert "pepr_desktop.gui.qt_libs --packages" in (ROOT / ".ci" / "run").read_text()


def _needed(lib: Path) -> set[str]:
    out = subprocess.run(["readelf", "-d", str(lib)], capture_output=True, text=True, check=True)
    return {ln.split("[", 1)[1].rstrip("]") for ln in out.stdout.splitlines() if "(NEEDED)" in ln}


@pytest.mark.skipif(shutil.which("readelf") is None, reason="needs readelf (binutils)")
def test_the_table_covers_what_pyside6_links() -> None:
    """A PySide6 upgrade that links a new system library shows here."""
    import PySide6

    qt = Path(PySide6.__file__).parent / "Qt"
    libs = [qt / "plugins" / "platforms" / "libqxcb.so"]
    libs += [qt / "lib" / f"libQt6{m}.so.6" for m in ("Core", "Gui", "Widgets", "DBus", "XcbQpa")]
    libs = [p for p in libs if p.exists()]
    if not libs:
        pytest.skip("not a Linux PySide6 wheel")
    # the C/C++ runtime and compression libraries every Linux system has (Debian: required)
    base = ("libc.", "libm.", "libgcc_s.", "libstdc++.", "ld-linux", "libpthread.", "libdl.")
    base += ("libz.", "libzstd.")
    needed = {
        n
        for p in libs
        for n in _needed(p)
        if not n.startswith(("libQt6", "libicu", "libpyside", "libshiboken", *base))
    }
    assert needed - set(ALL) == set()


@pytest.mark.parametrize("loop_ms", [0, app.WARM_UP_DELAY_MS + 400])
def test_the_tabs_warm_up_once_the_window_is_shown_and_only_while_the_app_runs(
    isolated: Path, monkeypatch, qtbot, loop_ms: int
) -> None:
    """Issue 20: the window shows first; the chart library and the other tabs follow from the
    event loop. A loop that has ended (exec returned) never starts the warm-up afterwards."""
    from PySide6.QtCore import QObject
    from PySide6.QtWidgets import QApplication

    events: list[str] = []

    class Window(QObject):  # what main() does with its window, without building a real one
        def show(self) -> None:
            events.append("shown")

        def warm_up(self) -> None:
            events.append("warm-up")

    win = Window()
    monkeypatch.setenv("PEPR_LOG_DIR", str(isolated / "logs"))
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    monkeypatch.setattr("pepr_desktop.core.store.remote.StoreProcess.get", lambda: None)
    monkeypatch.setattr(app, "create_app", lambda argv: (QApplication.instance(), win))
    monkeypatch.setattr(QApplication, "exec", lambda *a: qtbot.wait(loop_ms) or 0)
    assert app.main(["pepr-desktop"]) == 0
    qtbot.wait(app.WARM_UP_DELAY_MS + 200)  # after the app's loop: nothing more may happen
    assert events == (["shown", "warm-up"] if loop_ms else ["shown"])

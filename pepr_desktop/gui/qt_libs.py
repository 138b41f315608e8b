"""The system libraries Qt needs on Linux, and a check that runs before Qt can abort.

PySide6's wheels bundle Qt but not the X11/xcb, OpenGL and font libraries it links; on a fresh
Debian or Ubuntu the xcb platform plugin then fails to load and Qt aborts the process with a
core dump ("Could not load the Qt platform plugin xcb"). `missing()` tries to load each library
by its soname, the way the dynamic loader will for Qt, and `message()` names the packages.

The table is what PySide6 6.12's QtGui/QtDBus and xcb plugin link (`readelf -d` NEEDED), mapped
to Debian 12 packages (`dpkg -S`). The README's Install section lists the same packages, and
.ci/run installs the missing ones with `python -m pepr_desktop.gui.qt_libs --packages`.
No Qt import here: this runs before PySide6 is loaded.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import sys
from collections.abc import Callable, Sequence

# Needed by QtGui (and QtDBus) whatever the platform plugin: offscreen included.
CORE = {
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libX11.so.6": "libx11-6",
    "libdbus-1.so.3": "libdbus-1-3",
}
# Needed by the xcb platform plugin (an X11 or XWayland desktop).
XCB = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
}


def qpa_platform(argv: Sequence[str] = (), env: dict[str, str] | None = None) -> str:
    """The Qt platform plugin this start will ask for: `-platform NAME`, QT_QPA_PLATFORM, or
    Qt's own default on Linux (wayland in a Wayland session, else xcb)."""
    env = os.environ if env is None else env
    args = list(argv)
    for i, a in enumerate(args[:-1]):
        if a in ("-platform", "--platform"):
            return args[i + 1].split(":")[0]
    if env.get("QT_QPA_PLATFORM"):
        return env["QT_QPA_PLATFORM"].split(";")[0].split(":")[0]
    if env.get("WAYLAND_DISPLAY") or env.get("XDG_SESSION_TYPE") == "wayland":
        return "wayland"
    return "xcb"


def _loads(soname: str) -> bool:
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def missing(
    plugin: str, loads: Callable[[str], bool] = _loads, system: str = sys.platform
) -> dict[str, str]:
    """{soname: Debian package} of each library that cannot be loaded; empty off Linux, where
    Qt's wheels carry what they need."""
    if not system.startswith("linux"):
        return {}
    needed = {**CORE, **(XCB if plugin == "xcb" else {})}
    return {lib: pkg for lib, pkg in needed.items() if not loads(lib)}


def message(absent: dict[str, str]) -> str:
    """One line: what is missing and the command that installs it (Debian/Ubuntu names)."""
    pkgs = " ".join(sorted(set(absent.values())))
    libs = ", ".join(sorted(absent))
    return f"Qt needs {pkgs} ({libs} not found): sudo apt install {pkgs}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="the system libraries Qt needs, and which are missing")
    ap.add_argument("--platform", default="xcb", help="the Qt platform plugin (default: xcb)")
    ap.add_argument(
        "--packages", action="store_true", help="print only the missing packages' names"
    )
    args = ap.parse_args(argv)
    absent = missing(args.platform)
    if args.packages:
        print(" ".join(sorted(set(absent.values()))))
    else:
        print(message(absent) if absent else f"all libraries for Qt's {args.platform} plugin found")
    return 0


if __name__ == "__main__":
    sys.exit(main())

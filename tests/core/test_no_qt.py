"""The core must stay headless: importing every core module loads no Qt binding."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pepr_desktop.core

CORE = Path(pepr_desktop.core.__file__).parent


def _core_modules() -> list[str]:
    return [m.name for m in pkgutil.walk_packages([str(CORE)], prefix="pepr_desktop.core.")]


def test_core_modules_import_no_qt() -> None:
    mods = _core_modules()
    assert "pepr_desktop.core.training.train" in mods
    code = (
        "import importlib, sys\n"
        f"for m in {mods!r}: importlib.import_module(m)\n"
        "bad = sorted(k for k in sys.modules if k.split('.')[0] in "
        "('PySide6', 'PyQt5', 'PyQt6', 'PySide2', 'pyqtgraph', 'shiboken6'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"core imported Qt: {out.stdout}"


def test_core_sources_mention_no_qt() -> None:
    offenders = [
        str(p.relative_to(CORE))
        for p in CORE.rglob("*.py")
        if any(
            line.lstrip().startswith(
                (
                    "import PySide",
                    "from PySide",
                    "import pyqtgraph",
                    "from pyqtgraph",
                    "from PyQt",
                    "import PyQt",
                )
            )
            for line in p.read_text().splitlines()
        )
    ]
    assert offenders == []

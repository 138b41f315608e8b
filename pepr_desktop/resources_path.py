"""Where the bundled resources live: `resources/` in a source checkout, the
`pepr_desktop.resources` package in an installed wheel, or `_MEIPASS` in a PyInstaller bundle."""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path


@cache
def resources_dir() -> Path:
    frozen = getattr(sys, "_MEIPASS", None)
    candidates = [Path(frozen) / "resources"] if frozen else []
    candidates.append(Path(__file__).resolve().parent.parent / "resources")  # source checkout
    candidates.append(Path(__file__).resolve().parent / "resources")  # installed wheel
    for c in candidates:
        if c.is_dir():
            return c
    raise FileNotFoundError("PePR Desktop's resources folder is missing; reinstall the app.")


def resource(*parts: str) -> Path:
    return resources_dir().joinpath(*parts)

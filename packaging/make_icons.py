"""Render the application icon (resources/icons/app.svg) to the PNG sizes installers expect.

QT_QPA_PLATFORM=offscreen .venv/bin/python packaging/make_icons.py
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ROOT = Path(__file__).resolve().parents[1]
SVG = ROOT / "resources" / "icons" / "app.svg"
OUT = ROOT / "packaging" / "icons"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def main() -> None:
    app = QGuiApplication([])  # noqa: F841 - QPainter needs an application
    OUT.mkdir(parents=True, exist_ok=True)
    shutil.copy(SVG, OUT / "pepr-desktop.svg")
    renderer = QSvgRenderer(str(SVG))
    for size in SIZES:
        img = QImage(size, size, QImage.Format.Format_ARGB32)
        img.fill(Qt.GlobalColor.transparent)
        painter = QPainter(img)
        renderer.render(painter)
        painter.end()
        img.save(str(OUT / f"pepr-desktop-{size}.png"))
    print(f"wrote {len(SIZES)} PNGs and the SVG to {OUT}")


if __name__ == "__main__":
    main()

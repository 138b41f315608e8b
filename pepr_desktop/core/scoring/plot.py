"""A PNG of accuracy vs resource with the Pareto front marked, drawn with Pillow.

Pillow needs no display and no Qt, so the CLI, a headless server and the core tests can all make
the same picture; the GUI draws its own live chart with pyqtgraph.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pepr_desktop.core.errors import UserError
from pepr_desktop.core.scoring.compare import ComparisonTable
from pepr_desktop.core.scoring.pepr import Variant

PANEL_W, PANEL_H = 640, 460
MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 70, 20, 40, 55
FRONT = (214, 39, 40)
OTHER = (120, 120, 120)
AXIS = (40, 40, 40)
GRID = (225, 225, 225)


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About n round tick values covering [lo, hi] (1, 2, 2.5, 5 x 10^k steps)."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step - 1e-9) * step
    ticks = []
    t = start
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 12))
        t += step
    return ticks


def _padded(vals: list[float]) -> tuple[float, float]:
    lo, hi = min(vals), max(vals)
    pad = (hi - lo) * 0.08 or (abs(hi) * 0.1 or 0.5)
    return lo - pad, hi + pad


def plot_comparison(table: ComparisonTable, path: str | Path) -> Path:
    """One panel per variant of the table, side by side in a grid of up to two columns."""
    from PIL import Image, ImageDraw

    path = Path(path).expanduser()
    if path.suffix.lower() != ".png":
        raise UserError(f"plot file {path} must end in .png (e.g. compare.png).")
    if not path.parent.is_dir():
        raise UserError(f"folder {path.parent} does not exist; create it or choose another path.")
    fonts = _fonts()
    n = len(table.variants)
    cols = 1 if n == 1 else 2
    rows = math.ceil(n / cols)
    img = Image.new("RGB", (PANEL_W * cols, PANEL_H * rows), "white")
    draw = ImageDraw.Draw(img)
    for k, variant in enumerate(table.variants):
        _draw_panel(draw, fonts, table, variant, (k % cols) * PANEL_W, (k // cols) * PANEL_H)
    try:
        img.save(path, format="PNG")
    except OSError as exc:
        raise UserError(f"cannot write {path} ({exc}); choose another path.") from None
    return path


def _fonts() -> tuple[Any, Any]:
    """(label font, tick font)."""
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=13), ImageFont.load_default(size=11)
    except TypeError:  # Pillow without FreeType: the bitmap font has one size
        font = ImageFont.load_default()
        return font, font


@dataclass(frozen=True)
class _Frame:
    """A panel's plot area in pixels and the data range it shows."""

    x0: int
    y0: int
    x1: int
    y1: int
    xlo: float
    xhi: float
    ylo: float
    yhi: float

    def sx(self, x: float) -> float:
        return self.x0 + (x - self.xlo) / (self.xhi - self.xlo) * (self.x1 - self.x0)

    def sy(self, y: float) -> float:
        return self.y1 - (y - self.ylo) / (self.yhi - self.ylo) * (self.y1 - self.y0)


def _draw_panel(
    draw: Any, fonts: tuple[Any, Any], table: ComparisonTable, variant: Variant, ox: int, oy: int
) -> None:
    """The panel of one variant with its top-left corner at (ox, oy)."""
    font, small = fonts
    res = variant.resource
    pts = [
        (row.resources[res], row.performance, row.pareto[res], row.run_id)
        for row in table.rows
        if row.performance is not None
        and row.resources[res] is not None
        and math.isfinite(row.resources[res])  # type: ignore[arg-type]
    ]
    title = f"{variant.name}: test accuracy vs {res} ({variant.unit})"
    draw.text((ox + MARGIN_L, oy + 12), title, fill=AXIS, font=font)
    x0, y0 = ox + MARGIN_L, oy + MARGIN_T
    x1, y1 = ox + PANEL_W - MARGIN_R, oy + PANEL_H - MARGIN_B
    draw.rectangle((x0, y0, x1, y1), outline=AXIS)
    if not pts:
        draw.text((x0 + 20, (y0 + y1) // 2), f"no run has a {res} figure", fill=OTHER, font=font)
        return
    frame = _Frame(x0, y0, x1, y1, *_padded([p[0] for p in pts]), *_padded([p[1] for p in pts]))
    _draw_axes(draw, fonts, frame, variant, ox)
    _draw_points(draw, small, frame, pts)
    hidden = len(table.rows) - len(pts)
    if hidden:
        draw.text(
            (x1 - 6, y1 - 6),
            f"{hidden} run(s) not shown: no figure",
            fill=OTHER,
            font=small,
            anchor="rd",
        )


def _draw_axes(draw: Any, fonts: tuple[Any, Any], f: _Frame, variant: Variant, ox: int) -> None:
    """Grid lines, ticks and their labels, and the axis titles."""
    font, small = fonts
    for t in nice_ticks(f.xlo, f.xhi):
        x = f.sx(t)
        draw.line((x, f.y0 + 1, x, f.y1 - 1), fill=GRID)
        draw.line((x, f.y1, x, f.y1 + 4), fill=AXIS)
        draw.text((x, f.y1 + 6), f"{t:g}", fill=AXIS, font=small, anchor="ma")
    for t in nice_ticks(f.ylo, f.yhi):
        y = f.sy(t)
        draw.line((f.x0 + 1, y, f.x1 - 1, y), fill=GRID)
        draw.line((f.x0 - 4, y, f.x0, y), fill=AXIS)
        draw.text((f.x0 - 6, y), f"{t:g}", fill=AXIS, font=small, anchor="rm")
    label = f"{variant.resource} ({variant.unit})"
    draw.text(((f.x0 + f.x1) / 2, f.y1 + 24), label, fill=AXIS, font=font, anchor="ma")
    draw.text((ox + 8, (f.y0 + f.y1) / 2), "acc", fill=AXIS, font=font, anchor="lm")


def _draw_points(draw: Any, small: Any, f: _Frame, pts: list[tuple[Any, ...]]) -> None:
    """The runs as dots labelled with their ids, the Pareto front as a line, and its legend."""
    front = sorted((p for p in pts if p[2]), key=lambda p: (p[0], p[1]))
    if len(front) > 1:
        draw.line([(f.sx(p[0]), f.sy(p[1])) for p in front], fill=FRONT, width=2)
    for x, y, on_front, run_id in sorted(pts, key=lambda p: p[2]):
        cx, cy = f.sx(x), f.sy(y)
        r = 6 if on_front else 4
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=FRONT if on_front else OTHER)
        draw.text((cx + 7, cy - 7), f"#{run_id}", fill=AXIS, font=small, anchor="ls")
    draw.ellipse((f.x1 - 88, f.y0 + 8, f.x1 - 80, f.y0 + 16), fill=FRONT)
    draw.text((f.x1 - 6, f.y0 + 6), "Pareto front", fill=FRONT, font=small, anchor="ra")

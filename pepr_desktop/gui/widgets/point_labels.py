"""Labels beside scatter points that never overlap each other or leave the plot.

Each label tries the spots around its point, nearest first (right-up, right-down, left-up,
left-down, above, below), then the same spots further out, where a leader line joins it to its
point. A spot is taken only when the label's box lies inside the plot and overlaps no label or
point placed before it. Pure geometry in pixels (y grows downwards); the view converts.
"""

from __future__ import annotations

from dataclasses import dataclass

CHAR_W = 7.0  # px per character of the label font (8-9 pt)
LINE_H = 15.0
GAP = 6.0  # px between a point and its label
POINT_R = 6.0


@dataclass(frozen=True)
class Placed:
    x: float  # the label box's top-left corner, px
    y: float
    w: float
    h: float
    leader: bool  # far from its point: draw a line to it


def _overlaps(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _spots(px: float, py: float, w: float, h: float, ring: int) -> list[tuple[float, float]]:
    d = GAP + ring * (h + 2)
    return [
        (px + d, py - d - h / 2),
        (px + d, py + d - h / 2),
        (px - d - w, py - d - h / 2),
        (px - d - w, py + d - h / 2),
        (px - w / 2, py - d - h),
        (px - w / 2, py + d),
    ]


def place(
    points: list[tuple[float, float]],
    texts: list[str],
    width: float,
    height: float,
    rings: int = 6,
    sizes: list[tuple[float, float]] | None = None,
) -> list[Placed]:
    """A box per label inside (0, 0, width, height), none overlapping; when no spot is free the
    first spot inside the plot is used (a crowd of identical points). `sizes`: each label's
    measured (w, h) in px; by default estimated from its length."""
    dots = [(x - POINT_R, y - POINT_R, x + POINT_R, y + POINT_R) for x, y in points]
    labels: list[tuple[float, float, float, float]] = []
    out: list[Placed] = []
    for i, ((px, py), text) in enumerate(zip(points, texts)):
        w, h = sizes[i] if sizes else (CHAR_W * len(text) + 4, LINE_H)
        others = [d for j, d in enumerate(dots) if j != i] + labels
        chosen: Placed | None = None
        fallback: Placed | None = None
        for ring in range(rings):
            for x, y in _spots(px, py, w, h, ring):
                box = (x, y, x + w, y + h)
                if x < 0 or y < 0 or box[2] > width or box[3] > height:
                    continue
                fallback = fallback or Placed(x, y, w, h, ring > 0)
                if not any(_overlaps(box, b) for b in others):
                    chosen = Placed(x, y, w, h, ring > 0)
                    break
            if chosen:
                break
        if chosen is None:
            x = max(0.0, min(px + GAP, width - w))
            chosen = fallback or Placed(x, max(0.0, py - h), w, h, False)
        labels.append((chosen.x, chosen.y, chosen.x + chosen.w, chosen.y + chosen.h))
        out.append(chosen)
    return out

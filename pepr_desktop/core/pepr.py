"""PePR scoring (Selvan et al., NLDL 2025): PePR = P / (1 + R_n), R_n min-max normalised over the
set of models compared. A resource equal across the set normalises to 0, so PePR == P."""

from __future__ import annotations

import math
from collections.abc import Sequence


def _usable(v: float | None) -> bool:
    return v is not None and isinstance(v, (int, float)) and math.isfinite(v)


def normalise(resource: Sequence[float | None]) -> list[float | None]:
    """Min-max normalise over the usable values; missing or non-finite values stay None."""
    vals = [v for v in resource if _usable(v)]
    if not vals:
        return [None] * len(resource)
    lo, hi = min(vals), max(vals)
    span = hi - lo
    return [
        (None if not _usable(v) else (0.0 if span == 0 else (v - lo) / span)) for v in resource
    ]


def pepr_scores(
    performance: Sequence[float | None], resource: Sequence[float | None]
) -> list[float | None]:
    """PePR for each model of one comparison set (None where P or R is missing)."""
    if len(performance) != len(resource):
        raise ValueError("performance and resource must have the same length")
    for p in performance:
        if _usable(p) and not 0 <= p <= 1:
            raise ValueError(f"performance {p} is outside [0, 1]")
    rn = normalise(resource)
    return [
        (p / (1 + r)) if _usable(p) and r is not None else None
        for p, r in zip(performance, rn)
    ]

"""PePR scoring (Selvan et al., NLDL 2025): PePR = P / (1 + R_n), R_n min-max normalised over the
set of models compared. A resource equal across the set normalises to 0, so PePR == P.

Everything here is pure Python over lists so that the CLI, the GUI and the benchmarks share it and
1000 runs score in milliseconds. The comparison set of a score is the rows of one group that have
both a usable performance and a usable resource; a missing or non-finite value is excluded with a
reason, never treated as 0 (that would make it the cheapest model).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pepr_desktop.core.errors import UserError, close_matches
from pepr_desktop.core.resources import RESOURCES, Resource, resources_for

MISSING_TEXT = frozenset({"", "na", "n/a", "nan", "none", "null", "-"})


# A PePR variant is a resource of the registry (core/resources.py): its letter, columns and units.
Variant = Resource
VARIANTS: dict[str, Variant] = RESOURCES


def variants_for(resource: str) -> list[Variant]:
    """`energy|co2|time|memory` (or E/C/T/M, PePR-E...) -> [Variant]; `all` -> all four."""
    return resources_for(resource)


def _usable(v: float | None) -> bool:
    return (
        v is not None
        and not isinstance(v, bool)
        and isinstance(v, (int, float))
        and math.isfinite(v)
    )


def normalise(resource: Sequence[float | None]) -> list[float | None]:
    """Min-max normalise over the usable values; missing or non-finite values stay None."""
    vals = [v for v in resource if _usable(v)]
    if not vals:
        return [None] * len(resource)
    lo, hi = min(vals), max(vals)
    span = hi - lo
    return [(None if not _usable(v) else (0.0 if span == 0 else (v - lo) / span)) for v in resource]


def pepr_scores(
    performance: Sequence[float | None], resource: Sequence[float | None]
) -> list[float | None]:
    """PePR for each model of one comparison set (None where P or R is missing).

    A model without a usable performance is not part of the set, so its resource does not move
    the min or max of the others.
    """
    if len(performance) != len(resource):
        raise ValueError("performance and resource must have the same length")
    for p in performance:
        if _usable(p) and not 0 <= p <= 1:
            raise ValueError(f"performance {p} is outside [0, 1]")
    rn = normalise([r if _usable(p) else None for p, r in zip(performance, resource, strict=True)])
    return [
        (p / (1 + r)) if _usable(p) and r is not None else None
        for p, r in zip(performance, rn, strict=True)
    ]


def pareto_front(
    performance: Sequence[float | None], resource: Sequence[float | None]
) -> list[bool]:
    """True for the runs no other run beats: none has >= performance with <= resource and is
    strictly better in one. Identical points are all on the front. Runs with a missing value are
    never on it. O(n log n): sweep by resource, keep the best performance seen at lower cost."""
    if len(performance) != len(resource):
        raise ValueError("performance and resource must have the same length")
    idx = [i for i in range(len(performance)) if _usable(performance[i]) and _usable(resource[i])]
    idx.sort(key=lambda i: (resource[i], -performance[i]))  # type: ignore[operator]
    front = [False] * len(performance)
    best = -math.inf  # best performance among strictly cheaper runs
    k = 0
    while k < len(idx):
        r = resource[idx[k]]
        same = []
        while k < len(idx) and resource[idx[k]] == r:
            same.append(idx[k])
            k += 1
        top = performance[same[0]]  # sorted by performance descending within equal resource
        if top > best:  # type: ignore[operator]
            for i in same:
                if performance[i] == top:
                    front[i] = True
            best = top  # type: ignore[assignment]
    return front


def ranking(scores: Sequence[float | None]) -> list[int | None]:
    """Rank 1 = highest score; ties share a rank ("1224"); missing scores have no rank."""
    order = sorted((s for s in scores if _usable(s)), reverse=True)
    first: dict[float, int] = {}
    for pos, s in enumerate(order, start=1):
        first.setdefault(s, pos)  # type: ignore[arg-type]
    return [first[s] if _usable(s) else None for s in scores]  # type: ignore[index]


# --------------------------------------------------------------------------- tables


@dataclass
class Exclusion:
    """A row left out of one score, and why (shown to the user instead of a silent 0)."""

    row: int  # 0-based index in the input
    column: str  # the resource column, or the performance column when P itself is unusable
    reason: str


@dataclass
class ResourceScores:
    """Per-row results for one resource column; None where the row is excluded."""

    column: str
    normalised: list[float | None]
    pepr: list[float | None]
    rank: list[int | None]  # within the row's group
    pareto: list[bool]  # within the row's group


@dataclass
class ScoredTable:
    performance: list[float | None]
    groups: list[str]
    scores: dict[str, ResourceScores]
    excluded: list[Exclusion] = field(default_factory=list)

    def reasons(self, column: str) -> list[Exclusion]:
        return [e for e in self.excluded if e.column == column]


def parse_number(value: Any, column: str, row: int) -> float | None:
    """A cell -> float; empty/NA/None -> None (missing). Text that is not a number is a user
    mistake, not a missing value, so it stops the scoring with a message naming the cell."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise UserError(
            f"row {row + 1}, column '{column}': {value!r} is not a number; fix the value or leave "
            "it empty to exclude the row."
        )
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    if text.lower() in MISSING_TEXT:
        return None
    try:
        return float(text)
    except ValueError:
        raise UserError(
            f"row {row + 1}, column '{column}': '{text[:40]}' is not a number; fix the value or "
            "leave it empty to exclude the row."
        ) from None


def _why(value: float | None, column: str) -> str:
    return f"no value for '{column}'" if value is None else f"'{column}' is {value} (not finite)"


def check_performance(p: float, column: str, row: int) -> None:
    if not 0 <= p <= 1:
        hint = f" (a percentage? give {p / 100:g} instead of {p:g})" if 1 < p <= 100 else ""
        raise UserError(
            f"row {row + 1}, column '{column}': performance {p:g} is outside [0, 1]{hint}; "
            "PePR needs a performance between 0 and 1."
        )


def score_table(
    rows: Sequence[Mapping[str, Any]],
    performance: str,
    resources: Sequence[str],
    group: str | None = None,
) -> ScoredTable:
    """Score each resource column of a table, min-max normalising within each group.

    Raises UserError for a missing column, an empty table, text that is not a number, or a
    performance outside [0, 1]. Missing/non-finite values exclude the row from that score with a
    reason in `excluded`.
    """
    if not rows:
        raise UserError("the table has no rows to score; give a file with at least one run.")
    if not resources:
        raise UserError("name at least one resource column to score (e.g. --resource energy).")
    columns = list(rows[0].keys())
    for col in [performance, *resources, *([group] if group else [])]:
        if col not in columns:
            raise UserError(
                f"column '{col}' is not in the table.{close_matches(col, columns)} "
                f"Columns: {', '.join(columns[:30])}{' ...' if len(columns) > 30 else ''}"
            )
    if len(set(resources)) != len(resources):
        raise UserError("a resource column is named twice; name each once.")

    n = len(rows)
    excluded: list[Exclusion] = []
    perf: list[float | None] = []
    for i, row in enumerate(rows):
        p = parse_number(row.get(performance), performance, i)
        if p is not None and math.isfinite(p):
            check_performance(p, performance, i)
            perf.append(p)
        else:
            perf.append(None)
            excluded.append(Exclusion(i, performance, _why(p, performance)))
    groups = ["" if not group or row.get(group) is None else str(row.get(group)) for row in rows]
    members: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)

    scores: dict[str, ResourceScores] = {}
    for col in resources:
        res: list[float | None] = []
        for i, row in enumerate(rows):
            r = parse_number(row.get(col), col, i)
            if r is None or not math.isfinite(r):
                excluded.append(Exclusion(i, col, _why(r, col)))
                r = None
            res.append(r)
        out = ResourceScores(col, [None] * n, [None] * n, [None] * n, [False] * n)
        for idx in members.values():
            p_g = [perf[i] for i in idx]
            r_g = [res[i] if perf[i] is not None else None for i in idx]
            s_g = pepr_scores(p_g, r_g)
            for i, rn, s, rk, pf in zip(
                idx, normalise(r_g), s_g, ranking(s_g), pareto_front(p_g, r_g), strict=True
            ):
                out.normalised[i], out.pepr[i], out.rank[i], out.pareto[i] = rn, s, rk, pf
        scores[col] = out
    excluded.sort(key=lambda e: (e.row, e.column))
    return ScoredTable(perf, groups, scores, excluded)

"""PePR as the GUI shows it beside one run: within the finished runs of its dataset (Runs, Run
details) or within this session's runs (the end-of-run card). PePR is relative to the runs
compared, so each figure names its comparison set; the Compare tab scores any selection."""

from __future__ import annotations

import logging
from typing import Any

from pepr_desktop.core.errors import UserError

log = logging.getLogger(__name__)


def dataset_pepr(runs: list[dict[str, Any]]) -> dict[int, tuple[float | None, str]]:
    """PePR-E of each finished run within the finished runs of its dataset, or why not."""
    from pepr_desktop.core.scoring.compare import compare_runs

    out: dict[int, tuple[float | None, str]] = {}
    by_ds: dict[str, list[dict[str, Any]]] = {}
    for r in runs:
        if r.get("status") == "finished":
            by_ds.setdefault(str(r.get("dataset")), []).append(r)
        else:
            out[int(r["id"])] = (None, "PePR is scored over finished runs")
    for ds, group in by_ds.items():
        try:
            table = compare_runs(group, "energy")
        except UserError as exc:
            for r in group:
                out[int(r["id"])] = (None, str(exc))
            continue
        for row in table.rows:
            why = row.excluded.get("energy", "")
            tip = why or f"among {len(group)} finished run(s) on {ds}"
            out[row.run_id] = (row.pepr.get("energy"), tip)
    return out


def session_pepr(run: dict[str, Any], runs: list[dict[str, Any]]) -> tuple[float, str, int] | None:
    """PePR of `run` among `runs` of its dataset (this session's): by energy when every run has
    it, else by time; (score, variant, number of runs) or None when it cannot be scored."""
    from pepr_desktop.core.scoring.compare import compare_runs

    same = [r for r in runs if r.get("dataset") == run.get("dataset")]
    if not any(r.get("id") == run.get("id") for r in same):
        same.append(run)
    for resource, name in (("energy", "PePR-E"), ("time", "PePR-T")):
        try:
            table = compare_runs(same, resource)
        except UserError as exc:
            log.info("no session PePR: %s", exc)
            return None
        row = next((r for r in table.rows if r.run_id == int(run["id"])), None)
        if row is not None and row.pepr.get(resource) is not None:
            scored = sum(1 for r in table.rows if r.pepr.get(resource) is not None)
            return float(row.pepr[resource]), name, scored
    return None

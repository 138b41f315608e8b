"""Comparison of stored runs by the four PePR variants: the table behind `pepr compare` and the
GUI's Compare view.

The comparison set is exactly the runs given (PePR is relative to its model space, so it is derived
here at query time and never stored). Runs on different datasets are refused unless the caller
allows it, because min-max normalising accuracy-per-resource across different tasks mixes scales
that mean nothing together.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pepr_desktop.core.errors import UserError
from pepr_desktop.core.resources import CHOICES
from pepr_desktop.core.scoring.pepr import Exclusion, Variant, score_table, variants_for

RESOURCE_CHOICES = CHOICES
PERFORMANCE_COLUMN = "test_acc"


@dataclass
class ComparisonRow:
    """One run; dicts are keyed by variant resource name (energy, co2, time, memory)."""

    run_id: int
    name: str | None
    model: str | None
    dataset: str | None
    status: str | None
    performance: float | None  # final-epoch test accuracy
    resources: dict[str, float | None]  # in the variant's display unit (energy in Wh)
    normalised: dict[str, float | None]
    pepr: dict[str, float | None]
    rank: dict[str, int | None]
    pareto: dict[str, bool]
    excluded: dict[str, str]  # resource -> reason this run has no score for it

    def to_dict(self, variants: Sequence[Variant]) -> dict[str, Any]:
        d: dict[str, Any] = {
            "run_id": self.run_id,
            "name": self.name,
            "model": self.model,
            "dataset": self.dataset,
            "status": self.status,
            "test_acc": self.performance,
        }
        for v in variants:
            r = v.resource
            d[r] = {
                "value": self.resources[r],
                "unit": v.unit,
                "normalised": self.normalised[r],
                v.name: self.pepr[r],
                "rank": self.rank[r],
                "pareto": self.pareto[r],
                "excluded": self.excluded.get(r),
            }
        return d


@dataclass
class ComparisonTable:
    variants: list[Variant]
    rows: list[ComparisonRow]  # in the order the runs were given
    datasets: list[str]
    notes: list[str] = field(default_factory=list)

    def ranked(self, resource: str | None = None) -> list[ComparisonRow]:
        """Rows by rank of one variant (default: the first); unscored rows last, by run id."""
        r = resource or self.variants[0].resource
        return sorted(
            self.rows,
            key=lambda row: (row.rank[r] is None, row.rank[r] or 0, row.run_id),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "performance": PERFORMANCE_COLUMN,
            "variants": [
                {"name": v.name, "resource": v.resource, "column": v.run_column, "unit": v.unit}
                for v in self.variants
            ],
            "datasets": self.datasets,
            "notes": self.notes,
            "runs": [row.to_dict(self.variants) for row in self.rows],
        }


def compare_runs(
    runs: list[dict[str, Any]], resource: str = "all", allow_mixed: bool = False
) -> ComparisonTable:
    """Score runs (rows of `Store.runs()`) by PePR-E/C/T/M, with Pareto front and rank.

    With allow_mixed the runs of all datasets form one comparison set (the user asked for it; a
    note says so). A run without test accuracy or without a resource figure is excluded from
    that variant with a reason, never scored as if it used nothing.
    """
    variants = variants_for(resource)
    if not runs:
        raise UserError("no runs to compare; give run ids from `pepr runs`.")
    datasets = _datasets(runs, allow_mixed)
    notes = _notes(runs, datasets)
    table_rows = []
    for r in runs:
        row: dict[str, Any] = {PERFORMANCE_COLUMN: r.get(PERFORMANCE_COLUMN)}
        for v in variants:
            value = r.get(v.run_column)
            row[v.resource] = None if value is None else value * v.scale
        table_rows.append(row)
    scored = score_table(table_rows, PERFORMANCE_COLUMN, [v.resource for v in variants])
    reasons = _exclusion_reasons(runs, scored.excluded, variants)
    rows = []
    for i, r in enumerate(runs):
        sc = scored.scores
        rows.append(
            ComparisonRow(
                run_id=int(r["id"]),
                name=r.get("name"),
                model=r.get("model"),
                dataset=r.get("dataset"),
                status=r.get("status"),
                performance=scored.performance[i],
                resources={v.resource: table_rows[i][v.resource] for v in variants},
                normalised={v.resource: sc[v.resource].normalised[i] for v in variants},
                pepr={v.resource: sc[v.resource].pepr[i] for v in variants},
                rank={v.resource: sc[v.resource].rank[i] for v in variants},
                pareto={v.resource: sc[v.resource].pareto[i] for v in variants},
                excluded=reasons[i],
            )
        )
    return ComparisonTable(variants, rows, datasets, notes)


def _datasets(runs: list[dict[str, Any]], allow_mixed: bool) -> list[str]:
    """The runs' datasets, sorted; more than one is refused unless `allow_mixed`."""
    datasets = sorted({str(r.get("dataset")) for r in runs})
    if len(datasets) > 1 and not allow_mixed:
        by_ds = ", ".join(
            f"{ds}: " + " ".join(str(r["id"]) for r in runs if str(r.get("dataset")) == ds)
            for ds in datasets
        )
        raise UserError(
            f"the runs are on different datasets ({by_ds}); compare runs of one dataset, or "
            "allow it with --allow-mixed."
        )
    return datasets


def _notes(runs: list[dict[str, Any]], datasets: list[str]) -> list[str]:
    """What the reader of the table must know: mixed datasets, unfinished runs, and figures
    from different devices or energy methods."""
    notes: list[str] = []
    if len(datasets) > 1:
        notes.append(f"mixed datasets scored as one comparison set: {', '.join(datasets)}")
    for r in runs:
        if r.get("status") != "finished":
            notes.append(
                f"run {r['id']} is {r.get('status')} ({r.get('epochs_done')} of "
                f"{r.get('epochs_planned')} epochs): its figures cover only what it ran"
            )
    # like with like: resources measured on other hardware or by another meter do not compare
    devices = sorted({f"{r['device']} ({r.get('device_name')})" for r in runs if r.get("device")})
    if len(devices) > 1:
        notes.append(f"warning: runs on different devices: {', '.join(devices)}")
    methods = sorted({str(r["energy_method"]) for r in runs if r.get("energy_method")})
    if len(methods) > 1:
        notes.append(f"warning: energy measured with different methods: {', '.join(methods)}")
    return notes


def _exclusion_reasons(
    runs: list[dict[str, Any]], excluded: Iterable[Exclusion], variants: Sequence[Variant]
) -> list[dict[str, str]]:
    """Per run, resource -> why it has no score for that variant (the first reason wins)."""
    reasons: list[dict[str, str]] = [{} for _ in runs]
    for ex in excluded:
        if ex.column == PERFORMANCE_COLUMN:
            why = f"no test accuracy (run is {runs[ex.row].get('status')})"
            for v in variants:
                reasons[ex.row].setdefault(v.resource, why)
        else:
            col = next(v.run_column for v in variants if v.resource == ex.column)
            note = runs[ex.row].get("energy_note") if ex.column == "energy" else None
            reasons[ex.row].setdefault(
                ex.column, f"no {ex.column} figure ({col} is empty)" + (f": {note}" if note else "")
            )
    return reasons


def load_runs(store: Any, run_ids: Iterable[int]) -> list[dict[str, Any]]:
    """The stored runs with these ids, in the order given (duplicates dropped); unknown ids are
    a user mistake named in one message."""
    ids = list(dict.fromkeys(int(i) for i in run_ids))
    if not ids:
        raise UserError("no run ids given; `pepr runs` lists the stored runs.")
    found = {int(r["id"]): r for r in store.runs(ids=ids)}
    missing = [i for i in ids if i not in found]
    if missing:
        raise UserError(
            f"no run with id {', '.join(map(str, missing))}; `pepr runs` lists the stored runs."
        )
    return [found[i] for i in ids]

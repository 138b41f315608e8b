"""PePR over epochs: the score each run would have had if it had stopped after epoch 1, 2, ...

The paper scores the final (10th) epoch. Stopping earlier saves resource and often costs little
accuracy, so for each run we take, after every epoch e, the performance then and the cumulative
resource up to then. The comparison set is every (run, epochs) point of the runs compared: each
"run stopped after e epochs" is a model of the space, and the min-max normalisation of the
resource is taken over all those points, so PePR stays in [P/2, P] and the final-epoch points
are scored against their cheaper early-stopped alternatives. For each run, the epoch count with
the highest PePR is its PePR-optimal epoch count (ties: fewer epochs).

Resource: energy when every epoch of every run has an energy figure, else training time (said
in `basis`). For the paper's table only the 10-epoch totals exist, so energy (or CO2, time) is
assumed uniform per epoch: after e epochs, e/10 of the total; `basis` says so.

This is a hindsight analysis on the reported performance (test accuracy, as in PePR): it shows
how many epochs were worth it; it is not used to choose anything during training.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pepr_desktop.core.errors import UserError
from pepr_desktop.core.resources import RESOURCES
from pepr_desktop.core.scoring.pepr import pepr_scores


@dataclass
class EpochCurve:
    """One run's per-epoch performance and cumulative resource (index i = after epoch i+1)."""

    key: str  # run id or model name
    model: str
    performance: list[float | None]
    resource: list[float | None]  # cumulative


@dataclass
class CurveScores:
    key: str
    model: str
    performance: list[float | None]
    resource: list[float | None]
    normalised: list[float | None]
    pepr: list[float | None]
    best_epochs: int | None  # 1-based epoch count with the highest PePR
    best_pepr: float | None
    final_pepr: float | None

    @property
    def epochs(self) -> int:
        return len(self.performance)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "model": self.model,
            "epochs": self.epochs,
            "best_epochs": self.best_epochs,
            "best_pepr": self.best_pepr,
            "final_pepr": self.final_pepr,
            "performance": self.performance,
            "resource": self.resource,
            "normalised": self.normalised,
            "pepr": self.pepr,
        }


@dataclass
class EpochPeprTable:
    resource: str  # "energy", "time", "co2"
    unit: str
    basis: str  # how the per-epoch resource was obtained (measured / assumed uniform)
    curves: list[CurveScores]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "resource": self.resource,
            "unit": self.unit,
            "basis": self.basis,
            "notes": self.notes,
            "curves": [c.to_dict() for c in self.curves],
        }


def score_curves(
    curves: Sequence[EpochCurve], resource: str, unit: str, basis: str
) -> EpochPeprTable:
    """Score every (curve, epoch) point in one comparison set; pick each curve's best epoch."""
    flat_p: list[float | None] = []
    flat_r: list[float | None] = []
    for c in curves:
        if len(c.performance) != len(c.resource):
            raise ValueError(f"curve {c.key}: performance and resource lengths differ")
        flat_p += c.performance
        flat_r += c.resource
    scores = pepr_scores(flat_p, flat_r)
    from pepr_desktop.core.scoring.pepr import normalise

    norm = normalise([r if p is not None else None for p, r in zip(flat_p, flat_r, strict=True)])
    out, k = [], 0
    for c in curves:
        n = len(c.performance)
        s, rn = scores[k : k + n], norm[k : k + n]
        k += n
        usable = [(v, -i) for i, v in enumerate(s) if v is not None]
        best = max(usable) if usable else None
        out.append(
            CurveScores(
                key=c.key,
                model=c.model,
                performance=list(c.performance),
                resource=list(c.resource),
                normalised=rn,
                pepr=s,
                best_epochs=None if best is None else -best[1] + 1,
                best_pepr=None if best is None else best[0],
                final_pepr=s[-1] if s else None,
            )
        )
    return EpochPeprTable(resource, unit, basis, out)


def uniform_curve(
    key: str, model: str, performance: Sequence[float | None], total: float | None
) -> EpochCurve:
    """A curve whose total resource is spread evenly over its epochs (the paper's table)."""
    n = len(performance)
    res = [None if total is None else total * (i + 1) / n for i in range(n)]
    return EpochCurve(key, model, list(performance), res)


def cumulative(values: Iterable[float | None]) -> list[float | None]:
    """Running sums; None from the first missing value on (a gap makes later totals unknown)."""
    out: list[float | None] = []
    total: float | None = 0.0
    for v in values:
        total = None if total is None or v is None else total + v
        out.append(total)
    return out


def for_runs(
    store: Any, runs: Sequence[dict[str, Any]], performance: str = "test_acc"
) -> EpochPeprTable:
    """Epoch curves of stored runs (rows of `Store.runs()`), scored as one comparison set."""
    if not runs:
        raise UserError("no runs to analyse; give run ids from `pepr runs`.")
    per_run = {
        int(r["id"]): sorted(store.epochs(int(r["id"])), key=lambda e: e["epoch"]) for r in runs
    }
    energy_ok = all(
        eps and all(e.get("energy_j") is not None for e in eps) for eps in per_run.values()
    )
    column, resource, unit, scale = (
        ("energy_j", "energy", "Wh", 1 / 3600) if energy_ok else ("seconds", "time", "s", 1.0)
    )
    basis = (
        "cumulative measured energy per epoch"
        if energy_ok
        else "cumulative training time per epoch (energy unavailable for some epochs)"
    )
    curves = []
    for r in runs:
        eps = per_run[int(r["id"])]
        res = cumulative(None if e.get(column) is None else e[column] * scale for e in eps)
        curves.append(
            EpochCurve(str(r["id"]), str(r.get("model")), [e.get(performance) for e in eps], res)
        )
    table = score_curves(curves, resource, unit, basis)
    table.notes.append(
        f"performance: {performance} after each epoch; hindsight analysis, not used for choices"
    )
    return table


PAPER_RESOURCES = {  # the paper reports totals: only resources that add up over epochs
    r.resource: (r.paper_column, r.paper_unit) for r in RESOURCES.values() if r.accumulates
}


def for_paper(experiment: str, resource: str = "energy") -> EpochPeprTable:
    """The paper's models of one experiment, per epoch (test_00..test_09), resource uniform."""
    from pepr_desktop.core.scoring.paper import RESULTS_FILE, _read

    if resource not in PAPER_RESOURCES:
        raise UserError(
            f"per-epoch PePR needs {', '.join(PAPER_RESOURCES)}, not '{resource}' (a peak does "
            "not add up over epochs)."
        )
    column, unit = PAPER_RESOURCES[resource]
    rows = [r for r in _read(RESULTS_FILE) if r["dataset"] == experiment]
    if not rows:
        from pepr_desktop.core.scoring.paper import paper_models

        paper_models(experiment)  # raises the helpful unknown-experiment message
    epoch_cols = sorted(c for c in rows[0] if c.startswith("test_") and c[5:].isdigit())
    curves = []
    for r in rows:
        perf = [float(r[c]) if r[c] not in ("", None) else None for c in epoch_cols]
        total = float(r[column]) if r[column] not in ("", None) else None
        curves.append(uniform_curve(r["model"], r["model"], perf, total))
    return score_curves(
        curves,
        resource,
        unit,
        f"{resource} assumed uniform per epoch (the paper reports only the {len(epoch_cols)}-epoch "
        "total): after e epochs, e/" + str(len(epoch_cols)) + " of it",
    )

"""A search's leaderboard figures: PePR over its trials, the Pareto front, and the one JSON
object `pepr auto --json` prints (`result_dict`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pepr_desktop.core.search.auto.events import TrialRecord


def trial_resource(rec: TrialRecord, by: str) -> float | None:
    """What a trial spent of `by` (CO2 follows energy at one carbon intensity)."""
    if by in ("energy", "co2"):
        return rec.energy_wh
    if by == "time":
        return rec.seconds if rec.epochs else None
    return rec.peak_mem_mb


def score_trials(trials: Sequence[TrialRecord], by: str) -> None:
    """PePR-`by` (validation metric / (1 + normalised resource)) and the Pareto front over the
    trials that trained; set on each record."""
    from pepr_desktop.core.scoring.pepr import pareto_front, pepr_scores

    ran = [t for t in trials if t.score is not None]
    perf = [t.score for t in ran]
    res = [trial_resource(t, by) for t in ran]
    for t, s, front in zip(ran, pepr_scores(perf, res), pareto_front(perf, res)):
        t.pepr, t.on_pareto_front = s, front


def _winner(w: TrialRecord | None) -> dict[str, Any] | None:
    if w is None:
        return None
    test = w.test or {}
    return {
        "run_id": w.run_id,
        "model": w.model,
        "image_size": w.image_size,
        "recipe": w.recipe,
        "params": w.params,
        "phase": w.phase,
        "trial": w.number,
        "epochs": w.epochs,
        "validation": w.val,
        "test_acc": test.get("test_acc"),
        "test_bacc": test.get("test_bacc"),
        "test_auc": test.get("test_auc"),
        "energy_wh": w.energy_wh,
        "time_s": w.seconds,
        "peak_mem_mb": w.peak_mem_mb,
        "predicted": w.predicted,
        "degenerate": w.degenerate,
    }


def result_dict(result: Any) -> dict[str, Any]:
    spec = result.spec
    return {
        "search_id": result.search_id,
        "dataset": spec.dataset,
        "metric": spec.val_key,
        "by": spec.by,
        "promote": spec.promote,
        "backend": spec.backend,
        "budget": spec.budget.describe(),
        "spent": result.spent,
        "winner": _winner(result.winner),
        "finals": [f.to_dict() for f in result.finals],
        "leaderboard": [r.to_dict() for r in result.leaderboard()],
        "pareto_front": [t.number for t in result.trials if t.on_pareto_front],
        "arms": result.arms,
        "skipped_models": result.skipped_models,
        "storage": result.storage,
        "message": result.message,
        "cancelled": result.cancelled,
        "past_prediction_error": result.past_error,
        "test_split_used_for_choice": False,
    }

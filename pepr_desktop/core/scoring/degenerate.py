"""Name a useless model as such: one whose predictions collapse onto (almost) one class.

On imbalanced data a model that always answers the majority class reaches the majority's share
as accuracy (0.625 on PneumoniaMNIST's test split) and would be ranked by PePR as if it were a
model. Its balanced accuracy gives it away: it is 1/K (the mean recall of K classes when one
class has recall 1 and the others 0). A run is *degenerate* when its confusion matrix predicts a
single class, or when its balanced accuracy is within `MARGIN` of 1/K.

Every view that shows a run's accuracy shows `verdict(...).label` beside it (CLI summary, Runs,
Compare, Live training), and the budgeted search never returns a degenerate winner when another
model exists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MARGIN = 0.02  # balanced accuracy within this of chance (1/K) counts as collapsed

FIX = "train with class-balanced sampling or class weights, more epochs, or a larger input size"


@dataclass(frozen=True)
class Verdict:
    """Why a run is degenerate. `label` is the short flag shown beside its accuracy
    ("predicts only 'pneumonia'"); `fix` the likely remedy, in plain words."""

    label: str
    fix: str = FIX


def verdict(
    *,
    confusion: Sequence[Sequence[int]] | None = None,
    bacc: float | None = None,
    class_names: Sequence[str] | None = None,
) -> Verdict | None:
    """The verdict on a finished run from its test confusion matrix (rows: true, columns:
    predicted) and/or balanced accuracy; None when it is a model (or nothing is known)."""
    if confusion is not None and len(confusion) >= 2:
        k = len(confusion)
        names = list(class_names) if class_names and len(class_names) == k else None
        predicted = [sum(row[j] for row in confusion) for j in range(k)]
        used = [j for j, n in enumerate(predicted) if n > 0]
        if len(used) == 1:
            name = names[used[0]] if names else str(used[0])
            return Verdict(f"predicts only '{name}'")
        if bacc is None:
            recalls = [row[i] / max(1, sum(row)) for i, row in enumerate(confusion)]
            bacc = sum(recalls) / k
        if bacc <= 1 / k + MARGIN:
            return Verdict(
                f"no better than chance (balanced accuracy {bacc:.3f}, chance {1 / k:.3f})"
            )
        return None
    return None


def run_verdict(run: Mapping[str, Any]) -> Verdict | None:
    """The verdict on a stored run (a row of `Store.get_run` / `Store.runs`): read from its
    stored evaluation when there is one, else from `test_bacc` and `n_classes`."""
    evaluation = run.get("evaluation")
    if isinstance(evaluation, Mapping) and evaluation.get("confusion"):
        return verdict(
            confusion=evaluation["confusion"],
            bacc=run.get("test_bacc"),
            class_names=evaluation.get("class_names") or run.get("class_names"),
        )
    bacc, k = run.get("test_bacc"), run.get("n_classes")
    if isinstance(bacc, (int, float)) and isinstance(k, int) and k >= 2 and bacc <= 1 / k + MARGIN:
        return _chance(bacc, k)
    return None


def _chance(bacc: float, k: int) -> Verdict:
    return Verdict(f"no better than chance (balanced accuracy {bacc:.3f}, chance {1 / k:.3f})")

"""The final phase of a budgeted search: promote the best trials, train them again on the full
data for as many epochs as the rest of the budget allows, choose the winner on VALIDATION, and
only then read the finalists' test figures, once, with their predicted-vs-actual.

Promotion ranks the complete trials by the validation metric each is expected to reach within
the budget ("accuracy": the low end of its learning curve's prediction at the epochs its own
final run could train in what is left) or by expected PePR on the chosen resource ("pepr": that
over the final run's predicted cost, min-max normalised over the candidates). A trial whose
validation balanced accuracy is within `degenerate.MARGIN` of chance (it collapsed onto one
class) goes last, and is never the winner when another model exists. A trial of the paper's
protocol is the search's reference (space.py: the one recipe without augmentation, which
validation cannot judge): it is measured and listed, but promoted after every searched recipe
and the winner only when nothing else trained.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pepr_desktop.core.scoring.degenerate import MARGIN, run_verdict
from pepr_desktop.core.search.auto.events import COMPLETE, FAILED, STOPPED, TrialRecord
from pepr_desktop.core.search.auto.plan import MIN_FINAL_EPOCHS
from pepr_desktop.core.search.auto.predict import (
    Prediction,
    expected_test,
    predict_final,
    record,
    with_history,
)
from pepr_desktop.core.search.auto.space import is_reference

FILL = 0.97  # share of what is left that the final runs plan to use (the trainer stops early)
FINAL_GRACE = 0.01  # stopped mid-epoch this far past the whole budget (the guard's backstop)


@dataclass
class FinalPlan:
    trial: TrialRecord
    epochs: int
    seconds: float  # budget seconds the run may use (the trainer's own guard)
    prediction: Prediction


def val_degenerate(rec: TrialRecord, n_classes: int) -> str | None:
    """The validation-side verdict: balanced accuracy within MARGIN of chance (1/K)."""
    b = rec.val.get("val_bacc")
    if b is None or n_classes < 2 or b > 1 / n_classes + MARGIN:
        return None
    return (
        f"no better than chance on validation (balanced accuracy {b:.3f}, chance "
        f"{1 / n_classes:.3f})"
    )


def promote(search: Any) -> list[TrialRecord]:
    """The trials in the order they are promoted to the final phase, by what each is expected to
    reach *within the budget*: the low end of its learning curve's prediction at the epochs its
    own final run could train in what is left (an expensive arm gets fewer), or that over the
    run's normalised cost (expected PePR). Each trial's prediction is kept on its record."""
    from pepr_desktop.core.scoring.pepr import pepr_scores

    k = search.info.n_classes
    cands = [t for t in search.trials if t.status == COMPLETE and t.score is not None]
    cands = cands or [t for t in search.trials if t.score is not None]
    left = search.guard.seconds_left(1.0) * FILL
    expected, cost, fits = {}, {}, {}
    for t in cands:
        t.degenerate = val_degenerate(t, k)
        epochs, cost[id(t)] = _fit(search, t, left)
        p = predict(search, t, max(epochs, 1))
        t.predicted = {**p.to_dict(), "final_epochs": epochs}
        fits[id(t)] = epochs >= 1
        # risk-averse: the low end of the interval, so a far extrapolation (a short final run, a
        # short curve) has to earn its place against a measured one
        expected[id(t)] = p.low if p.low is not None else (t.score or 0.0)
    if search.spec.promote == "pepr" and cands:
        res = [t.peak_mem_mb if search.spec.by == "memory" else cost[id(t)] for t in cands]
        scores = pepr_scores([expected[id(t)] for t in cands], res)
        expected = {id(t): s or 0.0 for t, s in zip(cands, scores)}
    return sorted(
        cands,
        key=lambda t: (
            bool(t.degenerate),
            is_reference(t.params),
            not fits[id(t)],
            -expected[id(t)],
            t.number,
        ),
    )


def _untried(search: Any) -> list[TrialRecord]:
    """When no trial fitted the search phase (a tight budget): the first arm with the first seed
    recipe goes straight to the final phase, so the budget still buys a model."""
    from pepr_desktop.core.search.auto.space import recipe_name, seed_points

    if any(t.epochs for t in search.trials):
        return []
    points = seed_points(list(search.arms.values()))
    if not points:
        return []
    arm = search.arms[points[0]["arm"]]
    search.note("no trial fitted the search phase; the first arm went straight to the final")
    return [
        TrialRecord(
            -1,
            "search",
            arm.model,
            arm.image_size,
            recipe_name(points[0]),
            dict(points[0]),
            note="not tried: straight to the final phase",
        )
    ]


def predict(search: Any, t: TrialRecord, epochs: int) -> Prediction:
    """Trial `t`'s learning curve extrapolated to `epochs` on all the training data, corrected
    by the past predictions on this dataset and machine."""
    n_trial = max(1, round(search.n_train * t.data_fraction))
    seen = [(i + 1) * n_trial for i in range(len(t.curve))]
    key = search.spec.val_key
    chance = {"val_bacc": 1 / max(2, search.info.n_classes), "val_auc": 0.5}.get(key)
    p = predict_final(
        key, t.curve, seen, epochs * search.n_train, n_val=search.n_val, chance=chance
    )
    return with_history(p, search.history)


def _fit(search: Any, t: TrialRecord, seconds: float) -> tuple[int, float]:
    """(epochs, budget seconds) of a final run of trial `t` in `seconds`."""
    arm = search.arms[f"{t.model}@{t.image_size}"]
    per = search._final_epoch_s(arm)
    reserve = search.overhead_s + search.n_test * arm.eval_s_per_image * search.load
    epochs = int((seconds - reserve) // per) if per > 0 else 0
    epochs = min(search.spec.max_final_epochs, epochs)
    return epochs, epochs * per + reserve


def plan_finals(search: Any) -> list[FinalPlan]:
    """The winner of the trials trained to as many epochs as fit; the runner-up too when the
    winner reaches `max_final_epochs` and enough is left for `MIN_FINAL_EPOCHS` of it."""
    ranked = search.ranked = promote(search) or _untried(search)
    if not ranked:
        search.note("no trial trained an epoch, so there is nothing to promote")
        return []
    left = search.guard.seconds_left(1.0) * FILL
    epochs, cost = _fit(search, ranked[0], left)
    if epochs < 1:
        search.note("no budget was left to train the best trial again on all the data")
        return []
    plans = [FinalPlan(ranked[0], epochs, cost, predict(search, ranked[0], epochs))]
    if search.spec.finalists > 1 and len(ranked) > 1 and epochs == search.spec.max_final_epochs:
        e2, c2 = _fit(search, ranked[1], left - cost)
        if e2 >= min(MIN_FINAL_EPOCHS, search.spec.max_final_epochs):
            plans.append(FinalPlan(ranked[1], e2, c2, predict(search, ranked[1], e2)))
    return plans


def run_finals(search: Any, plans: list[FinalPlan]) -> None:
    """The planned final runs; then, while what is left still holds `MIN_FINAL_EPOCHS` of the
    next promoted trial (the estimates are cautious), that one too, up to `finalists` runs."""
    for i, plan in enumerate(plans):
        if not _run_final(search, plan, last=i == len(plans) - 1):
            return
    done = {id(p.trial) for p in plans}
    least = min(MIN_FINAL_EPOCHS, search.spec.max_final_epochs)
    for t in getattr(search, "ranked", []):
        if id(t) in done or t.degenerate:
            continue
        if len(search.finals) >= search.spec.finalists:
            return
        epochs, cost = _fit(search, t, search.guard.seconds_left(1.0) * FILL)
        if epochs < least or not _run_final(
            search, FinalPlan(t, epochs, cost, predict(search, t, epochs)), last=True
        ):
            return


def _run_final(search: Any, plan: FinalPlan, *, last: bool) -> bool:
    """Train one final run; False when the search was cancelled before it."""
    search._hold_while_paused()
    if search.control.stopped:
        return False
    t = plan.trial
    arm = search.arms[f"{t.model}@{t.image_size}"]
    rec = TrialRecord(
        t.number,
        "final",
        t.model,
        t.image_size,
        t.recipe,
        t.params,
        epochs_planned=plan.epochs,
        data_fraction=1.0,
    )
    rec.predicted = plan.prediction.to_dict()
    # made now, before any test figure of this search exists; None without past test readings
    te = expected_test(plan.prediction, search.test_gaps)
    rec.predicted["test_expected"] = None if te is None else te.to_dict()
    seconds = search.guard.seconds_left(1.0) if last else plan.seconds
    cfg = search._config(
        arm,
        t.params,
        epochs=plan.epochs,
        fraction=1.0,
        phase="final",
        number=t.number,
        seconds=seconds - search.overhead_s,
    )
    out = search._execute(cfg, search.arrays, rec, grace_share=1.0 + FINAL_GRACE)
    rec.status = COMPLETE if out.status == "finished" else STOPPED if rec.epochs else FAILED
    search._ended(rec)
    return True


def choose_winner(search: Any) -> TrialRecord | None:
    """The best final run on validation (a trial when no final run trained); never a degenerate
    one or the paper's reference when another exists. Reads no test figure."""
    k = search.info.n_classes
    pool = [f for f in search.finals if f.score is not None and f.epochs > 0]
    pool = pool or [t for t in search.trials if t.status == COMPLETE and t.score is not None]
    pool = pool or [t for t in search.trials if t.score is not None]
    if not pool:
        return None
    for r in pool:
        r.degenerate = r.degenerate or val_degenerate(r, k)
    good = [r for r in pool if not r.degenerate] or pool
    good = [r for r in good if not is_reference(r.params)] or good
    return max(good, key=lambda r: (r.score or 0.0, -r.number))


def read_test_once(search: Any) -> None:
    """After the winner is chosen: each final run's test figures, its degenerate verdict (from
    the test confusion matrix), and its predicted vs actual stored in the run's `extra`."""
    for f in search.finals:
        if f.run_id is None:
            continue
        row = search.store.get_run(f.run_id)
        f.test = {k: row.get(k) for k in ("test_acc", "test_bacc", "test_auc")}
        verdict = run_verdict(row)
        if verdict is not None:
            f.degenerate = f"{verdict.label} (test) - likely fix: {verdict.fix}"
        if f.predicted is not None:
            pred = Prediction(**{k: f.predicted[k] for k in Prediction.__dataclass_fields__})
            te = f.predicted.get("test_expected")
            actual_test = row.get("test_" + search.spec.val_key.removeprefix("val_"))
            f.predicted = record(pred, f.score, actual_test, Prediction(**te) if te else None)
            extra = dict(row.get("extra") or {})
            extra["prediction"] = f.predicted
            if f.degenerate:
                extra["degenerate"] = f.degenerate
            search.store.update_run(f.run_id, extra=extra)

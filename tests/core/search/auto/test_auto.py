"""The budgeted search engine on synthetic learning curves: no training, a fake clock and meter.

The executor is a fake that "trains" by replaying a curve per arm (advancing the fake clock by a
fixed time per epoch and reporting a fixed energy), and records a row in the real store, so the
pruner, promotion, the budget guard, the test-split rule and the degenerate rule are exercised by
the real search code in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from pepr_desktop.core.events import EpochEnded
from pepr_desktop.core.search.auto.engine import run_search, storage_path
from pepr_desktop.core.search.auto.events import COMPLETE, PRUNED, SKIPPED, TrialEnded
from pepr_desktop.core.search.auto.runs import RunOutcome, val_point
from pepr_desktop.core.search.auto.space import Arm
from pepr_desktop.core.search.auto.spec import AutoSpec


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@dataclass
class FakeExecutor:
    """Replays `curves[model]` (val metrics per epoch); finals get `tests[model]` as test."""

    store: Any
    clock: FakeClock
    curves: dict[str, list[dict[str, float]]]
    tests: dict[str, dict[str, float]] = field(default_factory=dict)
    epoch_s: float = 5.0
    model_epoch_s: dict[str, float] = field(default_factory=dict)  # per model, else epoch_s
    watts: float | None = 10.0
    overhead_s: float = 1.0
    calls: list[dict[str, Any]] = field(default_factory=list)

    def run(self, cfg, arrays, *, name, extra, control, on_event=None) -> RunOutcome:
        phase = extra["phase"]
        has_test = "test" in arrays.images or "test" in arrays.labels
        self.calls.append({"phase": phase, "model": cfg.model, "test_seen": has_test, "cfg": cfg})
        if phase == "search":
            assert not has_test, "a search trial was handed the test split"
        run_id = self.store.create_run(
            dataset=cfg.dataset,
            model=cfg.model,
            config=cfg.to_dict(),
            extra=extra,
            epochs_planned=cfg.epochs,
        )
        out = RunOutcome(run_id=run_id, status="finished")
        self.clock.t += self.overhead_s
        # (model, augment) keys give one recipe its own curve, else the model's
        curve = self.curves.get((cfg.model, cfg.augment)) or self.curves[cfg.model]
        epoch_s = self.model_epoch_s.get(cfg.model, self.epoch_s)
        for e in range(cfg.epochs):
            metrics = dict(curve[min(e, len(curve) - 1)])
            energy = None if self.watts is None else self.watts * epoch_s
            self.clock.t += epoch_s
            ev = EpochEnded(run_id, e, 0.5, metrics, epoch_s, 100.0, "process_rss", energy)
            out.curve.append(val_point(ev))
            if on_event:
                on_event(run_id, ev)
            if control.stopped:
                out.status, out.reason = "stopped", control.stop_reason
                out.message = f"stopped: {control.stop_reason}"
                break
        if phase == "final":
            self.store.update_run(run_id, **self.tests.get(cfg.model, {}), status=out.status)
        out.wall_s = self.overhead_s + epoch_s * len(out.curve)
        return out


def arm(model: str, step_s: float = 0.25) -> Arm:
    # 582 sample images / 32 = 18 batches: an epoch predicted at ~18 x step_s (+ evaluation)
    return Arm(model, 28, False, step_s=step_s, eval_s_per_image=0.0, memory_mb=100.0)


def planner_of(arms: list[Arm]):
    def plan(*args: Any, **kwargs: Any):
        return list(arms), [{"model": "big", "why": "too slow"}]

    return plan


def curve(*values: float, bacc: list[float] | None = None) -> list[dict[str, float]]:
    bacc = bacc or list(values)
    return [{"val_acc": v, "val_bacc": b, "val_auc": v} for v, b in zip(values, bacc)]


def search(store, spec: AutoSpec, executor: FakeExecutor, arms: list[Arm], events=None):
    return run_search(
        spec,
        store,
        clock=executor.clock,
        executor=executor,
        planner=planner_of(arms),
        emit=None if events is None else events.append,
    )


def test_pruner_stops_bad_curves_and_the_good_arm_wins(store) -> None:
    clock = FakeClock()
    ex = FakeExecutor(
        store,
        clock,
        {
            "good": curve(0.70, 0.85, 0.90),
            "bad": curve(0.55, 0.58, 0.60),
        },
    )
    spec = AutoSpec(
        dataset="sample",
        time_min=10_000,
        pruner="sha",
        max_trials=6,
        seed=1,
        max_final_epochs=4,
        finalists=1,
    )
    events: list = []
    res = search(store, spec, ex, [arm("good"), arm("bad")], events)
    bad = [t for t in res.trials if t.model == "bad"]
    assert bad and all(t.status == PRUNED for t in bad)
    assert all(t.epochs < spec.trial_epochs for t in bad)  # pruned before their last epoch
    good = [t for t in res.trials if t.model == "good"]
    assert good and good[0].status == COMPLETE and good[0].score == pytest.approx(0.90)
    assert res.winner is not None and res.winner.model == "good" and res.winner.phase == "final"
    assert res.winner.epochs == 4
    # one TrialEnded per trial and final, in order; the study lives beside the database
    ended = [e.record for e in events if isinstance(e, TrialEnded)]
    assert len(ended) == len(res.trials) + len(res.finals)
    assert storage_path(store).is_file()
    import optuna

    study = optuna.load_study(study_name=res.search_id, storage=_journal(store))
    states = [t.state.name for t in study.trials]
    assert states.count("PRUNED") == len(bad) and "COMPLETE" in states
    # every trial is a run tagged with its search
    runs = [r for r in store.runs() if (r.get("extra") or {}).get("search") == res.search_id]
    assert len(runs) == len([t for t in res.trials if t.run_id]) + len(res.finals)


def _journal(store):
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    path = str(storage_path(store))
    return JournalStorage(JournalFileBackend(path, lock_obj=JournalFileOpenLock(path)))


def test_promote_by_pepr_prefers_the_cheaper_arm_of_equal_accuracy(store) -> None:
    curves = {"cheap": curve(0.8, 0.9, 0.9), "dear": curve(0.8, 0.9, 0.91)}
    speeds = {"dear": 40.0, "cheap": 4.0}  # measured seconds per epoch
    arms = [arm("dear", step_s=2.0), arm("cheap", step_s=0.2)]
    spec = AutoSpec(
        dataset="sample",
        time_min=10_000,
        pruner="none",
        max_trials=2,
        promote="pepr",
        by="time",
        max_final_epochs=2,
        finalists=1,
    )
    res = search(store, spec, FakeExecutor(store, FakeClock(), curves, model_epoch_s=speeds), arms)
    assert res.winner is not None and res.winner.model == "cheap"
    spec.promote = "accuracy"
    res = search(store, spec, FakeExecutor(store, FakeClock(), curves, model_epoch_s=speeds), arms)
    assert res.winner is not None and res.winner.model == "dear"


def test_time_budget_guard_stops_the_search_with_a_fake_clock(store) -> None:
    clock = FakeClock()
    ex = FakeExecutor(store, clock, {"m": curve(0.7, 0.8, 0.85, 0.86)}, epoch_s=5.0)
    spec = AutoSpec(dataset="sample", time_min=1.0, pruner="none", max_final_epochs=50)
    # predicted epoch ~ 18 x 0.28 s = 5 s, like the fake: 3-epoch trials of ~16 s
    res = search(store, spec, ex, [arm("m", step_s=0.28)])
    spent = res.spent
    assert spent["spent_s"] <= 60 * 1.03 and spent["within_budget"]
    assert spent["spent_s"] >= 60 * 0.7  # the budget is used, not left idle
    ran = [t for t in res.trials if t.epochs]
    assert 1 <= len(ran) <= 2  # 45% of 60 s holds one or two 16 s trials, not more
    assert res.finals and res.finals[0].epochs < 50  # the final run got what was left
    assert "search phase's budget is spent" in res.message or any(
        t.status == SKIPPED for t in res.trials
    )


def test_energy_budget_guard_uses_the_meter(store) -> None:
    from pepr_desktop.core.metering import MeterSettings

    clock = FakeClock()
    # 5 s epochs at 20 W: 100 J each; budget 0.2 Wh = 720 J, about 7 epochs in all
    ex = FakeExecutor(store, clock, {"m": curve(0.7, 0.8, 0.85)}, epoch_s=5.0, watts=20.0)
    spec = AutoSpec(
        dataset="sample",
        energy_wh=0.2,
        pruner="none",
        max_final_epochs=50,
        meter=MeterSettings(idle_baseline_s=0),
    )
    res = search(store, spec, ex, [arm("m", step_s=0.28)])
    spent_j = res.spent["spent_energy_wh"] * 3600
    assert spent_j <= 720 * 1.03 and res.spent["within_budget"]
    epochs = sum(t.epochs for t in res.trials) + sum(f.epochs for f in res.finals)
    assert 3 <= epochs <= 7
    assert res.spent["measured_energy_wh"] == pytest.approx(epochs * 100 / 3600)


def test_test_split_is_never_read_for_the_choice(store) -> None:
    clock = FakeClock()
    # "valbest" is better on validation, worse on test: the winner must still be valbest
    ex = FakeExecutor(
        store,
        clock,
        {"valbest": curve(0.8, 0.9, 0.92), "testbest": curve(0.8, 0.88, 0.90)},
        tests={
            "valbest": {"test_acc": 0.60, "test_bacc": 0.60, "test_auc": 0.6},
            "testbest": {"test_acc": 0.99, "test_bacc": 0.99, "test_auc": 0.99},
        },
    )
    spec = AutoSpec(
        dataset="sample",
        time_min=10_000,
        pruner="none",
        max_trials=2,
        max_final_epochs=2,
        finalists=2,
    )
    res = search(store, spec, ex, [arm("valbest"), arm("testbest")])
    assert [c["test_seen"] for c in ex.calls if c["phase"] == "search"] == [False, False]
    assert {c["model"] for c in ex.calls if c["phase"] == "final"} == {"valbest", "testbest"}
    assert res.winner is not None and res.winner.model == "valbest"
    assert res.winner.test == {"test_acc": 0.60, "test_bacc": 0.60, "test_auc": 0.6}
    d = res.to_dict()
    assert d["test_split_used_for_choice"] is False and d["winner"]["test_acc"] == 0.60
    # predicted vs actual is recorded on the final runs
    row = store.get_run(res.winner.run_id)
    assert row["extra"]["prediction"]["actual_val"] == pytest.approx(0.90)  # epoch 2 of 2
    assert row["extra"]["prediction"]["actual_test"] == pytest.approx(0.60)


def test_a_degenerate_model_is_not_the_winner_when_another_exists(store) -> None:
    clock = FakeClock()
    # "majority" always answers the majority class: high accuracy, balanced accuracy 0.5
    ex = FakeExecutor(
        store,
        clock,
        {
            "majority": curve(0.74, 0.75, 0.75, bacc=[0.5, 0.5, 0.5]),
            "model": curve(0.65, 0.70, 0.72, bacc=[0.6, 0.68, 0.70]),
        },
    )
    spec = AutoSpec(
        dataset="sample",
        time_min=10_000,
        metric="acc",
        pruner="none",
        max_trials=2,
        max_final_epochs=2,
        finalists=1,
    )
    res = search(store, spec, ex, [arm("majority"), arm("model")])
    majority = next(t for t in res.trials if t.model == "majority")
    assert majority.score == pytest.approx(0.75) and "chance" in (majority.degenerate or "")
    assert res.winner is not None and res.winner.model == "model"


def test_the_paper_protocol_is_measured_but_not_the_winner(store) -> None:
    # the un-augmented paper recipe looks best on validation (as it can on shifted data)
    curves = {"m": curve(0.80, 0.85, 0.88), ("m", "none"): curve(0.85, 0.90, 0.93)}
    ex = FakeExecutor(store, FakeClock(), curves)
    spec = AutoSpec(
        dataset="sample",
        time_min=10_000,
        pruner="none",
        max_trials=6,
        max_final_epochs=2,
        finalists=1,
    )
    res = search(store, spec, ex, [arm("m")])
    # enqueued once as the reference; the sampler never draws it again
    assert [t.recipe for t in res.trials].count("paper protocol") == 1
    assert len([t for t in res.trials if t.run_id]) >= 5
    paper = next(t for t in res.trials if t.recipe == "paper protocol")
    assert paper.run_id is not None and paper.score == pytest.approx(0.93)  # measured, listed
    assert max(t.score or 0 for t in res.trials if t is not paper) < paper.score
    assert res.winner is not None and res.winner.recipe != "paper protocol"
    assert all(f.recipe != "paper protocol" for f in res.finals)
    assert all(c["cfg"].augment == "light" for c in ex.calls if c["phase"] == "final")


def test_bad_specs_are_user_errors_before_anything_runs(store) -> None:
    from pepr_desktop.core.errors import UserError

    for spec, words in (
        (AutoSpec(dataset="sample"), "needs a budget"),
        (AutoSpec(dataset="sample", time_min=1, metric="f1"), "metric"),
        (AutoSpec(dataset="sample", energy_wh=1), "metering"),
        (AutoSpec(dataset="sample", time_min=-1), "time budget"),
        (AutoSpec(dataset="sample", time_min=1, search_share=1.5), "share"),
    ):
        with pytest.raises(UserError, match=words):
            run_search(spec, store)
    assert store.runs() == []


def test_cancel_ends_the_search_with_what_it_has(store) -> None:
    from pepr_desktop.core.training.config import Control

    clock = FakeClock()
    ex = FakeExecutor(store, clock, {"m": curve(0.7, 0.8, 0.85)})
    control = Control()

    def cancel_after_first_trial(ev) -> None:
        if isinstance(ev, TrialEnded):
            control.stop("user")

    spec = AutoSpec(dataset="sample", time_min=10_000, pruner="none", max_trials=5)
    res = run_search(
        spec,
        store,
        control=control,
        emit=cancel_after_first_trial,
        clock=clock,
        executor=ex,
        planner=planner_of([arm("m")]),
    )
    assert res.cancelled and len(res.trials) == 1 and res.finals == []
    assert res.winner is res.trials[0]  # the best trial so far; its test split was never read
    assert res.to_dict()["winner"]["test_acc"] is None


def test_a_tight_budget_takes_a_shorter_first_look_and_still_trains_a_final(store) -> None:
    clock = FakeClock()
    ex = FakeExecutor(store, clock, {"m": curve(0.7, 0.8, 0.85)}, epoch_s=5.0)
    spec = AutoSpec(dataset="sample", time_min=0.5, pruner="none")  # search phase: 13.5 s
    res = search(store, spec, ex, [arm("m", step_s=0.28)])
    assert res.trials[0].epochs_planned == 2 and res.trials[0].epochs == 2  # 3 would not fit
    assert res.finals and res.winner is not None and res.winner.phase == "final"
    assert res.spent["spent_s"] <= 30 * 1.03


def test_small_images_are_also_tried_upscaled() -> None:
    """28 px images get a 56 px arm; 8 px images (sklearn's digits) 16 and 32 px; 64 px none."""
    from pepr_desktop.core.search.auto.space import upscaled_sizes

    assert upscaled_sizes(28) == [56]
    assert upscaled_sizes(8) == [16, 32]
    assert upscaled_sizes(16) == [32, 64]
    assert upscaled_sizes(64) == [] and upscaled_sizes(224) == []


def test_a_later_search_expects_the_test_figure_from_the_earlier_ones_gaps(store) -> None:
    def one():
        ex = FakeExecutor(
            store,
            FakeClock(),
            {"valbest": curve(0.8, 0.9, 0.92), "testbest": curve(0.8, 0.88, 0.90)},
            tests={
                "valbest": {"test_acc": 0.60, "test_bacc": 0.60, "test_auc": 0.6},
                "testbest": {"test_acc": 0.99, "test_bacc": 0.99, "test_auc": 0.99},
            },
        )
        spec = AutoSpec(dataset="sample", time_min=10_000, pruner="none", max_trials=2,
                        max_final_epochs=2, finalists=2)  # fmt: skip
        return search(store, spec, ex, [arm("valbest"), arm("testbest")])

    first = one()
    assert all(f.predicted["test_expected"] is None for f in first.finals)  # no history: unknown
    gaps = [f.predicted["actual_test"] - f.predicted["actual_val"] for f in first.finals]
    second = one()
    w = second.winner
    assert w is not None and w.predicted["test_expected"] is not None
    shift = sorted(gaps)[0] + (sorted(gaps)[1] - sorted(gaps)[0]) / 2  # the median of two
    assert w.predicted["test_expected"]["value"] == pytest.approx(
        max(0.0, min(1.0, w.predicted["value"] + shift))
    )
    assert w.predicted["error_test"] == pytest.approx(
        w.predicted["actual_test"] - w.predicted["test_expected"]["value"]
    )
    stored = store.get_run(w.run_id)["extra"]["prediction"]
    assert stored["test_expected"]["metric"] == "test_bacc"

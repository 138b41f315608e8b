"""`pepr auto`: the budgeted search for the best model on this machine, by measuring.

    result = run_search(AutoSpec(dataset="pneu", time_min=10), store, control=Control(),
                        emit=print)

1. **Plan**: the recommender's cost probe over a pool of models, at the images' size and (small
   images) upscaled, keeps the arms whose final run fits what the budget leaves for it
   (core/search/auto/plan.py).
2. **Search** (a share of the budget, `search_share`): an Optuna study (TPE sampler, Hyperband or
   successive-halving pruner, stored as a journal file in the database's files folder) over arm x
   recipe (core/search/auto/space.py). Every trial is a real run in the store, tagged with the
   search (`config.extra` and `runs.extra`: search, trial, phase) and trained on a copy of the
   data WITHOUT the test split; each epoch's validation metric is reported to the pruner. Before
   a trial the guard estimates its cost (probe, then the measured speed) and skips it when it
   would not fit (core/search/auto/guard.py). On CUDA (or with `concurrency` N asked for) up to
   N trials run at once, each in a worker process (core/sweeps/concurrent.py: N from the probe's
   memory figure and the free memory); a trial is asked for whenever a slot is free, each is
   pruned and stopped on its own, this process still records every run, and their energy is
   labelled shared (the guard counts an epoch shared by N trials once, not N times).
3. **Final**: the best trials (by the validation metric, or by expected PePR on `by`; never a
   model that collapsed onto one class when another exists) are trained again on the full data
   for as many epochs as what is left allows; the winner is the best final run on VALIDATION.
   Only then are the finalists' test figures read, once, with the predicted-vs-actual of their
   learning-curve prediction (core/search/auto/predict.py).

The whole search stays within its budget plus 3 %; `control` (a `Control`) pauses and cancels it
from another thread; `emit` receives the typed events of core/search/auto/events.py.
"""

from __future__ import annotations

import json
import logging
import math
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pepr_desktop.core.errors import UserError
from pepr_desktop.core.events import BatchEnded, EpochEnded
from pepr_desktop.core.search.auto.events import (
    COMPLETE,
    FAILED,
    PRUNED,
    SKIPPED,
    STOPPED,
    SearchFinished,
    SearchPlanned,
    TrialEnded,
    TrialEpoch,
    TrialProgress,
    TrialRecord,
    TrialStarted,
)
from pepr_desktop.core.search.auto.guard import TOLERANCE, BudgetGuard, Cost
from pepr_desktop.core.search.auto.spec import AutoSpec
from pepr_desktop.core.training.config import Control, TrainConfig

log = logging.getLogger(__name__)

TRIAL_IMAGES = 2000  # a trial trains on about this many images per epoch (all when fewer)
MAX_SKIPS = 4  # consecutive trials that did not fit: the search phase is over
SEARCH_GRACE = 0.05  # a trial may run this share of the budget past the search phase's end
DEFAULT_OVERHEAD_S = 3.0  # model build, first step, closing a run: until measured
STORAGE = Path("searches") / "optuna.journal"
MAX_CONCURRENT = 64  # trials at once at most (memory and CPU cores usually bind first)


class RunControl:
    """The Control a search's run trains under: the user's pause and stop (paused seconds do not
    count against the budget) and the search's own stop (pruned, budget)."""

    def __init__(self, user: Any, guard: BudgetGuard) -> None:
        self.user = user
        self.guard = guard
        self.own = Control()

    def stop(self, reason: str = "user") -> None:
        self.own.stop(reason)

    @property
    def stopped(self) -> bool:
        return self.own.stopped or self.user.stopped

    @property
    def stop_reason(self) -> str:
        return self.own.stop_reason or self.user.stop_reason

    @property
    def paused(self) -> bool:
        return self.user.paused

    def wait_while_paused(self) -> float:
        s = self.user.wait_while_paused()
        self.guard.paused_s += s
        return s


@dataclass
class AutoResult:
    """Everything a search did: every trial (skipped and pruned ones too), the final runs, the
    winner (None when nothing trained) and what was spent."""

    search_id: str
    spec: AutoSpec
    spent: dict[str, Any]
    arms: list[dict[str, Any]]
    skipped_models: list[dict[str, str]]
    trials: list[TrialRecord]
    finals: list[TrialRecord]
    winner: TrialRecord | None
    storage: str
    message: str
    cancelled: bool = False
    past_error: dict[str, Any] = field(default_factory=dict)

    def leaderboard(self) -> list[TrialRecord]:
        """Finals first (best on validation first), then the trials, best first."""

        def key(r: TrialRecord) -> tuple:
            return (r.score is None, -(r.score or 0.0), r.number)

        return sorted(self.finals, key=key) + sorted(self.trials, key=key)

    def to_dict(self) -> dict[str, Any]:
        from pepr_desktop.core.search.auto.report import result_dict

        return result_dict(self)


def storage_path(store: Any) -> Path:
    """The Optuna journal of every search on this database: beside its runs."""
    return Path(store.data_dir) / STORAGE


def new_search_id() -> str:
    return "auto-" + time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


def run_search(
    spec: AutoSpec,
    store: Any,
    *,
    control: Any = None,
    emit: Callable[[Any], None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
    executor: Any = None,
    planner: Callable[..., Any] | None = None,
) -> AutoResult:
    """Run the budgeted search `spec` on `store` (a `Store` or the GUI's `RemoteStore`).

    `control` pauses/cancels it (a `Control`), `emit` receives its events. `clock`, `executor`
    (a `RunExecutor`-like object) and `planner` (`plan_arms`-like) are for tests. User mistakes
    raise `UserError` before any run is created."""
    spec.validate()
    return _Search(spec, store, control or Control(), emit, clock, executor, planner).run()


class _Search:
    def __init__(
        self,
        spec: AutoSpec,
        store: Any,
        control: Any,
        emit: Callable[[Any], None] | None,
        clock: Callable[[], float],
        executor: Any,
        planner: Callable[..., Any] | None,
    ) -> None:
        from pepr_desktop.core.devices import resolve_device

        self.spec, self.store, self.control = spec, store, control
        self._emit_fn, self.clock = emit, clock
        self.device = resolve_device(spec.device)
        self.guard = BudgetGuard(spec.budget, power_w=_power(self.device), clock=clock)
        self.executor, self.planner = executor, planner
        self.search_id = new_search_id()
        self.trials: list[TrialRecord] = []
        self.finals: list[TrialRecord] = []
        self.arms: dict[str, Any] = {}
        self.skipped: list[dict[str, str]] = []
        self.speed: dict[str, float] = {}  # arm key -> measured / predicted epoch seconds
        self.load = 1.0  # the same ratio over every arm run so far
        self.overhead_s = DEFAULT_OVERHEAD_S
        self.skips = 0
        self.message = ""
        self.pool: Any = None  # trial workers started early (`_early_pool`)

    def note(self, text: str) -> None:
        """Add one sentence to the search's closing message."""
        self.message = f"{self.message}; {text}" if self.message else text

    # ------------------------------------------------------------------ running

    def run(self) -> AutoResult:
        self._load()
        ray_connected = self._connect_ray()
        try:
            self.pool = self._early_pool()
            self._plan()
            study = self._study()
            self._search_phase(study)
            self._hold_while_paused()
            if not self.control.stopped:
                self._final_phase()
        finally:
            if self.pool is not None:
                self.pool.close()
            if ray_connected:
                import ray

                ray.shutdown()
        result = self._result()
        self._emit(SearchFinished(self.search_id, self.guard.to_dict(), result))
        return result

    def _emit(self, event: Any) -> None:
        if self._emit_fn is not None:
            self._emit_fn(event)

    def _load(self) -> None:
        from pepr_desktop.core.data import registry as datasets
        from pepr_desktop.core.search.auto.runs import RunExecutor
        from pepr_desktop.core.search.tune import without_test

        self.info = datasets.resolve(self.spec.dataset, self.store)
        self.arrays = datasets.load(self.info)
        self.search_arrays = without_test(self.arrays)  # what every trial sees: no test split
        self.n_train = len(self.arrays.labels["train"])
        self.n_val = len(self.arrays.labels["val"])
        # the test split's size only (its final-run evaluation costs time); never its content
        self.n_test = len(self.arrays.labels["test"]) if "test" in self.arrays.labels else 0
        from pepr_desktop.core.search.auto.predict import past_errors, past_gaps

        earlier = self.store.runs(dataset=self.spec.dataset)
        self.history = past_errors(earlier, host=_host(), metric=self.spec.val_key)
        self.test_gaps = past_gaps(earlier, host=_host(), metric=self.spec.val_key)
        frac = self.spec.trial_fraction
        self.trial_fraction = frac or min(1.0, max(0.25, TRIAL_IMAGES / max(self.n_train, 1)))
        if self.executor is None:
            self.executor = RunExecutor(
                self.store,
                self.info,
                meter_settings=self.spec.meter,
                backend=self.spec.backend,
                address=self.spec.address,
                num_cpus=self.spec.num_cpus,
                num_gpus=self.spec.num_gpus,
            )

    def _connect_ray(self) -> bool:
        if self.spec.backend != "ray":
            return False
        from pepr_desktop.core.sweeps import ray_backend

        return ray_backend.connect(self.spec.address)  # once: every trial reuses it

    def _base(self) -> TrainConfig:
        return TrainConfig(
            dataset=self.spec.dataset,
            model="",
            batch_size=self.spec.batch_size,
            seed=self.spec.seed,
            device=self.spec.device,
            checkpoint=False,
            **self.spec.fast_path,  # the probe (plan) and every run train alike
        )

    def _plan(self) -> None:
        from pepr_desktop.core.search.auto.plan import (
            PROBE_MAX_S,
            PROBE_MIN_S,
            PROBE_SHARE,
            plan_arms,
        )

        if self.spec.models and self.spec.models != ["catalogue"]:
            from pepr_desktop.core.models.build import check_model_name

            for name in self.spec.models:
                check_model_name(name)  # an unknown name is the user's to fix, before probing
        left = self.guard.seconds_left()
        probe_s = min(PROBE_MAX_S, max(PROBE_MIN_S, PROBE_SHARE * left))
        arms, self.skipped = (self.planner or plan_arms)(
            self.info,
            self.store,
            self._base(),
            final_seconds=left * (1 - self.spec.search_share),
            memory_mb=self.spec.memory_mb,
            models=self.spec.models,
            by=self.spec.by,
            upscale=self.spec.upscale,
            probe_seconds=probe_s,
            power_w=self.guard.power_w,
            should_stop=lambda: self.control.stopped,
        )
        if not arms:
            why = "; ".join(f"{s['model']}: {s['why']}" for s in self.skipped[:3])
            raise UserError(
                f"no model fits {self.spec.budget.describe()} on this machine"
                + (f" ({why})" if why else "")
                + "; widen the budget or give other --models."
            )
        self.arms = {a.key: a for a in arms}
        self._emit(
            SearchPlanned(
                self.search_id,
                self.guard.to_dict(),
                [a.to_dict() for a in arms],
                self.skipped,
                str(storage_path(self.store)),
                f"{len(arms)} arm(s) fit: " + ", ".join(self.arms),
            )
        )

    def _study(self) -> Any:
        import optuna
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

        from pepr_desktop.core.search.auto.space import seed_points

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        path = storage_path(self.store)
        path.parent.mkdir(parents=True, exist_ok=True)
        # the open-file lock works everywhere (the default symlink lock needs rights on Windows)
        backend = JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path)))
        seeds = seed_points(list(self.arms.values()))
        study = optuna.create_study(
            storage=JournalStorage(backend),
            study_name=self.search_id,
            direction="maximize",
            sampler=optuna.samplers.TPESampler(
                seed=self.spec.seed, n_startup_trials=max(4, len(seeds))
            ),
            pruner=self._pruner(),
        )
        study.set_user_attr("dataset", self.spec.dataset)
        study.set_user_attr("metric", self.spec.val_key)
        study.set_user_attr("budget", self.spec.budget.describe())
        for point in seeds:
            study.enqueue_trial(point)
        return study

    def _pruner(self) -> Any:
        import optuna

        if self.spec.pruner == "none":
            return optuna.pruners.NopPruner()
        if self.spec.pruner == "sha":
            return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
        return optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=self.spec.trial_epochs, reduction_factor=3
        )

    # ------------------------------------------------------------------ costs

    def _epoch_s(self, arm: Any, train_images: int, eval_images: int) -> float:
        ratio = self.speed.get(arm.key, self.load)
        return arm.epoch_s(train_images, eval_images, self.spec.batch_size) * ratio

    def _trial_cost(self, arm: Any, epochs: int | None = None) -> Cost:
        n = max(1, round(self.n_train * self.trial_fraction))
        per_epoch = self._epoch_s(arm, n, self.n_val)
        epochs = self.spec.trial_epochs if epochs is None else epochs
        return Cost(epochs * per_epoch + self.overhead_s, arm.memory_mb)

    def _first_look(self) -> bool:
        """No trial has trained yet: on a tight budget the first one may be shorter."""
        return not any(t.epochs for t in self.trials)

    def _final_epoch_s(self, arm: Any) -> float:
        return self._epoch_s(arm, self.n_train, self.n_val + self.n_test)

    def _learn(self, arm: Any, cfg: TrainConfig, curve: list[dict], wall_s: float) -> None:
        """Correct the probe's speed by what the run measured (the machine's load changes)."""
        if not curve:
            return
        train = max(1, round(self.n_train * cfg.data_fraction))
        final = cfg.extra.get("phase") == "final"  # final runs also evaluate the test split
        evals = self.n_val + (self.n_test if final else 0)
        predicted = arm.epoch_s(train, evals, self.spec.batch_size)
        measured = sum(p["seconds"] for p in curve) / len(curve)
        if predicted > 0:
            ratio = measured / predicted
            first = not self.speed
            self.speed[arm.key] = ratio
            self.load = ratio if first else 0.5 * self.load + 0.5 * ratio
        rest = wall_s - sum(p["seconds"] for p in curve)
        self.overhead_s = max(0.5, 0.5 * self.overhead_s + 0.5 * rest)

    # ------------------------------------------------------------------ one run

    def _config(
        self,
        arm: Any,
        params: dict,
        *,
        epochs: int,
        fraction: float,
        phase: str,
        number: int,
        seconds: float,
    ) -> TrainConfig:
        from pepr_desktop.core.search.auto.space import overrides

        cfg = replace(
            self._base(),
            model=arm.model,
            image_size=arm.image_size if arm.image_size != self.info.image_size else None,
            pretrained=arm.pretrained,
            epochs=epochs,
            data_fraction=fraction,
            budget_time_min=max(seconds, 1.0) / 60,  # the trainer stops before overrunning it
            budget_memory_mb=self.spec.memory_mb,
            extra={"search": self.search_id, "trial": number, "phase": phase},
            **overrides(params),
        )
        return cfg.validate()

    def _execute(
        self,
        cfg: TrainConfig,
        arrays: Any,
        rec: TrialRecord,
        *,
        grace_share: float,
        trial: Any = None,
    ) -> Any:
        """Train one run, reporting epochs to the pruner and keeping the budget."""
        rc = RunControl(self.control, self.guard)
        on_event = self._watcher(cfg, rec, rc, grace_share=grace_share, trial=trial)
        self._started(rec, cfg)
        name, extra = _run_name(self, rec), _run_extra(cfg, rec)
        out = self.executor.run(cfg, arrays, name=name, extra=extra, control=rc, on_event=on_event)
        self._settle(rec, cfg, out)
        return out

    def _watcher(
        self, cfg: TrainConfig, rec: TrialRecord, rc: RunControl, *, grace_share: float, trial: Any
    ) -> Callable[[int, Any], None]:
        """What sees each stored event of a run: the guard, the pruner, the progress events."""
        last_tick = [self.clock()]
        key = self.spec.val_key

        def on_event(run_id: int, ev: Any) -> None:
            if isinstance(ev, EpochEnded):
                # N trials at once each metered the whole device: 1/N of it is this epoch's
                shared = int(ev.extra.get("energy_shared_by") or 1)
                self.guard.add_epoch(ev.seconds, ev.energy_j, ev.peak_mem_mb, shared_by=shared)
                val = {k: v for k, v in ev.metrics.items() if k.startswith("val_")}
                self._emit(
                    TrialEpoch(
                        self.search_id,
                        self.guard.to_dict(),
                        rec.number,
                        rec.phase,
                        run_id,
                        ev.epoch,
                        val,
                        ev.seconds,
                        ev.energy_j,
                    )
                )
                if trial is not None:
                    value = val.get(key)
                    trial.report(math.nan if value is None else float(value), ev.epoch + 1)
                    if ev.epoch + 1 < cfg.epochs and trial.should_prune():
                        rc.stop("pruned")
            elif isinstance(ev, BatchEnded) and self.clock() - last_tick[0] >= 1.0:
                last_tick[0] = self.clock()
                self._emit(
                    TrialProgress(
                        self.search_id,
                        self.guard.to_dict(),
                        rec.number,
                        rec.phase,
                        run_id,
                        ev.epoch,
                        ev.batch,
                        ev.batches,
                    )
                )
            if self.guard.fraction_spent() > grace_share and not rc.stopped:
                rc.stop("budget")

        return on_event

    def _started(self, rec: TrialRecord, cfg: TrainConfig) -> None:
        self._emit(
            TrialStarted(
                self.search_id,
                self.guard.to_dict(),
                rec.number,
                rec.phase,
                rec.model,
                rec.image_size,
                rec.recipe,
                cfg.epochs,
            )
        )

    def _settle(self, rec: TrialRecord, cfg: TrainConfig, out: Any) -> None:
        """A run's figures into its record, and its measured speed into the cost model."""
        _fill(rec, out, self.spec.val_key)
        self._learn(self.arms[f"{rec.model}@{rec.image_size}"], cfg, out.curve, out.wall_s)

    # ------------------------------------------------------------------ the search phase

    def _search_phase(self, study: Any) -> None:
        from pepr_desktop.core.search.auto.space import distributions

        dists = distributions(list(self.arms.values()))
        n = self._concurrency()
        if n > 1:
            self._search_concurrently(study, dists, n)
            return
        if self.pool is not None:  # asked for N, but only one fits
            self.pool.close()
            self.pool = None
        while not self.control.stopped:
            self._hold_while_paused()
            why = self._why_no_more(in_flight=0)
            if why:
                self.note(why)
                break
            if not self._trial(study, dists):
                self.note(f"{MAX_SKIPS} trials in a row did not fit what was left")
                break

    def _why_no_more(self, in_flight: int) -> str:
        """Why the search phase asks for no further trial ('' when it may)."""
        if (
            self.spec.max_trials is not None
            and len(self.trials) + in_flight >= self.spec.max_trials
        ):
            return f"the search tried its {self.spec.max_trials} trials"
        fewest = 1 if self._first_look() else None
        cheapest = min(self._trial_cost(a, fewest).seconds for a in self.arms.values())
        if cheapest > self.guard.seconds_left(self.spec.search_share):
            return "the search phase's budget is spent"
        return ""

    def _trial(self, study: Any, dists: dict) -> bool:
        prepared = self._next_trial(study, dists)
        if prepared is None:
            return self.skips < MAX_SKIPS
        trial, rec, cfg = prepared
        out = self._execute(
            cfg,
            self.search_arrays,
            rec,
            grace_share=self.spec.search_share + SEARCH_GRACE,
            trial=trial,
        )
        self._told(study, trial, rec, out)
        return True

    def _next_trial(self, study: Any, dists: dict) -> tuple[Any, TrialRecord, TrainConfig] | None:
        """Ask the study for a trial and size it; None when it does not fit (told, recorded)."""
        from optuna.trial import TrialState

        from pepr_desktop.core.search.auto.space import for_next_trial, recipe_name

        waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        fixed = waiting[0].system_attrs.get("fixed_params") if waiting else None
        trial = study.ask(for_next_trial(dists, fixed))  # ask takes the first waiting trial
        params = dict(trial.params)
        arm = self.arms[params["arm"]]
        share = self.spec.search_share
        epochs = self.spec.trial_epochs
        while (
            self._first_look()
            and epochs > 1
            and self.guard.why_not(self._trial_cost(arm, epochs), share)
        ):
            epochs -= 1  # a shorter first look rather than none
        rec = TrialRecord(
            trial.number,
            "search",
            arm.model,
            arm.image_size,
            recipe_name(params),
            params,
            epochs_planned=epochs,
            data_fraction=self.trial_fraction,
        )
        why = self.guard.why_not(self._trial_cost(arm, epochs), share)
        if why:
            rec.status, rec.note = SKIPPED, f"skipped: {why}"
            trial.set_user_attr("skipped", why)
            study.tell(trial, state=TrialState.FAIL)
            self._ended(rec)
            self.skips += 1
            return None
        self.skips = 0
        seconds = self.guard.seconds_left(self.spec.search_share + SEARCH_GRACE / 2)
        cfg = self._config(
            arm,
            params,
            epochs=epochs,
            fraction=self.trial_fraction,
            phase="search",
            number=trial.number,
            seconds=seconds - self.overhead_s,
        )
        return trial, rec, cfg

    def _told(self, study: Any, trial: Any, rec: TrialRecord, out: Any) -> None:
        """The study learns how a trial ended; the search records it."""
        from optuna.trial import TrialState

        if out.reason == "pruned":
            rec.status = PRUNED
            study.tell(trial, state=TrialState.PRUNED)
        elif out.status == "finished" and rec.score is not None:
            rec.status = COMPLETE
            study.tell(trial, rec.score)
        elif rec.epochs and out.status == "stopped":
            rec.status = STOPPED
            study.tell(trial, state=TrialState.PRUNED)  # incomplete: not a finished value
        else:
            rec.status = FAILED
            study.tell(trial, state=TrialState.FAIL)
        self._ended(rec)

    # ------------------------------------------------------------------ trials at once

    def _concurrency(self) -> int:
        """Trials at once in the search phase: the spec's N, or on CUDA as many as the probe's
        memory figure (the largest arm's) allows in the free memory; 1 on the CPU unless asked
        (its cores are what trials would share), on Ray, and with an executor of one run."""
        from pepr_desktop.core.sweeps.concurrent import choose_concurrency

        if self.spec.backend != "local" or not hasattr(self.executor, "concurrent"):
            return 1
        requested = self.spec.concurrency or None
        if requested is None and not self.device.startswith("cuda"):
            return 1
        mems = [a.memory_mb for a in self.arms.values() if a.memory_mb is not None]
        return choose_concurrency(
            self.spec.max_trials or MAX_CONCURRENT,
            self.device,
            mem_per_trial_mb=max(mems) if mems else None,
            requested=requested,
        )

    def _early_pool(self) -> Any:
        """With N trials at once asked for, their workers start before the probe, so that their
        start-up (importing torch and timm, a CUDA context: seconds each) overlaps it."""
        n = self.spec.concurrency
        if n < 2 or self.spec.backend != "local" or not hasattr(self.executor, "concurrent"):
            return None
        runs = self.executor.concurrent(min(n, os.cpu_count() or 1), self.search_arrays)
        runs.warm()
        return runs

    def _search_concurrently(self, study: Any, dists: dict, n: int) -> None:
        """The search phase with up to `n` trials in flight: a trial is asked for whenever a
        slot is free and it fits what is left; each is pruned and guarded on its own."""
        runs, self.pool = self.pool or self.executor.concurrent(n, self.search_arrays), None
        runs.resize(n)
        flights: dict[int, tuple[Any, TrialRecord, TrainConfig]] = {}
        asking = True
        self.note(f"up to {n} trials ran at once (their energy figures are the device's, shared)")
        try:
            while True:
                self._hold_flights(runs)
                while asking and runs.free > 0 and not self.control.stopped:
                    asking = self._launch(study, dists, runs, flights)
                if not flights:
                    break
                for number, out in runs.poll():
                    trial, rec, cfg = flights.pop(number)
                    self.guard.in_flight = len(flights)
                    self._settle(rec, cfg, out)
                    self._told(study, trial, rec, out)
        finally:
            runs.close()
            self.guard.in_flight = 0

    def _launch(self, study: Any, dists: dict, runs: Any, flights: dict) -> bool:
        """Start the next trial in a free slot; False once the search phase asks for no more."""
        why = self._why_no_more(in_flight=len(flights))
        if why:
            self.note(why)
            return False
        prepared = self._next_trial(study, dists)
        if prepared is None:
            if self.skips >= MAX_SKIPS:
                self.note(f"{MAX_SKIPS} trials in a row did not fit what was left")
                return False
            return True
        trial, rec, cfg = prepared
        rc = RunControl(self.control, self.guard)
        grace = self.spec.search_share + SEARCH_GRACE
        on_event = self._watcher(cfg, rec, rc, grace_share=grace, trial=trial)
        self._started(rec, cfg)
        name, extra = _run_name(self, rec), _run_extra(cfg, rec)
        runs.start(trial.number, cfg, name=name, extra=extra, control=rc, on_event=on_event)
        flights[trial.number] = (trial, rec, cfg)
        self.guard.in_flight = len(flights)
        return True

    def _hold_flights(self, runs: Any) -> None:
        """A pause holds every trial in flight (each in its process) and the search."""
        if self.control.paused:
            runs.pause(True)
            self.guard.paused_s += self.control.wait_while_paused()
            runs.pause(False)

    def _hold_while_paused(self) -> None:
        """A pause between runs holds the search too; paused seconds are not spent."""
        if self.control.paused:
            self.guard.paused_s += self.control.wait_while_paused()

    def _ended(self, rec: TrialRecord) -> None:
        (self.finals if rec.phase == "final" else self.trials).append(rec)
        done = [t for t in self.trials if t.status == COMPLETE and t.score is not None]
        best = max(done, key=lambda t: t.score or 0.0) if done else None
        self._emit(TrialEnded(self.search_id, self.guard.to_dict(), rec, best))

    # ------------------------------------------------------------------ the final phase

    def _final_phase(self) -> None:
        from pepr_desktop.core.search.auto.final import plan_finals, run_finals

        plans = plan_finals(self)
        run_finals(self, plans)

    def _result(self) -> AutoResult:
        from pepr_desktop.core.search.auto.final import choose_winner, read_test_once
        from pepr_desktop.core.search.auto.predict import past_error
        from pepr_desktop.core.search.auto.report import score_trials

        winner = choose_winner(self)
        read_test_once(self)
        score_trials(self.trials, self.spec.by)
        previous = [
            r
            for r in self.store.runs(dataset=self.spec.dataset)
            if (r.get("extra") or {}).get("search") != self.search_id
        ]
        result = AutoResult(
            search_id=self.search_id,
            spec=self.spec,
            spent=self.guard.to_dict(),
            arms=[a.to_dict() for a in self.arms.values()],
            skipped_models=self.skipped,
            trials=self.trials,
            finals=self.finals,
            winner=winner,
            storage=str(storage_path(self.store)),
            message=self.message or ("cancelled" if self.control.stopped else ""),
            cancelled=bool(self.control.stopped),
            past_error=past_error(previous, host=_host()),
        )
        _save_summary(self.store, result)
        return result


def _run_name(search: _Search, rec: TrialRecord) -> str:
    return f"{search.search_id} {rec.phase} {rec.number}"


def _run_extra(cfg: TrainConfig, rec: TrialRecord) -> dict[str, Any]:
    return dict(cfg.extra, recipe=rec.recipe, params=rec.params)


def _fill(rec: TrialRecord, out: Any, key: str) -> None:
    """A record's figures from its run's outcome (validation only)."""
    rec.run_id, rec.host = out.run_id, out.host
    rec.epochs = out.epochs
    rec.seconds = out.wall_s
    rec.curve = [p.get(key) for p in out.curve]
    if out.curve:
        rec.val = {k: v for k, v in out.curve[-1].items() if k.startswith("val_")}
        rec.score = rec.val.get(key)
        energies = [p.get("energy_j") for p in out.curve]
        if all(e is not None for e in energies):
            rec.energy_wh = sum(energies) / 3600  # type: ignore[arg-type]
        mems = [p["peak_mem_mb"] for p in out.curve if p.get("peak_mem_mb") is not None]
        rec.peak_mem_mb = max(mems) if mems else None
    if out.status != "finished":
        rec.note = out.message


def _power(device: str) -> float | None:
    try:
        from pepr_desktop.core.search.power import power_estimate

        return power_estimate(device)[0]
    except Exception:  # a missing figure only means the energy guard uses measured watts
        log.debug("no power estimate for %s", device, exc_info=True)
        return None


def _host() -> str:
    import socket

    return socket.gethostname()


def _save_summary(store: Any, result: AutoResult) -> None:
    """The search's result as JSON beside its study, so it can be shown again offline."""
    try:
        path = storage_path(store).parent / f"{result.search_id}.json"
        path.write_text(json.dumps(result.to_dict(), indent=1, default=str))
    except OSError as exc:  # the runs are stored; a missing summary only loses the overview
        log.warning("search summary not written: %s", exc)


__all__ = [
    "TOLERANCE",
    "AutoResult",
    "AutoSpec",
    "RunControl",
    "run_search",
    "storage_path",
]

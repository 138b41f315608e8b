"""Recipe search under a budget: a few training recipes on the top candidate models, with short
runs, keeping the best by VALIDATION.

Honesty rules, enforced here rather than promised:
- The test split is never read. The tuner hands the trainer a copy of the dataset with only the
  train and val splits (`without_test`), so nothing downstream can even evaluate on test; a test
  wraps the test arrays in guards that fail on access to prove it.
- The budget is wall-clock seconds for the whole search (model builds, probes, trials). Before a
  trial the tuner estimates its cost (a 3-batch probe for a model it has not trained yet, the
  measured seconds per epoch afterwards) and skips it when it would not fit; during a trial the
  trainer's own budget guard stops before an epoch that would overrun. What was spent (seconds,
  and joules when metered) is reported with every trial, skipped ones included.

The choice metric defaults to validation balanced accuracy: on imbalanced medical data plain
accuracy on the validation split rewards always predicting the majority class, and the test split
may be balanced differently (PneumoniaMNIST: 26% normal in val, 37.5% in test).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from pepr_desktop.core.errors import UserError

log = logging.getLogger(__name__)

TUNE_METRICS = ("val_bacc", "val_acc", "val_auc")
PROBE_BATCHES = 3
SAFETY = 1.25  # estimates are multiplied by this before comparing with the time left
EVAL_COST = 0.35  # an evaluated image costs about this share of a trained one (forward only)


@dataclass(frozen=True)
class Recipe:
    """A named set of TrainConfig overrides."""

    name: str
    overrides: dict[str, Any]


# most promising first: the search may run out of budget before the last one
DEFAULT_RECIPES: tuple[Recipe, ...] = (
    Recipe(
        "weighted+aug+cosine", {"class_weights": "auto", "augment": "light", "schedule": "cosine"}
    ),
    Recipe(
        "balanced+aug+onecycle+ls",
        {
            "sampler": "balanced",
            "augment": "light",
            "schedule": "onecycle",
            "label_smoothing": 0.1,
            "lr": 2e-3,
        },
    ),
    Recipe("paper", {}),
)


@dataclass
class Trial:
    model: str
    recipe: str
    overrides: dict[str, Any]
    status: str  # "done", "stopped", "skipped", "failed"
    note: str = ""
    score: float | None = None  # the choice metric at the final epoch
    val: dict[str, float | None] = field(default_factory=dict)
    epochs_done: int = 0
    seconds: float = 0.0  # wall clock including the model build
    energy_j: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TuneResult:
    metric: str
    budget_s: float
    spent_s: float
    spent_energy_j: float | None
    trial_epochs: int
    trials: list[Trial]
    best: Trial | None

    def best_config(self, base: Any) -> Any:
        """The base TrainConfig with the winning model and recipe (None when nothing ran)."""
        if self.best is None:
            return None
        return replace(base, model=self.best.model, **self.best.overrides).validate()

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "budget_s": self.budget_s,
            "spent_s": self.spent_s,
            "spent_energy_j": self.spent_energy_j,
            "trial_epochs": self.trial_epochs,
            "best": None if self.best is None else self.best.to_dict(),
            "trials": [t.to_dict() for t in self.trials],
            "test_split_used": False,
        }


def without_test(arrays: Any) -> Any:
    """The dataset with only its train and val splits (reads no test array)."""
    from pepr_desktop.core.data.sources import ArraySet

    return ArraySet(
        images={s: arrays.images[s] for s in ("train", "val")},
        labels={s: arrays.labels[s] for s in ("train", "val")},
        class_names=list(arrays.class_names),
        task=arrays.task,
    )


def _probe_epoch_s(cfg: Any, p: Any) -> float:
    """Seconds one epoch (training + validation) should take, from a few timed batches."""
    import torch

    from pepr_desktop.core.training.tensors import epoch_batches

    chunks = epoch_batches(len(p.train), cfg.batch_size, cfg.seed, 0, p.device)
    state = {k: v.detach().clone() for k, v in p.model.state_dict().items()}
    p.model.train()
    times = []
    for idx in chunks[: PROBE_BATCHES + 1]:
        t0 = time.perf_counter()
        p.optimizer.zero_grad(set_to_none=True)
        p.loss_fn(p.model(p.norm(p.train.x[idx])), p.train.y[idx]).backward()
        if p.device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    p.model.load_state_dict(state)  # the probe must not change the trial (no optimizer step)
    p.optimizer.zero_grad(set_to_none=True)
    per_batch = sorted(times[1:] or times)[len(times[1:] or times) // 2]
    per_image = per_batch / max(cfg.batch_size, 1)
    return per_image * (len(p.train) + EVAL_COST * len(p.val))


def tune_recommended(
    info: Any,
    base: Any,
    candidates: Sequence[Any],
    *,
    budget_s: float,
    top: int = 2,
    **kwargs: Any,
) -> TuneResult:
    """`tune` on the `top` fitting candidates of a recommendation, each at its recommended
    image size and weights (the CLI's `pepr recommend --tune` and the GUI call this)."""
    from pepr_desktop.core.data import registry as datasets

    picked = [c for c in candidates if getattr(c, "fits", True)][:top]
    if not picked:
        raise UserError("no candidate fits the budget, so there is nothing to tune; widen it.")
    models = []
    for c in picked:
        own: dict[str, Any] = {"pretrained": bool(c.pretrained)}
        if c.image_size:
            own["image_size"] = int(c.image_size)
        models.append((c.model, own))
    return tune(datasets.load(info), base, models, budget_s=budget_s, **kwargs)


def tune(
    arrays: Any,
    base: Any,
    models: Sequence[str | tuple[str, dict[str, Any]]],
    *,
    budget_s: float,
    recipes: Sequence[Recipe] = DEFAULT_RECIPES,
    trial_epochs: int = 3,
    metric: str = "val_bacc",
    trial_data_fraction: float | None = None,
    meter_factory: Callable[[str], Any] | None = None,
    progress: Callable[[Trial], None] | None = None,
    control: Any = None,
) -> TuneResult:
    """Try each recipe on each model (models in the order given, best candidates first) with
    `trial_epochs`-epoch runs inside `budget_s` seconds (optionally on a stratified share of the
    training data); keep the best by `metric` on val. `control` (a `Control`) cancels the
    search from another thread (the GUI's Cancel): the running trial stops within one batch and
    the rest are skipped."""
    if metric not in TUNE_METRICS:
        raise UserError(f"tuning metric must be one of {', '.join(TUNE_METRICS)}, not '{metric}'.")
    if not (math.isfinite(budget_s) and budget_s > 0):
        raise UserError(f"the search budget must be a positive number of seconds, not {budget_s}.")
    if not models:
        raise UserError("no candidate models to tune; widen the budget or give --model.")
    data = without_test(arrays)
    search = _Search(budget_s, metric, time.perf_counter(), meter_factory, control)
    trials: list[Trial] = []
    for entry in models:
        # a model may come with its own settings (a recommended image size, pretrained weights)
        model, own = (entry, {}) if isinstance(entry, str) else entry
        for recipe in recipes:
            t0 = time.perf_counter()
            trial = Trial(model, recipe.name, {**own, **recipe.overrides}, "skipped")
            cfg = replace(
                base,
                model=model,
                **own,
                epochs=trial_epochs,
                checkpoint=False,
                early_stop=False,
                budget_energy_wh=None,
                budget_memory_mb=None,
                **recipe.overrides,
            )
            if trial_data_fraction is not None:
                cfg.data_fraction = trial_data_fraction
            skip = search.skip_reason(model)
            if skip:
                trial.note = skip
                trials.append(trial)
                continue
            ran = _run_trial(search, trial, cfg, data)
            trial.seconds = time.perf_counter() - t0
            trials.append(trial)
            if not ran:  # skipped once its probe showed it would not fit: nothing to report
                continue
            if progress:
                progress(trial)
            log.info(
                "trial %s / %s: %s %s=%s", model, recipe.name, trial.status, metric, trial.score
            )
    scored = [t for t in trials if t.score is not None]
    # ties go to the earlier trial (better-ranked model, simpler recipe)
    best = max(scored, key=lambda t: (t.score, -trials.index(t))) if scored else None
    return TuneResult(
        metric=metric,
        budget_s=budget_s,
        spent_s=time.perf_counter() - search.t_start,
        spent_energy_j=search.spent_energy,
        trial_epochs=trial_epochs,
        trials=trials,
        best=best,
    )


@dataclass
class _Search:
    """What the trials of one search share: the clock, the settings, the per-model epoch
    estimates and the energy spent."""

    budget_s: float
    metric: str
    t_start: float
    meter_factory: Callable[[str], Any] | None
    control: Any
    epoch_s: dict[str, float] = field(default_factory=dict)  # model -> measured/probed s/epoch
    spent_energy: float | None = None

    def left(self) -> float:
        return self.budget_s - (time.perf_counter() - self.t_start)

    def too_long(self, model: str) -> str:
        """Why a trial of `model` would not fit in what is left ("" when it would, or when its
        epoch time is not known yet)."""
        est = self.epoch_s.get(model)
        if est is not None and est * SAFETY > self.left():
            return f"skipped: one epoch ~{est:.0f} s, {max(self.left(), 0):.0f} s left"
        return ""

    def skip_reason(self, model: str) -> str:
        """Why the next trial of `model` is skipped before anything is built ("" when it runs)."""
        if self.control is not None and self.control.stopped:
            return "skipped: cancelled"
        if self.left() <= 0:
            return "skipped: budget spent"
        return self.too_long(model)


def _run_trial(search: _Search, trial: Trial, cfg: Any, data: Any) -> bool:
    """Build the trial's model, probe it (the first time a model is seen) and train it, filling
    in `trial`; a failure is recorded in it, never raised. False when the probe shows that the
    trial would not fit (it stays skipped)."""
    from pepr_desktop.core.training.train import prepare

    try:
        cfg.validate()
        p = prepare(cfg, data)
        if trial.model not in search.epoch_s:
            search.epoch_s[trial.model] = _probe_epoch_s(cfg, p)
        trial.note = search.too_long(trial.model)
        if trial.note:
            return False
        # the trainer's guard stops before an epoch that would overrun what is left
        cfg.budget_time_min = max(search.left() / SAFETY, 1e-3) / 60
        _train_trial(search, trial, cfg, p)
    except UserError as exc:
        trial.status, trial.note = "failed", str(exc)
    except Exception as exc:  # one broken model must not end the search
        log.exception("tuning trial %s / %s failed", trial.model, trial.recipe)
        trial.status, trial.note = "failed", f"{type(exc).__name__}: {exc}"[:200]
    return True


def _train_trial(search: _Search, trial: Trial, cfg: Any, p: Any) -> None:
    """Train one prepared trial; record its final validation figures, its measured epoch time
    (for the next estimate of this model) and its energy."""
    from pepr_desktop.core.events import EpochEnded
    from pepr_desktop.core.training.config import StopRun
    from pepr_desktop.core.training.train import train

    meter = search.meter_factory(p.device) if search.meter_factory else None
    last: EpochEnded | None = None
    energies: list[float | None] = []
    try:
        for ev in train(cfg, p, run_id=0, meter=meter, control=search.control):
            if isinstance(ev, EpochEnded):
                last = ev
                energies.append(ev.energy_j)
        trial.status = "done"
    except StopRun as stop:
        trial.status, trial.note = "stopped", stop.message or stop.reason
    if last is not None:
        trial.epochs_done = last.epoch + 1
        trial.val = {k: v for k, v in last.metrics.items() if k.startswith("val_")}
        trial.score = trial.val.get(search.metric)
        search.epoch_s[trial.model] = max(last.seconds, 1e-6) * (
            1 + EVAL_COST * len(p.val) / max(len(p.train), 1)
        )
    if energies and all(e is not None for e in energies):
        trial.energy_j = float(sum(energies))  # type: ignore[arg-type]
        search.spent_energy = (search.spent_energy or 0.0) + trial.energy_j


def tune_for(
    dataset: str,
    open_store: Callable[[], Any],
    base: Any,
    candidates: Sequence[Any],
    *,
    budget_s: float,
    **kwargs: Any,
) -> TuneResult:
    """`tune_recommended` for the dataset named `dataset`, looked up on a store that
    `open_store()` opens as a context manager (closed again before the trials start: they need
    the arrays, not the store). The GUI passes a `RemoteStore` opener."""
    from pepr_desktop.core.data import registry as datasets

    with open_store() as store:
        info = datasets.resolve(dataset, store)
    return tune_recommended(info, base, candidates, budget_s=budget_s, **kwargs)

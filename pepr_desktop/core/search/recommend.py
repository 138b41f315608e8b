"""Which models fit a budget on this machine, and which should score best.

Three steps, cheapest first:

1. **Prune** the catalogue without building anything (`prune.py`).
2. **Probe** each survivor on the chosen device in ascending FLOPs (`probe.py`): time is
   extrapolated to epochs x batches + evaluation (`plan.py`), energy is that time x the power
   figure and CO2 that energy at the user's carbon intensity and PUE (`power.py`), memory is the
   run's own footprint plus its data. A model that cannot fit even at the best speed measured so
   far is not probed; probing stops at a deadline so a recommendation stays under a minute.
3. **Rank** the candidates that fit every budget (`rank`). Each has an expected final accuracy
   with an interval and its source (`priors.py`: your runs, the paper as a weak prior, or
   unknown). Those with a known accuracy are ranked by expected PePR = acc / (1 + R_n) over
   that set (R = energy, time, memory or CO2 by `by`); those with an unknown one follow, by the
   resource, and their Why says so. The result also says how far this machine's past
   predictions missed (`predictions.py`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from pepr_desktop.core.budget import Budget
from pepr_desktop.core.data.sources import DatasetInfo
from pepr_desktop.core.devices import resolve_device
from pepr_desktop.core.errors import UserError
from pepr_desktop.core.metering import MeterSettings
from pepr_desktop.core.models import catalog
from pepr_desktop.core.resources import RESOURCES
from pepr_desktop.core.scoring.pepr import pepr_scores
from pepr_desktop.core.search import hub
from pepr_desktop.core.search import probe as probing
from pepr_desktop.core.search.plan import RunPlan, plan_for
from pepr_desktop.core.search.power import carbon, co2_g, describe_carbon, power_estimate
from pepr_desktop.core.search.predictions import (
    PastErrors,
    past_prediction_errors,
    prediction_record,
)
from pepr_desktop.core.search.priors import AccuracyEstimate, expected_accuracy, widen
from pepr_desktop.core.search.prune import Skipped, SpeedBound, fmt_time, prune, time_cap_s
from pepr_desktop.core.training import fast_path
from pepr_desktop.core.training.config import TrainConfig
from pepr_desktop.core.training.threads import fitted_threads

BY = {r.resource: r.predicted for r in RESOURCES.values()}  # --by choice -> Candidate field
DEFAULT_TIME_LIMIT_S = 40.0  # probing deadline; the rest of the minute is imports and facts


@dataclass
class Candidate:
    model: str
    params: int
    flops: float
    pretrained: bool
    predicted_time_s: float
    predicted_energy_wh: float | None
    predicted_memory_mb: float  # the run's own: model, optimiser, activations and data
    expected_acc: float | None  # expected final test accuracy; None: unknown
    acc_source: str  # "your runs", "paper prior" or "unknown" (priors.SOURCES)
    expected_pepr: float | None
    fits: bool
    why: str
    family: str = ""
    image_size: int = 0  # the input size it would train at
    predicted_co2_g: float | None = None
    step_s: float = 0.0
    eval_s_per_image: float = 0.0
    probe: str = ""  # "measured" or "cached"
    over: list[str] = field(default_factory=list)  # which budgets it breaks, with what it needs
    pretrained_note: str = ""
    rank: int | None = None
    acc_low: float | None = None  # the expected accuracy's interval
    acc_high: float | None = None
    acc_note: str = ""  # the source in words, e.g. "your 3 runs of it on pneu (same epochs)"

    @property
    def accuracy(self) -> AccuracyEstimate:
        return AccuracyEstimate(
            self.expected_acc, self.acc_low, self.acc_high, self.acc_source, self.acc_note
        )

    def prediction(self) -> dict[str, Any]:
        """What a run started from this candidate stores in its config's `extra`
        (`predictions.with_prediction(cfg, candidate.prediction())`)."""
        return prediction_record(
            self.accuracy,
            predicted_time_s=self.predicted_time_s,
            predicted_energy_wh=self.predicted_energy_wh,
            predicted_memory_mb=self.predicted_memory_mb,
            image_size=self.image_size,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Recommendation:
    candidates: list[Candidate]
    fitting: list[Candidate]
    message: str
    by: str
    seconds: float
    budget: Budget = field(default_factory=Budget)
    device: str = "cpu"
    power_w: float | None = None
    power_source: str = ""
    experiment: str | None = None  # the paper experiment used as the accuracy prior
    settings: dict[str, Any] = field(default_factory=dict)
    skipped: list[dict[str, str]] = field(default_factory=list)
    cancelled: bool = False
    carbon_g_per_kwh: float | None = None
    carbon_source: str = ""  # e.g. "350 g/kWh (Germany, 2023, OWID/Ember), PUE 1.2"
    past_median_error: float | None = None  # median |predicted - actual| here; None: none yet
    past_predictions: int = 0  # how many finished runs that median rests on
    calibration: str = "no past predictions yet"  # the two above in words

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["candidates"] = [c.to_dict() for c in self.candidates]
        d["fitting"] = [c.model for c in self.fitting]
        return d


# ------------------------------------------------------------------ probing


@dataclass
class _Costs:
    """How a probed step becomes time, energy, CO2 and memory for one recommendation."""

    plan: RunPlan
    power_w: float
    power_source: str
    settings: MeterSettings

    def candidate(
        self, f: catalog.ModelFacts, pr: probing.ProbeResult, acc: AccuracyEstimate
    ) -> Candidate:
        t = self.plan.time_s(pr)
        energy = self.power_w * t / 3600 if self.power_w else None
        intensity, pue = carbon(self.settings)
        return Candidate(
            model=f.model,
            params=f.params,
            flops=f.flops or 0.0,
            pretrained=False,
            predicted_time_s=t,
            predicted_energy_wh=energy,
            predicted_memory_mb=self.plan.data_mb + pr.mem_mb,
            expected_acc=acc.value,
            acc_source=acc.source,
            expected_pepr=None,
            fits=True,
            why="",
            family=f.family,
            image_size=f.input_size,
            predicted_co2_g=co2_g(energy, intensity, pue),
            step_s=pr.step_s,
            eval_s_per_image=pr.eval_s_per_image,
            probe=pr.source,
            acc_low=acc.low,
            acc_high=acc.high,
            acc_note=acc.note,
        )


def _probe_cached(
    name: str,
    in_size: int,
    plan: RunPlan,
    lr: float,
    cache: probing.ProbeCache,
    probe_fn: Any,
    fast: dict[str, Any] | None = None,
) -> probing.ProbeResult:
    """The probe of one model at one size: from the cache, else measured (and cached). A
    cached figure timed on a busier machine than now is measured again (`taken_busier`)."""
    key = probing.ProbeCache.probe_key(
        name,
        plan.device,
        plan.channels,
        plan.n_classes,
        plan.native,
        in_size,
        plan.batch_size,
        plan.eval_batch_size,
        fast,
    )
    hit = cache.get(key)
    load = probing.load_per_core()
    if hit is not None and not probing.taken_busier(hit, load):
        return probing.ProbeResult(**{**hit, "source": "cached"})
    pr = probe_fn(
        name,
        channels=plan.channels,
        n_classes=plan.n_classes,
        native_size=plan.native,
        input_size=in_size,
        batch_size=plan.batch_size,
        eval_batch_size=plan.eval_batch_size,
        device=plan.device,
        lr=lr,
        fast=fast,  # timed on the run's own fast path
    )
    pr.load = load
    cache.put(key, pr.cached())
    return pr


def _why_failed(exc: BaseException) -> str:
    text = str(exc).splitlines()[0][:100] if str(exc) else repr(exc)
    return f"probe failed: {text}"


def _probe_all(
    todo: list[tuple[str, int]],
    costs: _Costs,
    budget: Budget,
    cfg: TrainConfig,
    acc: dict[str, AccuracyEstimate],
    skipped: Skipped,
    opts: dict[str, Any],
) -> tuple[list[Candidate], bool]:
    """Probe `todo` in order until the deadline or a cancel; (candidates, cancelled). Models
    that are dropped on the way are appended to `skipped` with why."""
    plan, t_start = costs.plan, opts["t_start"]
    progress, should_stop, limit = opts["progress"], opts["should_stop"], opts["time_limit_s"]
    facts_cache, probe_cache = catalog.FactsCache(), probing.ProbeCache()
    weights = hub.Weights(cfg, opts["online"] or hub.hub_reachable)
    bound = SpeedBound(time_cap_s(budget, costs.power_w))
    cands: list[Candidate] = []
    cancelled = False
    try:
        for i, (name, in_size) in enumerate(todo):
            if should_stop and should_stop():
                cancelled = True
                break
            if progress:
                progress(i, len(todo), name)
            if time.perf_counter() - t_start > limit:
                why = f"not probed: the {limit:.0f} s recommendation time limit was reached"
                skipped += [{"model": n, "why": why} for n, _ in todo[i:]]
                break
            f = catalog.facts(name, plan.channels, plan.n_classes, in_size, cache=facts_cache)
            step_flops = 3 * (f.flops or 0.0) * plan.batch_size
            why = (
                f.error
                or (
                    f"{f.params:,} params > max params"
                    if budget.max_params is not None and f.params > budget.max_params
                    else None
                )
                or bound.hopeless(step_flops, plan.epochs * plan.n_batches)
            )
            if why:
                skipped.append({"model": name, "why": why})
                continue
            try:
                pr = _probe_cached(
                    name,
                    f.input_size,
                    plan,
                    cfg.lr,
                    probe_cache,
                    opts["probe_fn"],
                    fast_path.settings(cfg),
                )
            except (MemoryError, RuntimeError) as exc:
                skipped.append({"model": name, "why": _why_failed(exc)})
                continue
            bound.add(step_flops, pr.step_s)
            cand = costs.candidate(f, pr, acc[name])
            cand.pretrained, cand.pretrained_note = weights.choose(f)
            cands.append(cand)
    finally:
        facts_cache.save()
        probe_cache.save()
    if progress:
        progress(len(todo), len(todo), "")
    return cands, cancelled


# ------------------------------------------------------------------ recommend


def _past_errors(store: Any, dataset: str) -> PastErrors:
    """This dataset's past prediction errors, else the machine's over all datasets."""
    if store is None:
        return PastErrors(None, 0)
    past = past_prediction_errors(store, dataset)
    return past if past.n else past_prediction_errors(store)


def recommend(
    info: DatasetInfo,
    store: Any,
    budget: Budget,
    cfg: TrainConfig,
    *,
    by: str = "energy",
    top: int = 10,
    progress: Callable[[int, int, str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    names: list[str] | None = None,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    probe_fn: Callable[..., probing.ProbeResult] | None = None,
    online: Callable[[], bool] | None = None,
    power_w: float | None = None,
    meter_settings: MeterSettings | None = None,
) -> Recommendation:
    """Models that fit `budget` for training `info` with `cfg`'s settings, best expected PePR
    first. `names` restricts the pool (default: the catalogue); `probe_fn` replaces the probe
    (tests give fixed costs); `online` says whether the hub can be reached; `power_w` overrides
    the power figure used for energy; `meter_settings` are the user's metering settings (CPU
    power, region or carbon intensity, PUE), as a run would be metered with."""
    t_start = time.perf_counter()
    if by not in BY:
        raise UserError(f"--by must be one of {', '.join(BY)}, not '{by}'.")
    budget.validate()
    if top < 1:
        raise UserError(f"top must be at least 1, not {top}.")
    settings = meter_settings or MeterSettings()
    plan = plan_for(info, cfg, resolve_device(cfg.device))
    if power_w is not None:
        power_source = f"your setting: {power_w:g} W"
    else:
        power_w, power_source = power_estimate(plan.device, settings)
    costs = _Costs(plan, power_w, power_source, settings)
    pool = names if names is not None else [e.model for e in catalog.entries()]
    todo, skipped = prune(pool, plan, budget, fixed_size=bool(cfg.image_size))
    past = _past_errors(store, info.name)
    acc, experiment = expected_accuracy([n for n, _ in todo], info, store, cfg)
    acc = {m: widen(a, past.by_source.get(a.source)) for m, a in acc.items()}
    opts = {
        "t_start": t_start,
        "progress": progress,
        "should_stop": should_stop,
        "time_limit_s": time_limit_s,
        "probe_fn": probe_fn or probing.probe,
        "online": online,
    }
    with fitted_threads(plan.device):  # timed with the threads a run here would train with
        cands, cancelled = _probe_all(todo, costs, budget, cfg, acc, skipped, opts)
    intensity, pue = carbon(settings)
    return rank(
        cands,
        budget,
        by=by,
        top=top,
        seconds=time.perf_counter() - t_start,
        extra={
            "device": plan.device,
            "power_w": power_w,
            "power_source": power_source,
            "experiment": experiment,
            "skipped": skipped,
            "cancelled": cancelled,
            "settings": plan.settings(),
            "carbon_g_per_kwh": intensity.g_per_kwh,
            "carbon_source": describe_carbon(intensity, pue),
            "past_median_error": past.median,
            "past_predictions": past.n,
            "calibration": past.describe(),
        },
    )


# ------------------------------------------------------------------ ranking


def _check_budgets(cands: list[Candidate], budget: Budget) -> None:
    """Set each candidate's `over` (the budgets it breaks, with what it needs) and `fits`."""
    for cd in cands:
        cd.over = []
        if budget.time_min is not None and cd.predicted_time_s > budget.time_min * 60:
            cd.over.append(f"time {cd.predicted_time_s / 60:.1f} min")
        if budget.energy_wh is not None and (
            cd.predicted_energy_wh is None or cd.predicted_energy_wh > budget.energy_wh
        ):
            cd.over.append(f"energy {cd.predicted_energy_wh or float('nan'):.3g} Wh")
        if budget.memory_mb is not None and cd.predicted_memory_mb > budget.memory_mb:
            cd.over.append(f"memory {cd.predicted_memory_mb:.0f} MB")
        if budget.max_params is not None and cd.params > budget.max_params:
            cd.over.append(f"{cd.params:,} params")
        cd.fits = not cd.over
        cd.expected_pepr = None
        cd.rank = None


def _order(fitting: list[Candidate], attr: str) -> tuple[list[Candidate], list[Candidate]]:
    """(known, unknown): a known accuracy ranked by expected PePR over the known set, then the
    unknown ones by the resource (PePR needs a performance, so they are not scored)."""
    known = [cd for cd in fitting if cd.expected_acc is not None]
    unknown = [cd for cd in fitting if cd.expected_acc is None]
    scores = pepr_scores([cd.expected_acc for cd in known], [getattr(cd, attr) for cd in known])
    for cd, s in zip(known, scores, strict=True):
        cd.expected_pepr = s
    known.sort(key=lambda cd: (-(cd.expected_pepr or 0.0), getattr(cd, attr) or 0.0))
    unknown.sort(key=lambda cd: getattr(cd, attr) or 0.0)
    return known, unknown


def _explain(known: list[Candidate], unknown: list[Candidate], by: str, attr: str) -> None:
    """Rank every fitting candidate and say why it is where it is."""
    fitting = known + unknown
    label = RESOURCES[by].key
    lo = min((getattr(cd, attr) or 0.0 for cd in fitting), default=0.0)
    for i, cd in enumerate(fitting, 1):
        cd.rank = i
        res = getattr(cd, attr) or 0.0
        rel = "the least" if res == lo else f"{res / lo:.1f}x the least" if lo else ""
        head = f"#{i} of {len(fitting)} fitting: "
        if cd.expected_acc is not None:
            cd.why = (
                f"{head}expected PePR-{label} {cd.expected_pepr:.3f} = acc "
                f"{cd.accuracy.describe()} / (1 + normalised {by}); uses {rel} {by} of the set. "
                f"{cd.pretrained_note}"
            )
        else:
            cd.why = (
                f"{head}accuracy unknown ({cd.acc_note}), so no PePR: ranked after the "
                f"{len(known)} with a known accuracy, by {by}; uses {rel} {by} of the set. "
                f"{cd.pretrained_note}"
            )


def _message(
    fitting: list[Candidate], rest: list[Candidate], n: int, budget: Budget, by: str
) -> str:
    if fitting:
        best = fitting[0]
        label = RESOURCES[by].key
        if best.expected_acc is None:
            return (
                f"{len(fitting)} of {n} probed models fit {budget.describe()}; no expected "
                f"accuracy is known for any, so they are ranked by {by}: {best.model} first "
                f"({fmt_time(best.predicted_time_s)})."
            )
        return (
            f"{len(fitting)} of {n} probed models fit {budget.describe()}; best expected "
            f"PePR-{label}: {best.model} (acc {best.expected_acc:.3f} "
            f"[{best.acc_low:.2f}, {best.acc_high:.2f}], {best.acc_source}; "
            f"{fmt_time(best.predicted_time_s)})."
        )
    if rest:
        return (
            f"Nothing fits {budget.describe()}. Cheapest: "
            + "; ".join(f"{cd.model} would need {', '.join(cd.over)}" for cd in rest[:3])
            + "."
        )
    return f"No model could be evaluated for {budget.describe()} (see skipped)."


def rank(
    cands: list[Candidate],
    budget: Budget,
    *,
    by: str = "energy",
    top: int = 10,
    seconds: float = 0.0,
    extra: dict[str, Any] | None = None,
) -> Recommendation:
    """Check every budget, order the fitting set (known accuracies by expected PePR, then
    unknown ones by the resource) and explain each place."""
    attr = BY[by]
    _check_budgets(cands, budget)
    known, unknown = _order([cd for cd in cands if cd.fits], attr)
    _explain(known, unknown, by, attr)
    fitting = known + unknown
    rest = sorted((cd for cd in cands if not cd.fits), key=lambda cd: getattr(cd, attr) or 0.0)
    for cd in rest:
        cd.why = f"does not fit: would need {', '.join(cd.over)} ({budget.describe()})"
    shown_fit = fitting[:top]
    ordered = shown_fit + rest[: max(0, top - len(shown_fit))]
    message = _message(fitting, rest, len(cands), budget, by)
    extra = dict(extra or {})
    if extra.get("cancelled"):
        message = "Cancelled; partial result. " + message
    return Recommendation(
        candidates=ordered,
        fitting=shown_fit,
        message=message,
        by=by,
        seconds=seconds,
        budget=budget,
        **extra,
    )


def recommend_for(
    dataset: str,
    open_store: Callable[[], Any],
    budget: Budget,
    cfg: TrainConfig,
    *,
    by: str = "energy",
    **kwargs: Any,
) -> Recommendation:
    """`recommend` for the dataset named `dataset`, on a store that `open_store()` opens as a
    context manager (and closes when done). The caller chooses the store: the GUI passes a
    `RemoteStore` opener (it must not open a `Store`), the CLI its own. `kwargs` go to
    `recommend` (top, progress, should_stop, names, meter_settings, ...)."""
    from pepr_desktop.core.data import registry as datasets

    with open_store() as store:
        info = datasets.resolve(dataset, store)
        return recommend(info, store, budget, cfg, by=by, **kwargs)

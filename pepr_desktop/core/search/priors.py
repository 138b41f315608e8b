"""What final test accuracy to expect of a model on a dataset, with an interval and its source.

Sources, strongest first, and each one labelled:

- **your runs**: finished runs of this model on this dataset in the store, preferably with the
  same epochs and data fraction. Several runs give mean +- 2 standard deviations (the range of one
  new run, not of the mean); one run gives +- `ONE_RUN_HALF_WIDTH`.
- **paper prior**: the PePR paper's final-epoch test accuracy (`test_09`) of this very model in
  the nearest experiment (`paper_experiment`). Weak: another machine, the paper's copy of the
  data, its protocol; hence +- `PAPER_HALF_WIDTH`.
- **unknown**: nothing above; the accuracy is None, never a stand-in such as chance level or a
  family median (lcnet_050 was "expected" at a family median of 0.914 and reached 0.686).

`widen` stretches an interval to what past predictions of the same source missed by on this
machine (`predictions.past_prediction_errors`), so an interval is never narrower than the record.
"""

from __future__ import annotations

import logging
import statistics
from dataclasses import asdict, dataclass
from typing import Any

from pepr_desktop.core.data.sources import DatasetInfo
from pepr_desktop.core.errors import UserError
from pepr_desktop.core.training.config import TrainConfig

log = logging.getLogger(__name__)

OWN = "your runs"
PAPER = "paper prior"
UNKNOWN = "unknown"
SOURCES = (OWN, PAPER, UNKNOWN)
ONE_RUN_HALF_WIDTH = 0.05  # seed-to-seed spread assumed when one run is all there is
MIN_HALF_WIDTH = 0.02  # identical runs still do not promise the third decimal
PAPER_HALF_WIDTH = 0.10  # the paper's figure moved to another machine and copy of the data


@dataclass(frozen=True)
class AccuracyEstimate:
    """Expected final test accuracy (None: unknown), its interval and where it comes from."""

    value: float | None
    low: float | None
    high: float | None
    source: str  # OWN, PAPER or UNKNOWN
    note: str  # the detail, e.g. "your 3 runs of it on pneu (same epochs)"
    n_runs: int = 0

    @property
    def known(self) -> bool:
        return self.value is not None

    def describe(self) -> str:
        """'0.842 [0.80, 0.88] (your runs: ...)' or 'unknown (...)', for Why texts and tables."""
        if self.value is None:
            return f"unknown ({self.note})"
        return f"{self.value:.3f} [{self.low:.2f}, {self.high:.2f}] ({self.source}: {self.note})"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _interval(value: float, half: float, source: str, note: str, n: int) -> AccuracyEstimate:
    return AccuracyEstimate(value, max(0.0, value - half), min(1.0, value + half), source, note, n)


def widen(est: AccuracyEstimate, half: float | None) -> AccuracyEstimate:
    """`est` with an interval at least +- `half` wide (what past predictions of its source
    missed by on this machine); unknown and already wider estimates are returned as they are."""
    if est.value is None or half is None or est.low is None or est.high is None:
        return est
    low, high = max(0.0, est.value - half), min(1.0, est.value + half)
    if est.low <= low and est.high >= high:
        return est
    low, high = min(est.low, low), max(est.high, high)
    note = f"{est.note}; widened to past errors here"
    return AccuracyEstimate(est.value, low, high, est.source, note, est.n_runs)


def unknown(note: str) -> AccuracyEstimate:
    return AccuracyEstimate(None, None, None, UNKNOWN, note)


def paper_experiment(info: DatasetInfo, cfg: TrainConfig) -> str | None:
    """The paper experiment nearest to this dataset (documented mapping).

    - name or class names mention pneumonia, or a grey binary task -> "pneumonia"
    - name mentions derma, or a 7-class colour task -> "derma" ("derma_pt" when pretrained)
    - name mentions lidc -> "lidc"
    - any other binary task -> "pneumonia"; any other colour task -> "derma"
    - a training subset of <= 25 % (`data_fraction`) -> the experiment's "_small" variant
    Anything else has no paper prior.
    """
    text = " ".join([info.name, *info.class_names]).lower()
    if "pneumonia" in text or (info.n_classes == 2 and info.channels == 1):
        exp = "pneumonia"
    elif "derma" in text or (info.n_classes == 7 and info.channels == 3):
        exp = "derma"
    elif "lidc" in text:
        exp = "lidc"
    elif info.n_classes == 2:
        exp = "pneumonia"
    elif info.channels == 3:
        exp = "derma"
    else:
        return None
    if exp == "derma" and (cfg.pretrained or cfg.weights) and cfg.data_fraction > 0.25:
        return "derma_pt"
    if cfg.data_fraction <= 0.25:
        exp += "_small"
    return exp


def paper_accuracy(experiment: str | None) -> dict[str, float]:
    """{model: the paper's final-epoch test accuracy} in `experiment` ({} without the table)."""
    if not experiment:
        return {}
    from pepr_desktop.core.scoring.paper import paper_models

    try:
        return {m.model: m.test_acc for m in paper_models(experiment)}
    except UserError as exc:  # the table is missing or lacks the experiment: no prior
        log.warning("no paper prior for '%s': %s", experiment, exc)
        return {}


def _comparable(run: dict[str, Any], cfg: TrainConfig) -> bool:
    c = run.get("config") if isinstance(run.get("config"), dict) else {}
    return c.get("epochs") == cfg.epochs and c.get("data_fraction", 1.0) == cfg.data_fraction


def own_accuracies(store: Any, dataset: str) -> dict[str, list[dict[str, Any]]]:
    """{model: finished runs on `dataset` with a test accuracy}, read through the store."""
    out: dict[str, list[dict[str, Any]]] = {}
    if store is None:
        return out
    for r in store.runs(dataset=dataset, status="finished"):
        if r.get("test_acc") is not None:
            out.setdefault(r["model"], []).append(r)
    return out


def from_own_runs(runs: list[dict[str, Any]], cfg: TrainConfig, dataset: str) -> AccuracyEstimate:
    """The estimate from this model's own finished runs (runs with the same epochs and data
    fraction when there are any)."""
    same = [r for r in runs if _comparable(r, cfg)]
    use, how = (same, "same epochs") if same else (runs, "other settings")
    accs = [float(r["test_acc"]) for r in use]
    n = len(accs)
    half = ONE_RUN_HALF_WIDTH if n == 1 else max(MIN_HALF_WIDTH, 2 * statistics.stdev(accs))
    note = f"your {n} run{'s' * (n > 1)} of it on {dataset} ({how})"
    return _interval(statistics.fmean(accs), half, OWN, note, n)


def expected_accuracy(
    models: list[str],
    info: DatasetInfo,
    store: Any,
    cfg: TrainConfig,
) -> tuple[dict[str, AccuracyEstimate], str | None]:
    """{model: estimate} and the paper experiment used as the prior (None: no prior)."""
    own = own_accuracies(store, info.name)
    exp = paper_experiment(info, cfg)
    paper = paper_accuracy(exp)
    epochs = "" if cfg.epochs == 10 else f"; you train {cfg.epochs}"
    out: dict[str, AccuracyEstimate] = {}
    for m in models:
        if m in own:
            out[m] = from_own_runs(own[m], cfg, info.name)
        elif m in paper:
            note = f"the paper's '{exp}' test acc after 10 epochs on its GPU and data{epochs}"
            out[m] = _interval(paper[m], PAPER_HALF_WIDTH, PAPER, note, 0)
        elif exp is None:
            out[m] = unknown(f"no run of it on {info.name} and no paper experiment like it")
        else:
            out[m] = unknown(f"no run of it on {info.name}; the paper did not train it")
    return out, exp

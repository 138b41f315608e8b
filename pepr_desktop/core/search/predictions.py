"""Predicted vs actual: the prediction a run starts with, and how far past predictions missed.

A run started from a recommendation carries the recommender's prediction in its config's `extra`
dict under `PREDICTION_KEY` (saved with the run, no schema change); a run started otherwise can
get one from `prediction_for` (the user's history and the paper prior, no probe); a budgeted
search's run may carry its learning-curve prediction in the run's own `extra` instead. Its actual is
the run's final test accuracy, so `past_prediction_errors` needs nothing else: the median
|predicted - actual| over the finished runs of this machine that carried a known prediction.
"""

from __future__ import annotations

import socket
import statistics
import time
from dataclasses import dataclass, field, replace
from typing import Any

from pepr_desktop.core.data.sources import DatasetInfo
from pepr_desktop.core.search.priors import AccuracyEstimate, expected_accuracy
from pepr_desktop.core.training.config import TrainConfig

PREDICTION_KEY = "prediction"


def prediction_record(est: AccuracyEstimate, **costs: float | None) -> dict[str, Any]:
    """What a run stores about its prediction: the accuracy estimate, its source, when it was
    made, and any predicted costs (time, energy, memory) the caller has."""
    return {
        "expected_acc": est.value,
        "acc_low": est.low,
        "acc_high": est.high,
        "acc_source": est.source,
        "acc_note": est.note,
        "made_at": time.time(),
        **costs,
    }


def prediction_for(model: str, info: DatasetInfo, store: Any, cfg: TrainConfig) -> dict[str, Any]:
    """The accuracy prediction for training `model` on `info` with `cfg`, for a run that does
    not come from a recommendation (`pepr train`, a sweep job): the runner or a front end stores
    it with `with_prediction` before the run starts."""
    acc, _ = expected_accuracy([model], info, store, cfg)
    return prediction_record(acc[model])


def with_prediction(cfg: TrainConfig, record: dict[str, Any]) -> TrainConfig:
    """`cfg` with `record` in its `extra` (a copy; a prediction already there is kept)."""
    if PREDICTION_KEY in cfg.extra:
        return cfg
    return replace(cfg, extra={**cfg.extra, PREDICTION_KEY: record})


def stored_prediction(run: dict[str, Any]) -> dict[str, Any] | None:
    """The accuracy prediction a stored run carries, or None: the one it started with (config
    `extra`), else a budgeted search's learning-curve prediction of accuracy (the run's own
    `extra`, `auto_predict.record`: `value` predicts `metric`)."""
    config = run.get("config")
    extra = config.get("extra") if isinstance(config, dict) else None
    pred = extra.get(PREDICTION_KEY) if isinstance(extra, dict) else None
    if isinstance(pred, dict):
        return pred
    extra = run.get("extra")
    pred = extra.get(PREDICTION_KEY) if isinstance(extra, dict) else None
    if isinstance(pred, dict) and pred.get("metric") == "acc" and "value" in pred:
        return {
            "expected_acc": pred["value"],
            "acc_low": pred.get("low"),
            "acc_high": pred.get("high"),
            "acc_source": "learning curve",
            "acc_note": str(pred.get("method") or ""),
        }
    return None


def prediction_error(run: dict[str, Any]) -> float | None:
    """|predicted - actual| final test accuracy of a stored run (None: no known prediction or no
    test accuracy)."""
    pred = stored_prediction(run)
    expected = pred.get("expected_acc") if pred else None
    if expected is None or run.get("test_acc") is None:
        return None
    return abs(float(expected) - float(run["test_acc"]))


@dataclass
class PastErrors:
    """How far this machine's past predictions missed."""

    median: float | None  # median |predicted - actual| final test accuracy; None: none yet
    n: int
    dataset: str | None = None  # None: all datasets
    by_source: dict[str, float] = field(default_factory=dict)  # median per prediction source

    def describe(self) -> str:
        if not self.n or self.median is None:
            return "no past predictions yet"
        where = f" on {self.dataset}" if self.dataset else ""
        return (
            f"past predictions on this machine: median error {self.median:.2f} over "
            f"{self.n} run{'s' * (self.n > 1)}{where}"
        )


def past_prediction_errors(store: Any, dataset: str | None = None) -> PastErrors:
    """Median |predicted - actual| of the finished runs on this machine (this host) that carried
    a known prediction, on `dataset` or on all datasets."""
    host = socket.gethostname()
    errors: list[float] = []
    per_source: dict[str, list[float]] = {}
    for r in store.runs(dataset=dataset, status="finished"):
        if r.get("host") not in (None, "", host):
            continue
        err = prediction_error(r)
        if err is None:
            continue
        errors.append(err)
        source = str((stored_prediction(r) or {}).get("acc_source") or "")
        per_source.setdefault(source, []).append(err)
    return PastErrors(
        statistics.median(errors) if errors else None,
        len(errors),
        dataset,
        {s: statistics.median(v) for s, v in per_source.items()},
    )

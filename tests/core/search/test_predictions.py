"""Predicted vs actual: a run's prediction travels in its config's extra, and the median error
of past predictions is computed from finished runs on this machine only."""

from __future__ import annotations

import pytest

from pepr_desktop.core.data.sources import DatasetInfo
from pepr_desktop.core.search import predictions as pr
from pepr_desktop.core.search.priors import OWN, PAPER, UNKNOWN
from pepr_desktop.core.training.config import TrainConfig

INFO = DatasetInfo(
    name="pneu",
    source="imported",
    path=None,
    n_classes=2,
    channels=1,
    image_size=28,
    task="binary",
    split_sizes={"train": 100, "val": 20, "test": 20},
)


def run(store, model, acc, pred, dataset="pneu", status="finished", host=None):
    cfg = TrainConfig(dataset=dataset, model=model)
    if pred is not None:
        cfg = pr.with_prediction(cfg, pred)
    rid = store.create_run(dataset=dataset, model=model, config=cfg.to_dict(), status=status)
    store.update_run(rid, test_acc=acc, status=status, **({"host": host} if host else {}))
    return rid


def test_prediction_for_and_with_prediction(store):
    cfg = TrainConfig(dataset="pneu", model="resnet18d")
    pred = pr.prediction_for("resnet18d", INFO, store, cfg)
    assert pred["acc_source"] == PAPER and 0 < pred["expected_acc"] < 1
    assert pred["acc_low"] < pred["expected_acc"] < pred["acc_high"]
    assert pr.prediction_for("lcnet_050", INFO, store, cfg)["expected_acc"] is None
    stored = pr.with_prediction(cfg, pred)
    assert stored.extra[pr.PREDICTION_KEY] == pred and cfg.extra == {}  # a copy
    assert pr.with_prediction(stored, {"expected_acc": 0.1}) is stored  # the first one stays
    rid = run(store, "resnet18d", 0.7, pred)
    row = store.get_run(rid)
    assert pr.stored_prediction(row) == pred
    assert pr.prediction_error(row) == pytest.approx(abs(pred["expected_acc"] - 0.7))


def test_past_prediction_errors(store):
    assert pr.past_prediction_errors(store).describe() == "no past predictions yet"
    run(store, "a", 0.80, {"expected_acc": 0.90, "acc_source": PAPER})  # 0.10
    run(store, "b", 0.70, {"expected_acc": 0.72, "acc_source": OWN})  # 0.02
    run(store, "c", 0.50, {"expected_acc": 0.90, "acc_source": PAPER}, dataset="other")  # 0.40
    run(store, "d", 0.10, {"expected_acc": None, "acc_source": UNKNOWN})  # unknown: no error
    run(store, "e", 0.10, None)  # no prediction
    run(store, "f", 0.10, {"expected_acc": 0.9}, status="stopped")  # not finished
    run(store, "g", 0.10, {"expected_acc": 0.9}, host="another-node")  # not this machine
    here = pr.past_prediction_errors(store, "pneu")
    assert here.n == 2 and here.median == pytest.approx(0.06)
    assert here.by_source == {PAPER: pytest.approx(0.10), OWN: pytest.approx(0.02)}
    assert here.describe() == (
        "past predictions on this machine: median error 0.06 over 2 runs on pneu"
    )
    # a budgeted search's learning-curve prediction of accuracy, in the run's own extra
    rid = run(store, "h", 0.75, None)
    store.update_run(rid, extra={"prediction": {"metric": "acc", "value": 0.8, "low": 0.7}})
    bacc = run(store, "i", 0.75, None)  # a prediction of another metric is not an accuracy one
    store.update_run(bacc, extra={"prediction": {"metric": "bacc", "value": 0.1}})
    assert pr.stored_prediction(store.get_run(rid))["acc_source"] == "learning curve"
    assert pr.past_prediction_errors(store, "pneu").n == 3
    everywhere = pr.past_prediction_errors(store)
    assert everywhere.n == 4 and everywhere.median == pytest.approx(0.075)
    assert everywhere.describe().endswith("over 4 runs")

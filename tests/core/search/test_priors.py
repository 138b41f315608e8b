"""Expected accuracy: the user's own runs (with an interval), the paper as a weak labelled prior,
and unknown (None) when neither knows the model, never chance level."""

from __future__ import annotations

import pytest

from pepr_desktop.core.data.sources import DatasetInfo
from pepr_desktop.core.scoring.paper import paper_models
from pepr_desktop.core.search import priors
from pepr_desktop.core.training.config import TrainConfig


def cfg(**kw):
    return TrainConfig(dataset="pneu", model="", device="cpu", **kw)


def add_run(store, model, acc, status="finished", **config):
    c = TrainConfig(dataset="pneu", model=model, **config).to_dict()
    rid = store.create_run(dataset="pneu", model=model, config=c, status=status)
    store.update_run(rid, test_acc=acc, status=status)


def test_paper_prior_is_weak_and_labelled(info, store):
    acc, exp = priors.expected_accuracy(["resnet18d", "lcnet_050"], info, store, cfg())
    assert exp == "pneumonia"
    paper = {m.model: m.test_acc for m in paper_models("pneumonia")}
    est = acc["resnet18d"]
    assert est.value == paper["resnet18d"] and est.source == priors.PAPER
    assert est.low == pytest.approx(paper["resnet18d"] - priors.PAPER_HALF_WIDTH)
    assert est.high == min(1.0, paper["resnet18d"] + priors.PAPER_HALF_WIDTH)
    assert "'pneumonia'" in est.note and "paper prior" in est.describe()
    # not in the paper and never run here: unknown, not a family median
    assert acc["lcnet_050"].value is None and acc["lcnet_050"].source == priors.UNKNOWN
    assert acc["lcnet_050"].describe().startswith("unknown (")
    assert priors.paper_experiment(info, cfg(data_fraction=0.1)) == "pneumonia_small"


def test_own_runs_win_with_an_interval_from_their_spread(info, store):
    add_run(store, "resnet18d", 0.70, epochs=10)
    add_run(store, "resnet18d", 0.80, epochs=10)
    add_run(store, "resnet18d", 0.20, epochs=2)  # other settings: not used while same ones exist
    add_run(store, "resnet18d", 0.99, status="stopped", epochs=10)  # not finished: not used
    acc, _ = priors.expected_accuracy(["resnet18d"], info, store, cfg(epochs=10))
    est = acc["resnet18d"]
    assert est.source == priors.OWN and est.n_runs == 2
    assert est.value == pytest.approx(0.75)
    spread = 2 * 0.0707106781  # 2 x the standard deviation of (0.7, 0.8)
    assert est.low == pytest.approx(0.75 - spread) and est.high == pytest.approx(0.75 + spread)
    assert "your 2 runs" in est.note and "same epochs" in est.note
    # with 5 epochs no run matches: all finished runs, labelled as other settings
    acc, _ = priors.expected_accuracy(["resnet18d"], info, store, cfg(epochs=5))
    assert acc["resnet18d"].n_runs == 3 and "other settings" in acc["resnet18d"].note


def test_one_run_gets_the_stated_spread(info, store):
    add_run(store, "lcnet_050", 0.69)
    est = priors.expected_accuracy(["lcnet_050"], info, store, cfg())[0]["lcnet_050"]
    assert (est.value, est.source) == (0.69, priors.OWN)
    assert est.high - est.value == pytest.approx(priors.ONE_RUN_HALF_WIDTH)


def test_unknown_outside_the_papers_tasks(store):
    other = DatasetInfo(
        name="x",
        source="imported",
        path=None,
        n_classes=5,
        channels=1,
        image_size=28,
        task="multi-class",
    )
    acc, exp = priors.expected_accuracy(["resnet18"], other, None, cfg())
    assert exp is None
    assert acc["resnet18"].value is None and acc["resnet18"].low is None  # not 0.2 = 1/5
    assert "no paper experiment" in acc["resnet18"].note


def test_widen_stretches_only_narrower_intervals():
    est = priors.AccuracyEstimate(0.9, 0.85, 0.95, priors.OWN, "x", 2)
    wide = priors.widen(est, 0.2)
    assert (wide.low, wide.high) == (pytest.approx(0.7), 1.0) and "widened" in wide.note
    assert priors.widen(wide, 0.1) is wide and priors.widen(est, None) is est
    unknown = priors.unknown("nothing")
    assert priors.widen(unknown, 0.3) is unknown

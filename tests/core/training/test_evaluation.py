"""Per-class evaluation against scikit-learn on fixed prediction sets, and stored with a run."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn import metrics as skm

from pepr_desktop.core.training.evaluation import (
    evaluate_predictions,
    per_class_metrics,
    roc_curve,
)


def _probs(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), labels] += 1.0  # better than chance, not perfect
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return p.round(2), labels  # rounding makes ties, which ROC must handle like sklearn


@pytest.mark.parametrize("k", [2, 3, 5])
def test_per_class_metrics_match_sklearn(k: int) -> None:
    probs, y = _probs(400, k, seed=k)
    ev = evaluate_predictions(probs, y, [f"c{i}" for i in range(k)])
    pred = probs.argmax(1)
    np.testing.assert_array_equal(ev["confusion"], skm.confusion_matrix(y, pred, labels=range(k)))
    p, r, f, s = skm.precision_recall_fscore_support(y, pred, labels=range(k), zero_division=0)
    pc = ev["per_class"]
    np.testing.assert_allclose(pc["precision"], p, atol=1e-12)
    np.testing.assert_allclose(pc["recall"], r, atol=1e-12)
    np.testing.assert_allclose(pc["f1"], f, atol=1e-12)
    assert pc["support"] == s.tolist()
    for avg in ("macro", "weighted"):
        ap, ar, af, _ = skm.precision_recall_fscore_support(
            y, pred, labels=range(k), average=avg, zero_division=0
        )
        assert ev[avg] == pytest.approx({"precision": ap, "recall": ar, "f1": af}, abs=1e-12)
    assert ev["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    wrong = np.flatnonzero(pred != y)
    assert ev["misclassified"]["count"] == len(wrong)
    assert ev["misclassified"]["index"] == wrong.tolist()
    assert (ev["roc"] is not None) == (k == 2)
    json.dumps(ev, allow_nan=False)  # storable as strict JSON


def test_binary_roc_matches_sklearn() -> None:
    probs, y = _probs(300, 2, seed=7)
    fpr, tpr, thr = roc_curve(y, probs[:, 1])
    sf, st, sthr = skm.roc_curve(y, probs[:, 1], drop_intermediate=False)
    np.testing.assert_allclose(fpr, sf)
    np.testing.assert_allclose(tpr, st)
    np.testing.assert_allclose(thr[1:], sthr[1:])
    ev = evaluate_predictions(probs, y, ["neg", "pos"], max_roc_points=50)
    roc = ev["roc"]
    assert roc["auc"] == pytest.approx(skm.roc_auc_score(y, probs[:, 1]), abs=1e-12)
    assert len(roc["fpr"]) <= 50 and roc["fpr"][0] == 0 and roc["tpr"][-1] == 1.0
    assert roc["thresholds"][0] is None and roc["positive_class"] == "pos"


def test_one_class_only_and_absent_predictions() -> None:
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3]])
    ev = evaluate_predictions(probs, np.zeros(3, dtype=int), ["a", "b"])
    assert ev["roc"] is None  # AUC undefined with one class present
    assert ev["per_class"]["precision"] == [1.0, 0.0]  # 'b' never predicted: 0, not NaN
    assert ev["per_class"]["support"] == [3, 0]
    with pytest.raises(ValueError):
        evaluate_predictions(probs, np.zeros(3, dtype=int), ["a", "b", "c"])


def test_per_class_from_confusion() -> None:
    cm = np.array([[5, 1], [2, 8]])
    m = per_class_metrics(cm)
    assert m["precision"] == pytest.approx([5 / 7, 8 / 9])
    assert m["recall"] == pytest.approx([5 / 6, 8 / 10])


def test_finished_run_stores_evaluation(store) -> None:
    """A real (tiny) training run: its stored evaluation describes the final model's test split."""
    from pepr_desktop.core.training.config import TrainConfig
    from pepr_desktop.core.training.runner import execute

    cfg = TrainConfig(
        dataset="sample", model="mobilenetv3_small_050", epochs=1, data_fraction=0.06, device="cpu"
    )
    events = list(execute(cfg, store))
    fin = events[-1]
    assert fin.status == "finished" and fin.evaluation is not None
    run = store.get_run(fin.run_id)
    ev = run["evaluation"]
    assert ev == json.loads(json.dumps(fin.evaluation))
    assert ev["n"] == 156 and np.sum(ev["confusion"]) == 156  # the sample's test split
    assert ev["per_class"]["support"] == [58, 98]
    assert ev["accuracy"] == pytest.approx(run["test_acc"])  # same final model, same images
    assert ev["roc"]["auc"] == pytest.approx(run["test_auc"])

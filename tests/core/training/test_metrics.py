"""The training loop's per-epoch metrics (core/training/metrics.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pepr_desktop.core.training.metrics import classification_metrics, split_metrics
from pepr_desktop.core.training.tensors import Normalizer, to_tensors


def test_metrics_match_hand_computed_values() -> None:
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    labels = np.array([0, 1, 1, 1])
    m = classification_metrics(probs, labels)
    assert m["acc"] == 0.75
    assert m["bacc"] == pytest.approx((1.0 + 2 / 3) / 2)
    assert m["auc"] == pytest.approx(1.0)  # every positive scores above the negative
    assert classification_metrics(probs[1:2], labels[1:2])["auc"] is None  # one class: undefined


class _Brightness(torch.nn.Module):
    """Class 1 when the image is bright: a model whose predictions are known in advance."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = x.mean(dim=(1, 2, 3))
        return torch.stack([-m, m], 1) * 10


def test_split_metrics_keys_each_split_and_skips_a_missing_one() -> None:
    images = np.array([np.full((4, 4), v, np.uint8) for v in (0, 10, 250, 240, 20)])
    labels = np.array([0, 0, 1, 1, 1])  # the last one is dark: predicted 0, wrongly
    split = to_tensors(images, labels, "cpu")
    norm = Normalizer((0.5,), (0.5,), None, "cpu")
    m = split_metrics(_Brightness(), {"val": split, "test": None}, norm, batch_size=2)
    assert set(m) == {"val_acc", "val_bacc", "val_auc"}
    assert m["val_acc"] == pytest.approx(4 / 5)
    assert m["val_bacc"] == pytest.approx((1.0 + 2 / 3) / 2)


@pytest.mark.parametrize("k", [2, 3, 5])
def test_metrics_match_sklearn_with_ties_and_missing_predictions(k: int) -> None:
    from sklearn import metrics as skm

    rng = np.random.default_rng(k)
    labels = rng.integers(0, k, 500)
    logits = rng.normal(size=(500, k))
    logits[np.arange(500), labels] += 0.8
    probs = (np.exp(logits) / np.exp(logits).sum(1, keepdims=True)).round(2)  # ties
    probs /= probs.sum(1, keepdims=True)
    probs[:40] = np.eye(k)[0]  # a block predicted as class 0 with equal scores
    m = classification_metrics(probs, labels)
    pred = probs.argmax(1)
    assert m["acc"] == pytest.approx(skm.accuracy_score(labels, pred), abs=1e-12)
    assert m["bacc"] == pytest.approx(skm.balanced_accuracy_score(labels, pred), abs=1e-12)
    want = (
        skm.roc_auc_score(labels, probs[:, 1])
        if k == 2
        else skm.roc_auc_score(labels, probs, multi_class="ovr")
    )
    assert m["auc"] == pytest.approx(want, abs=1e-9)


def test_balanced_accuracy_ignores_classes_only_predicted() -> None:
    from sklearn import metrics as skm

    labels = np.array([0, 0, 1, 1])
    probs = np.eye(3)[[0, 2, 1, 1]]  # class 2 is predicted but never true
    m = classification_metrics(probs, labels)
    assert m["bacc"] == pytest.approx(skm.balanced_accuracy_score(labels, probs.argmax(1)))
    assert m["auc"] is None  # a 3-class split without class 2: undefined, not a guess


def test_the_training_path_does_not_import_sklearn() -> None:
    """Importing scikit-learn from the worker thread froze the GUI for ~0.25 s (issue 19)."""
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from pepr_desktop.core.training.metrics import classification_metrics\n"
        "from pepr_desktop.core.training.evaluation import evaluate_predictions\n"
        "p = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]); y = np.array([0, 1, 1])\n"
        "classification_metrics(p, y); evaluate_predictions(p, y, ['a', 'b'])\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'scipy')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

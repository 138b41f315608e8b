"""The training loop's per-epoch figures: accuracy, balanced accuracy and ROC AUC on each split.

The per-class report of a finished run (confusion matrix, precision/recall, ROC) is
core/training/evaluation.py; these are the few numbers the loop records every epoch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from pepr_desktop.core.training.evaluation import auc_trapezoid, confusion_matrix, roc_curve

if TYPE_CHECKING:
    from pepr_desktop.core.training.tensors import Normalizer, Tensors


def classification_metrics(probs: np.ndarray, labels: np.ndarray) -> dict[str, float | None]:
    """Accuracy, balanced accuracy and ROC AUC (None when undefined: one class present, or a
    multi-class split that lacks a class), as scikit-learn defines them (`balanced_accuracy_score`;
    `roc_auc_score`, one-vs-rest macro for more than two classes). NumPy only: see
    core/training/evaluation.py for why the training path does not import scikit-learn."""
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64).ravel()
    k = probs.shape[1]
    pred = probs.argmax(1)
    present = np.unique(labels)
    cm = confusion_matrix(labels, pred, max(k, int(labels.max(initial=0)) + 1))
    recall = np.diag(cm)[present] / cm.sum(1)[present]  # per class that occurs in `labels`
    out: dict[str, float | None] = {
        "acc": float((pred == labels).mean()),
        "bacc": float(recall.mean()),
        "auc": None,
    }
    if len(present) >= 2 and np.all(np.isfinite(probs)):
        if k == 2:
            out["auc"] = _auc(labels == 1, probs[:, 1])
        elif len(present) == k:
            out["auc"] = float(np.mean([_auc(labels == c, probs[:, c]) for c in range(k)]))
    return out


def _auc(positive: np.ndarray, scores: np.ndarray) -> float:
    fpr, tpr, _ = roc_curve(positive.astype(np.int64), scores)
    return auc_trapezoid(fpr, tpr)


def evaluate(model: Any, split: Tensors, norm: Normalizer, batch_size: int) -> dict[str, Any]:
    """`classification_metrics` of `model` on one split, in batches without gradients."""
    import torch

    model.eval()
    probs = []
    with torch.inference_mode():
        for i in range(0, len(split), batch_size):
            logits = model(norm(split.x[i : i + batch_size]))
            probs.append(torch.softmax(logits.float(), 1))
    p = torch.cat(probs).cpu().numpy()
    return classification_metrics(p, split.y.cpu().numpy())


def split_metrics(
    model: Any, splits: dict[str, Tensors | None], norm: Normalizer, batch_size: int
) -> dict[str, float | None]:
    """`evaluate` on each split, keyed "<split>_<metric>" (val_acc, test_auc...); a split that is
    None is left out (the tuner trains without the test split)."""
    metrics: dict[str, float | None] = {}
    for split_name, split in splits.items():
        if split is None:
            continue
        for k, v in evaluate(model, split, norm, batch_size).items():
            metrics[f"{split_name}_{k}"] = v
    return metrics

"""The training loop's per-epoch figures: accuracy, balanced accuracy and ROC AUC on each split.

The per-class report of a finished run (confusion matrix, precision/recall, ROC) is
core/training/evaluation.py; these are the few numbers the loop records every epoch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from pepr_desktop.core.training.tensors import Normalizer, Tensors


def classification_metrics(probs: np.ndarray, labels: np.ndarray) -> dict[str, float | None]:
    """Accuracy, balanced accuracy and ROC AUC (None when undefined: one class present)."""
    from sklearn.metrics import balanced_accuracy_score, roc_auc_score

    pred = probs.argmax(1)
    out: dict[str, float | None] = {
        "acc": float((pred == labels).mean()),
        "bacc": float(balanced_accuracy_score(labels, pred)),
        "auc": None,
    }
    present = np.unique(labels)
    if len(present) >= 2:
        try:
            if probs.shape[1] == 2:
                out["auc"] = float(roc_auc_score(labels, probs[:, 1]))
            elif len(present) == probs.shape[1]:
                out["auc"] = float(roc_auc_score(labels, probs, multi_class="ovr"))
        except ValueError:
            out["auc"] = None
    return out


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

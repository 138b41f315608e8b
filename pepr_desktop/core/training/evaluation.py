"""Per-class evaluation of a trained model: confusion matrix, precision/recall/F1, ROC (binary).

Accuracy alone hides what a lab needs to know about an imbalanced medical dataset (a model that
calls every X-ray "pneumonia" scores 62% on PneumoniaMNIST's test split). The figures are
scikit-learn's definitions (tests check them against `sklearn.metrics`), computed here in NumPy
from the predicted probabilities and stored as JSON with every finished run (`runs.evaluation`).
NumPy, not scikit-learn, because importing scikit-learn (and SciPy under it) from the worker
thread holds the GIL in its extension modules for ~0.25 s: the GUI froze for that long at a
run's first evaluation (issue 19, `bench_gui.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

MAX_ROC_POINTS = 200  # enough for a smooth curve; the AUC is computed from the full curve
MAX_MISCLASSIFIED = 500  # indices kept for browsing; the counts are in the confusion matrix


def confusion_matrix(labels: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Rows: true class, columns: predicted class (every class, even one never seen); pairs
    with a class outside 0..n_classes-1 are left out, as scikit-learn does with `labels=`."""
    labels = np.asarray(labels, dtype=np.int64).ravel()
    pred = np.asarray(pred, dtype=np.int64).ravel()
    ok = (labels >= 0) & (labels < n_classes) & (pred >= 0) & (pred < n_classes)
    flat = labels[ok] * n_classes + pred[ok]
    return np.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, 0 where den is 0 (scikit-learn's zero_division=0)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def per_class_metrics(cm: np.ndarray) -> dict[str, list[float] | list[int]]:
    """Precision, recall, F1 and support per class from a confusion matrix (0 where a class is
    never predicted or absent: scikit-learn's zero_division=0)."""
    cm = np.asarray(cm, dtype=np.int64)
    tp = np.diag(cm)
    predicted, support = cm.sum(0), cm.sum(1)
    return {
        "precision": _ratio(tp, predicted).tolist(),
        "recall": _ratio(tp, support).tolist(),
        "f1": _ratio(2 * tp, predicted + support).tolist(),  # 2TP / (2TP + FP + FN)
        "support": support.astype(int).tolist(),
    }


def roc_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, ...]:
    """False/true positive rates and thresholds at every distinct score, highest first, from
    the leading (0, 0) point at threshold +inf (scikit-learn's, drop_intermediate=False). Tied
    scores are one point, so a tie counts half, as in the Mann-Whitney form of the AUC."""
    positive = (np.asarray(labels).ravel() == 1).astype(np.float64)
    scores = np.asarray(scores, dtype=np.float64).ravel()
    order = np.argsort(scores, kind="mergesort")[::-1]
    s, y = scores[order], positive[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tps = np.r_[0.0, np.cumsum(y)[last_of_tie]]
    fps = np.r_[0.0, 1.0 + last_of_tie - tps[1:]]
    with np.errstate(invalid="ignore", divide="ignore"):  # one class only: NaN, as sklearn
        fpr, tpr = fps / fps[-1], tps / tps[-1]
    return fpr, tpr, np.r_[np.inf, s[last_of_tie]]


def auc_trapezoid(fpr: np.ndarray, tpr: np.ndarray) -> float:
    """Area under a curve whose x only grows (an ROC curve), by the trapezoid rule."""
    x, y = np.asarray(fpr, dtype=np.float64), np.asarray(tpr, dtype=np.float64)
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2))


def _thin(n: int, max_points: int) -> np.ndarray:
    """Indices of at most `max_points` evenly spread points, first and last kept."""
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_points).round().astype(int))


def evaluate_predictions(
    probs: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    *,
    split: str = "test",
    max_roc_points: int = MAX_ROC_POINTS,
) -> dict[str, Any]:
    """Everything the run details, `pepr runs --show` and the confusion widget show, as JSON.

    `probs` is (N, K) softmax output, `labels` (N,) true classes. The ROC curve is given for
    binary tasks (positive class: index 1); its AUC comes from every point, while at most
    `max_roc_points` points are stored for drawing.
    """
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    k = len(class_names)
    if probs.ndim != 2 or probs.shape[1] != k or len(probs) != len(labels):
        raise ValueError(
            f"probabilities of shape {probs.shape} do not fit {len(labels)} labels of {k} classes"
        )
    pred = probs.argmax(1)
    cm = confusion_matrix(labels, pred, k)
    pcm = per_class_metrics(cm)
    support = np.asarray(pcm["support"], dtype=np.float64)
    n = max(int(support.sum()), 1)
    out: dict[str, Any] = {
        "split": split,
        "n": len(labels),
        "class_names": list(class_names),
        "confusion": cm.tolist(),
        "per_class": pcm,
        "accuracy": float(np.trace(cm) / n),
        "macro": {m: float(np.mean(pcm[m])) for m in ("precision", "recall", "f1")},
        "weighted": {m: float(np.dot(pcm[m], support) / n) for m in ("precision", "recall", "f1")},
        "roc": None,
    }
    if k == 2 and 0 < labels.sum() < len(labels):
        fpr, tpr, thr = roc_curve(labels, probs[:, 1])
        keep = _thin(len(fpr), max_roc_points)
        out["roc"] = {
            "positive_class": class_names[1],
            "auc": auc_trapezoid(fpr, tpr),
            "fpr": fpr[keep].tolist(),
            "tpr": tpr[keep].tolist(),
            # +inf is not JSON: the first threshold is stored as null
            "thresholds": [None if not np.isfinite(t) else float(t) for t in thr[keep]],
        }
    wrong = np.flatnonzero(pred != labels)
    out["misclassified"] = {
        "count": len(wrong),
        "index": wrong[:MAX_MISCLASSIFIED].tolist(),
        "true": labels[wrong[:MAX_MISCLASSIFIED]].tolist(),
        "pred": pred[wrong[:MAX_MISCLASSIFIED]].tolist(),
        "confidence": probs[wrong[:MAX_MISCLASSIFIED], pred[wrong[:MAX_MISCLASSIFIED]]]
        .round(4)
        .tolist(),
    }
    return out


def predict_probs(model: Any, split: Any, norm: Any, batch_size: int = 256) -> np.ndarray:
    """Softmax outputs of `model` over a split of device tensors (core/training/train.py
    `Tensors`)."""
    import torch

    model.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(split), batch_size):
            out.append(torch.softmax(model(norm(split.x[i : i + batch_size])).float(), 1))
    return torch.cat(out).cpu().numpy()


def evaluate_prepared(prepared: Any, batch_size: int = 256) -> dict[str, Any]:
    """Per-class evaluation of a trained `Prepared` (core/training/train.py) on its test split."""
    probs = predict_probs(prepared.model, prepared.test, prepared.norm, batch_size)
    return evaluate_predictions(probs, prepared.test.y.cpu().numpy(), prepared.class_names)


def safe_evaluate(prepared: Any, run_id: int, batch_size: int = 256) -> dict[str, Any] | None:
    """`evaluate_prepared`, or None (logged) on failure: the run's own figures are already safe,
    so the per-class details must never turn a finished run into a failed one."""
    if getattr(prepared, "test", None) is None:  # trained without a test split (a search trial)
        return None
    try:
        return evaluate_prepared(prepared, batch_size)
    except Exception:
        log.exception("per-class evaluation of run %s failed", run_id)
        return None

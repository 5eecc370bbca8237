"""Classification metrics: accuracy, per-class precision/recall/F1, macro-F1, confusion matrix.

Scores follow scikit-learn's `precision_recall_fscore_support(labels=...,
zero_division=0)`: only the given labels are scored, a label with no gold and
no predicted examples scores 0 and still counts in the macro average, and
pairs whose gold or predicted label is outside `labels` are left out of the
confusion matrix (they still count as errors for accuracy and as missed/false
examples of the label that is in `labels`).

Example:

>>> accuracy(["a", "b", "a"], ["a", "a", "a"])
0.6666666666666666
>>> round(macro_f1(["a", "b", "a"], ["a", "a", "a"], labels=["a", "b"]), 4)
0.4
>>> confusion_matrix(["a", "b", "a"], ["a", "a", "a"], labels=["a", "b"]).tolist()
[[2, 0], [1, 0]]
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Hashable, Sequence

import numpy as np

from components.evaluator.metrics import check_lengths


def _check_labels(labels: Sequence[Hashable]) -> list:
    labels = list(labels)
    if len(set(labels)) != len(labels):
        duplicates = sorted({str(x) for x in labels if labels.count(x) > 1})
        raise ValueError(f"labels must be unique. Received duplicates: {duplicates}")
    return labels


def accuracy(y_true: Sequence[Hashable], y_pred: Sequence[Hashable]) -> float:
    """Fraction of examples whose predicted label equals the gold label (0.0 when empty)."""
    check_lengths(y_true=y_true, y_pred=y_pred)
    if not len(y_true):
        return 0.0
    return sum(t == p for t, p in zip(y_true, y_pred)) / len(y_true)


def confusion_matrix(
    y_true: Sequence[Hashable], y_pred: Sequence[Hashable], labels: Sequence[Hashable]
) -> np.ndarray:
    """(len(labels), len(labels)) int64 counts: row = gold label, column = predicted label.

    Pairs where either label is not in `labels` are not counted.
    """
    check_lengths(y_true=y_true, y_pred=y_pred)
    labels = _check_labels(labels)
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for t, p in zip(y_true, y_pred):
        if t in index and p in index:
            matrix[index[t], index[p]] += 1
    return matrix


def per_class_scores(
    y_true: Sequence[Hashable], y_pred: Sequence[Hashable], labels: Sequence[Hashable]
) -> dict[Hashable, dict[str, float]]:
    """{label: {"precision", "recall", "f1", "support"}}, 0.0 where a ratio is undefined.

    `support` is the number of gold examples of the label.
    """
    check_lengths(y_true=y_true, y_pred=y_pred)
    labels = _check_labels(labels)
    correct = Counter(t for t, p in zip(y_true, y_pred) if t == p)
    predicted_counts, gold_counts = Counter(y_pred), Counter(y_true)
    scores = {}
    for label in labels:
        tp, predicted, support = correct[label], predicted_counts[label], gold_counts[label]
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        denominator = predicted + support  # 2 tp + fp + fn
        scores[label] = {
            "precision": precision,
            "recall": recall,
            "f1": 2 * tp / denominator if denominator else 0.0,
            "support": support,
        }
    return scores


def macro_f1(
    y_true: Sequence[Hashable], y_pred: Sequence[Hashable], labels: Sequence[Hashable]
) -> float:
    """Unweighted mean of the per-class F1 over `labels` (0.0 when `labels` is empty)."""
    scores = per_class_scores(y_true, y_pred, labels)
    return float(np.mean([s["f1"] for s in scores.values()])) if scores else 0.0


def compute_classification_metrics(
    y_true: Sequence[Hashable],
    y_pred: Sequence[Hashable],
    labels: Sequence[Hashable] | None = None,
) -> dict[str, Any]:
    """All classification metrics for one split, JSON-serializable.

    Args:
        y_true: gold labels, one per example.
        y_pred: predicted labels, one per example.
        labels: the classes to score, in confusion-matrix order (usually the
            label vocabulary); defaults to the sorted labels seen in either list.

    Returns:
        {"num_examples", "accuracy", "macro_f1", "labels",
        "per_class": {str(label): {"precision", "recall", "f1", "support"}},
        "confusion_matrix": rows of gold, columns of predicted counts}.
    """
    check_lengths(y_true=y_true, y_pred=y_pred)
    labels = _check_labels(sorted(set(y_true) | set(y_pred)) if labels is None else labels)
    per_class = per_class_scores(y_true, y_pred, labels)
    return {
        "num_examples": len(y_true),
        "accuracy": accuracy(y_true, y_pred),
        "macro_f1": float(np.mean([s["f1"] for s in per_class.values()])) if per_class else 0.0,
        "labels": [str(label) for label in labels],
        "per_class": {str(label): s for label, s in per_class.items()},
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels).tolist(),
    }

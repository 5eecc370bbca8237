"""Classification metrics against hand-computed cases and scikit-learn; the confusion-matrix PNG."""

import numpy as np
import pytest
from sklearn import metrics as skm

from components.evaluator import classification_metrics as cm
from components.plots import plot_confusion_matrix


def test_hand_computed_case():
    y_true = ["pos", "pos", "neg", "neg", "neu"]
    y_pred = ["pos", "neg", "neg", "neg", "pos"]
    labels = ["neg", "neu", "pos"]
    assert cm.accuracy(y_true, y_pred) == pytest.approx(3 / 5)
    assert cm.confusion_matrix(y_true, y_pred, labels).tolist() == [[2, 0, 0], [0, 0, 1], [1, 0, 1]]
    scores = cm.per_class_scores(y_true, y_pred, labels)
    # neg: tp 2, predicted 3, gold 2; neu: nothing right; pos: tp 1, predicted 2, gold 2.
    assert scores["neg"] == pytest.approx({"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2})
    assert scores["neu"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert scores["pos"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    assert cm.macro_f1(y_true, y_pred, labels) == pytest.approx((0.8 + 0.0 + 0.5) / 3)


def test_matches_sklearn_with_absent_and_unlisted_labels():
    # "z" has no gold and no predictions (scores 0, still averaged); "other" is not in labels.
    y_true = ["a", "b", "a", "c", "other", "b"]
    y_pred = ["a", "a", "other", "c", "b", "b"]
    labels = ["a", "b", "c", "z"]
    kwargs = {"labels": labels, "zero_division": 0}
    assert cm.macro_f1(y_true, y_pred, labels) == pytest.approx(
        skm.f1_score(y_true, y_pred, average="macro", **kwargs), abs=1e-12)
    precision, recall, f1, support = skm.precision_recall_fscore_support(y_true, y_pred, **kwargs)
    scores = cm.per_class_scores(y_true, y_pred, labels)
    for i, label in enumerate(labels):
        assert scores[label]["precision"] == pytest.approx(precision[i], abs=1e-12)
        assert scores[label]["recall"] == pytest.approx(recall[i], abs=1e-12)
        assert scores[label]["f1"] == pytest.approx(f1[i], abs=1e-12)
        assert scores[label]["support"] == support[i]
    np.testing.assert_array_equal(
        cm.confusion_matrix(y_true, y_pred, labels), skm.confusion_matrix(y_true, y_pred, labels=labels))


@pytest.mark.parametrize("seed", range(5))
def test_random_labels_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    names = ["sports", "politics", "science", "arts", "misc"]
    y_true = rng.choice(names, size=300).tolist()
    y_pred = [t if rng.random() < 0.6 else str(rng.choice(names)) for t in y_true]
    labels = names[: 3 + seed % 3]  # sometimes a subset of the labels seen
    assert cm.accuracy(y_true, y_pred) == pytest.approx(skm.accuracy_score(y_true, y_pred), abs=1e-12)
    assert cm.macro_f1(y_true, y_pred, labels) == pytest.approx(
        skm.f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0), abs=1e-12)
    matrix = cm.confusion_matrix(y_true, y_pred, labels)
    assert matrix.dtype == np.int64
    np.testing.assert_array_equal(matrix, skm.confusion_matrix(y_true, y_pred, labels=labels))


def test_integer_labels_and_empty_input():
    assert cm.macro_f1([0, 1, 2, 2], [0, 2, 2, 2], labels=[0, 1, 2]) == pytest.approx(
        skm.f1_score([0, 1, 2, 2], [0, 2, 2, 2], average="macro", zero_division=0), abs=1e-12)
    assert cm.accuracy([], []) == 0.0
    assert cm.macro_f1([], [], labels=[]) == 0.0
    assert cm.confusion_matrix([], [], labels=["a"]).tolist() == [[0]]


def test_compute_classification_metrics_is_json_ready():
    import json

    result = cm.compute_classification_metrics(["b", "a", "a"], ["b", "b", "a"])
    assert result["labels"] == ["a", "b"]  # sorted union by default
    assert result["num_examples"] == 3
    assert result["accuracy"] == pytest.approx(2 / 3)
    assert result["confusion_matrix"] == [[1, 1], [0, 1]]
    assert result["macro_f1"] == pytest.approx((2 / 3 + 2 / 3) / 2)
    assert set(result["per_class"]) == {"a", "b"}
    assert json.loads(json.dumps(result)) == result


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="same length"):
        cm.accuracy(["a"], [])
    with pytest.raises(ValueError, match="unique"):
        cm.confusion_matrix(["a"], ["a"], labels=["a", "a"])


@pytest.mark.parametrize("normalize", [True, False])
def test_plot_confusion_matrix_writes_png(tmp_path, normalize):
    import matplotlib.image

    labels = ["short", "a much longer class name", "c"]
    matrix = cm.confusion_matrix(["short", "c", "c", "short"], ["short", "c", "short", "short"], labels)
    path = tmp_path / "confusion.png"
    plot_confusion_matrix(matrix, labels, path, normalize=normalize)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(path)
    assert image.shape[0] >= 300 and image.shape[1] >= 300
    with pytest.raises(ValueError, match="square"):
        plot_confusion_matrix(matrix, labels[:2], tmp_path / "bad.png")

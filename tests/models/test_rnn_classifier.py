
import keras
import numpy as np
import pytest

from models.networks.rnn_classifier import RNNClassifier
from tests.models.layer_checks import assert_float32_logits_under_mixed_precision, assert_model_round_trip

SMALL = dict(vocab_size=12, num_classes=3, embed_dim=8, units=8)


def _np(x):
    return keras.ops.convert_to_numpy(x)


def classification_data(n=32, time=6, seed=0):
    """Right-padded ids; the label is which of the marker tokens 4/5/6 the row holds."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(7, 12, size=(n, time)).astype("int32")
    labels = rng.integers(0, 3, size=n).astype("int32")
    ids[np.arange(n), rng.integers(0, 2, size=n)] = labels + 4
    lengths = rng.integers(3, time + 1, size=(n, 1))
    ids[np.arange(time)[None, :] >= lengths] = 0
    return ids, labels


@pytest.mark.fit
@pytest.mark.parametrize(
    "cell,bidirectional,pooling",
    [("lstm", True, "bidirectional_last"), ("gru", False, "attention")],
)
def test_overfits_tiny_separable_set(cell, bidirectional, pooling):
    keras.utils.set_random_seed(0)
    ids, labels = classification_data()
    model = RNNClassifier(**SMALL, cell=cell, bidirectional=bidirectional, pooling=pooling)
    model.compile(
        optimizer=keras.optimizers.Adam(0.05),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    history = model.fit(ids, labels, epochs=15, batch_size=32, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.2 * losses[0]
    np.testing.assert_array_equal(np.argmax(_np(model(ids)), -1), labels)


@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
def test_extra_padding_changes_nothing(pooling):
    ids, _ = classification_data(n=4)
    model = RNNClassifier(**SMALL, cell="simple", bidirectional=False, pooling=pooling)
    logits = _np(model(ids))
    np.testing.assert_allclose(_np(model(np.pad(ids, [(0, 0), (0, 3)]))), logits, atol=1e-5)


def test_keras_round_trip(tmp_path):
    ids, _ = classification_data(n=4)
    model = RNNClassifier(
        **SMALL, cell="gru", num_layers=2, pooling="attention", attention_units=4, dropout=0.1
    )
    assert_model_round_trip(model, ids, tmp_path)


def test_mixed_precision_logits_are_float32():
    ids, _ = classification_data(n=4)
    assert_float32_logits_under_mixed_precision(lambda: RNNClassifier(**SMALL, pooling="max"), ids)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="Received: pooling='sum'"):
        RNNClassifier(**SMALL, pooling="sum")
    with pytest.raises(ValueError, match="needs a bidirectional RNN"):
        RNNClassifier(**SMALL, bidirectional=False, pooling="bidirectional_last")
    with pytest.raises(ValueError, match="Received: cell='rnn'"):
        RNNClassifier(**SMALL, cell="rnn")


def test_registered_family():
    from models.registry import build_model

    model = build_model("rnn_classifier", **SMALL, pooling="mean")
    assert isinstance(model, RNNClassifier) and model.pooling == "mean"

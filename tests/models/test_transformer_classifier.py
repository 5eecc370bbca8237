
import keras
import numpy as np
import pytest

from models.networks.transformer_classifier import TransformerClassifier
from tests.models.layer_checks import assert_float32_logits_under_mixed_precision, assert_model_round_trip
from tests.models.test_rnn_classifier import classification_data

SMALL = dict(vocab_size=12, num_classes=3, embed_dim=8, num_heads=2, ff_dim=16, max_length=10)


def _np(x):
    return keras.ops.convert_to_numpy(x)


@pytest.mark.fit
@pytest.mark.parametrize(
    "positions,pooling", [("sinusoidal", "cls"), ("learned", "mean")]
)
def test_overfits_tiny_separable_set(positions, pooling):
    keras.utils.set_random_seed(0)
    ids, labels = classification_data()
    model = TransformerClassifier(
        **SMALL, num_layers=1, positions=positions, pooling=pooling, dropout=0.0
    )
    if pooling == "cls":
        ids = _np(model.prepend_cls(ids))
    model.compile(
        optimizer=keras.optimizers.Adam(0.02),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    history = model.fit(ids, labels, epochs=30, batch_size=32, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.2 * losses[0]
    np.testing.assert_array_equal(np.argmax(_np(model(ids)), -1), labels)


def test_prepend_cls_and_padding_is_ignored():
    ids, _ = classification_data(n=4)
    model = TransformerClassifier(**SMALL, num_layers=2)
    with_cls = _np(model.prepend_cls(ids))
    assert with_cls.shape == (4, 7) and np.all(with_cls[:, 0] == 4)
    np.testing.assert_array_equal(with_cls[:, 1:], ids)
    logits = _np(model(with_cls))
    padded = np.pad(with_cls, [(0, 0), (0, 3)])
    np.testing.assert_allclose(_np(model(padded)), logits, atol=1e-5)


def test_keras_round_trip(tmp_path):
    ids, _ = classification_data(n=4)
    model = TransformerClassifier(**SMALL, positions="learned", cls_id=5)
    ids = _np(model.prepend_cls(ids))
    assert_model_round_trip(model, ids, tmp_path)


def test_mixed_precision_logits_are_float32():
    ids, _ = classification_data(n=4)
    assert_float32_logits_under_mixed_precision(lambda: TransformerClassifier(**SMALL, pooling="mean"), ids)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="divisible by `num_heads`"):
        TransformerClassifier(**{**SMALL, "num_heads": 3})
    with pytest.raises(ValueError, match="Received: pooling='max'"):
        TransformerClassifier(**SMALL, pooling="max")
    with pytest.raises(ValueError, match="Received: positions='rotary'"):
        TransformerClassifier(**SMALL, positions="rotary")
    with pytest.raises(ValueError, match="Received: cls_id=12"):
        TransformerClassifier(**SMALL, cls_id=12)
    with pytest.raises(ValueError, match="at most max_length=10"):
        TransformerClassifier(**SMALL)(np.ones((2, 11), "int32"))


def test_registered_family():
    from models.registry import build_model

    model = build_model("transformer_classifier", **SMALL, pooling="mean")
    assert isinstance(model, TransformerClassifier) and model.cls_id == 4


def test_add_cls_prepends_inside_call():
    keras.utils.set_random_seed(3)
    ids = np.array([[5, 9, 7, 0], [8, 0, 0, 0]])
    plain = TransformerClassifier(**SMALL)
    inside = TransformerClassifier(**SMALL, add_cls=True)
    expected = _np(plain(plain.prepend_cls(ids)))  # builds `plain`
    inside(ids)
    inside.set_weights(plain.get_weights())
    np.testing.assert_allclose(_np(inside(ids)), expected, atol=1e-6)
    assert TransformerClassifier.from_config(inside.get_config()).add_cls


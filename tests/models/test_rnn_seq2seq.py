import os

import keras
import numpy as np
import pytest

from models.networks.rnn_seq2seq import AttentionSeq2Seq

SOURCE = np.array([[5, 6, 7, 8, 0], [9, 4, 0, 0, 0], [4, 5, 6, 7, 8]], "int32")
TARGET_IN = np.array([[2, 5, 6, 7, 8], [2, 9, 4, 3, 0], [2, 4, 5, 0, 0]], "int32")
SMALL = dict(
    source_vocab_size=12, target_vocab_size=13, embed_dim=8, units=8, attention_units=6
)


def _np(x):
    return keras.ops.convert_to_numpy(x)


@pytest.mark.parametrize(
    "cell,bidirectional,layers,attention",
    [("gru", True, 1, "bahdanau"), ("lstm", False, 2, "bahdanau"), ("gru", True, 1, "luong_general"),
     ("lstm", False, 1, "luong_dot")],
)
def test_teacher_forcing_equals_step_by_step(cell, bidirectional, layers, attention):
    model = AttentionSeq2Seq(
        **SMALL, cell=cell, bidirectional=bidirectional, encoder_layers=layers, attention=attention
    )
    logits = _np(model((SOURCE, TARGET_IN)))
    assert logits.shape == (3, 5, 13) and logits.dtype == np.float32
    states = model.encode(SOURCE)
    steps = []
    for t in range(TARGET_IN.shape[1]):
        step_logits, states, weights = model.decode_step(TARGET_IN[:, t], states)
        steps.append(_np(step_logits))
        assert tuple(weights.shape) == SOURCE.shape
        np.testing.assert_array_equal(_np(weights)[SOURCE == 0], 0.0)
    np.testing.assert_allclose(np.stack(steps, axis=1), logits, atol=1e-5)


@pytest.mark.parametrize("attention", ["bahdanau", "luong_general"])
def test_extra_source_padding_changes_nothing(attention):
    model = AttentionSeq2Seq(**SMALL, attention=attention)
    logits = _np(model((SOURCE, TARGET_IN)))
    padded = np.pad(SOURCE, [(0, 0), (0, 3)])
    np.testing.assert_allclose(_np(model((padded, TARGET_IN))), logits, atol=1e-5)


@pytest.mark.parametrize("attention", ["bahdanau", "luong_general"])
def test_keras_round_trip_and_config(tmp_path, attention):
    model = AttentionSeq2Seq(**SMALL, cell="lstm", dropout=0.1, attention=attention)
    logits = _np(model((SOURCE, TARGET_IN)))
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, AttentionSeq2Seq)
    assert restored.get_config() == model.get_config()
    np.testing.assert_allclose(_np(restored((SOURCE, TARGET_IN))), logits, atol=1e-6)
    step, _, _ = restored.decode_step(TARGET_IN[:, 0], restored.encode(SOURCE))
    np.testing.assert_allclose(_np(step), logits[:, 0], atol=1e-5)


def test_mixed_precision_logits_are_float32():
    original = keras.config.dtype_policy()
    try:
        keras.config.set_dtype_policy("mixed_float16")
        model = AttentionSeq2Seq(**SMALL)
        assert keras.backend.standardize_dtype(model((SOURCE, TARGET_IN)).dtype) == "float32"
        logits, states, weights = model.decode_step(TARGET_IN[:, 0], model.encode(SOURCE))
        assert keras.backend.standardize_dtype(logits.dtype) == "float32"
        assert keras.backend.standardize_dtype(weights.dtype) == "float32"
    finally:
        keras.config.set_dtype_policy(original)


@pytest.mark.fit
def test_fit_reduces_loss_on_copy_task():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    source = rng.integers(4, 12, size=(64, 4)).astype("int32")
    target = np.concatenate([source, np.full((64, 1), 3, "int32")], axis=1)
    target_in = np.concatenate([np.full((64, 1), 2, "int32"), target[:, :-1]], 1)
    model = AttentionSeq2Seq(**{**SMALL, "units": 16}, bidirectional=False)
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    history = model.fit((source, target_in), target, epochs=3, batch_size=32, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < losses[0]


def test_invalid_arguments():
    with pytest.raises(ValueError, match="Received: cell='rnn'"):
        AttentionSeq2Seq(**SMALL, cell="rnn")
    with pytest.raises(ValueError, match="Received: encoder_layers=0"):
        AttentionSeq2Seq(**SMALL, encoder_layers=0)


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="tf.function export is TF-only"
)
def test_encode_and_decode_step_trace_in_tf_function():
    import tensorflow as tf

    from models.decoding import Greedy, decode_seq2seq

    model = AttentionSeq2Seq(**SMALL, cell="lstm")
    model((SOURCE, TARGET_IN))

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)])
    def first_step(source_ids):
        states = model.encode(source_ids)
        batch = tf.shape(source_ids)[0]
        logits, _, weights = model.decode_step(tf.fill([batch], 2), states)
        return logits, weights

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)])
    def decode(source_ids):
        return decode_seq2seq(model, source_ids, Greedy(), max_length=4)

    for source in (SOURCE, SOURCE[:1, :3]):
        logits, weights = first_step(tf.constant(source))
        eager_logits, _, _ = model.decode_step(
            np.full((len(source),), 2, "int32"), model.encode(source)
        )
        np.testing.assert_allclose(logits.numpy(), _np(eager_logits), atol=1e-5)
        assert weights.shape == source.shape
        traced = decode(tf.constant(source))
        eager = decode_seq2seq(model, source, Greedy(), max_length=4)
        np.testing.assert_array_equal(traced["tokens"].numpy(), _np(eager["tokens"]))
        assert traced["extras"].shape == (len(source), 1, 4, source.shape[1])

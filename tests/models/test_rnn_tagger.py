import os

import keras
import numpy as np
import pytest

from models.layers.crf import CRF
from models.networks.rnn_tagger import RNNTagger

TAG_NAMES = ["[PAD]", "O", "B-PER", "I-PER"]
SMALL = dict(vocab_size=12, num_tags=4, embed_dim=8, units=8)


def _np(x):
    return keras.ops.convert_to_numpy(x)


def tagging_data(n=32, time=6, seed=0):
    """Right-padded word ids, their char ids, and tags that are a function of the word."""
    rng = np.random.default_rng(seed)
    words = rng.integers(1, 12, size=(n, time)).astype("int32")
    lengths = rng.integers(2, time + 1, size=(n, 1))
    words[np.arange(time)[None, :] >= lengths] = 0
    tags = np.where(words == 0, 0, words % 3 + 1).astype("int32")
    chars = np.stack([words % 9 + 1, (words * 7) % 9 + 1], axis=-1)  # (n, time, 2)
    chars = chars * (words[..., None] != 0)
    return words, chars.astype("int32"), tags


@pytest.mark.fit
@pytest.mark.parametrize(
    "output,chars", [("softmax", False), ("crf", True)]
)
def test_overfits_tiny_tagging_set(output, chars):
    keras.utils.set_random_seed(0)
    words, char_ids, tags = tagging_data()
    extra = dict(char_vocab_size=10, char_embed_dim=4, char_filters=4) if chars else {}
    model = RNNTagger(**SMALL, output=output, **extra)
    inputs = (words, char_ids) if chars else words
    model.compile(optimizer=keras.optimizers.Adam(0.05))  # no loss: tagging loss
    history = model.fit(inputs, tags, epochs=30, batch_size=32, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.2 * losses[0]
    predicted = _np(model.predict_tags(inputs))
    assert predicted.dtype == np.int32
    np.testing.assert_array_equal(predicted, tags)  # includes 0 at padding


def test_softmax_loss_ignores_padding_and_matches_numpy():
    words, _, tags = tagging_data(n=4)
    model = RNNTagger(**SMALL)
    logits = _np(model(words))
    loss = float(_np(model.tagging_loss(words, tags, logits)))
    shifted = logits - logits.max(-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    real = words != 0
    gold = np.take_along_axis(log_probs, tags[..., None], -1)[..., 0]
    np.testing.assert_allclose(loss, -gold[real].mean(), rtol=1e-5)
    garbage = np.where(real, tags, 3)
    np.testing.assert_allclose(_np(model.tagging_loss(words, garbage, logits)), loss, rtol=1e-6)


def test_crf_loss_is_nll_per_token():
    words, _, tags = tagging_data(n=4)
    model = RNNTagger(**SMALL, output="crf")
    emissions = model(words)
    loss = _np(model.tagging_loss(words, tags, emissions))
    ll = _np(model.crf.log_likelihood(emissions, tags, words != 0))
    np.testing.assert_allclose(loss, -ll.sum() / (words != 0).sum(), rtol=1e-5)


def test_keras_round_trip(tmp_path):
    words, char_ids, _ = tagging_data(n=4)
    model = RNNTagger(
        **SMALL, output="crf", cell="gru", dropout=0.1,
        char_vocab_size=10, char_embed_dim=4, char_filters=4,
        tag_names=TAG_NAMES, bio_constraints=True,
    )
    model((words, char_ids))
    # Non-initial transition scores must survive the round trip.
    model.crf.transitions.assign(np.eye(4, k=1, dtype="float32"))
    scores = _np(model((words, char_ids)))
    path = os.path.join(tmp_path, "tagger.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, RNNTagger)
    assert restored.get_config() == model.get_config()
    np.testing.assert_allclose(_np(restored((words, char_ids))), scores, atol=1e-6)
    np.testing.assert_array_equal(
        _np(restored.predict_tags((words, char_ids))), _np(model.predict_tags((words, char_ids)))
    )


def test_char_bilstm_encoder_is_selectable_and_old_configs_keep_the_cnn():
    from models.layers.char_bilstm_word_encoder import CharBiLSTMWordEncoder
    from models.layers.char_word_encoder import CharWordEncoder

    model = RNNTagger(**SMALL, char_vocab_size=10, char_embed_dim=4, char_filters=6, char_encoder="bilstm")
    inputs = (keras.Input((None,), dtype="int32"), keras.Input((None, 5), dtype="int32"))
    assert model(inputs).shape == (None, None, 4)  # symbolic: the features fit the RNN, without running it
    assert isinstance(model.char_encoder, CharBiLSTMWordEncoder) and model.char_encoder.units == 3
    config = model.get_config()
    assert config["char_encoder"] == "bilstm" and RNNTagger.from_config(config).get_config() == config
    del config["char_encoder"]  # a model saved before the key existed
    assert isinstance(RNNTagger.from_config(config).char_encoder, CharWordEncoder)
    with pytest.raises(ValueError, match="char_filters must be even. Received: char_filters=5"):
        RNNTagger(**SMALL, char_vocab_size=10, char_filters=5, char_encoder="bilstm")
    with pytest.raises(ValueError, match="Received: char_encoder='gru'"):
        RNNTagger(**SMALL, char_vocab_size=10, char_encoder="gru")


def test_bio_constraints_reach_the_crf():
    model = RNNTagger(**SMALL, output="crf", tag_names=TAG_NAMES, bio_constraints=True)
    words, _, _ = tagging_data(n=16)
    model(words)
    for weight in model.crf.weights:  # strongly favour the invalid O -> I-PER
        weight.assign(np.zeros(weight.shape))
    model.crf.transitions.assign(np.eye(4, k=2) * 50.0)
    tags = _np(model.predict_tags(words))
    follows = np.stack([tags[:, :-1], tags[:, 1:]], -1).reshape(-1, 2).tolist()
    assert [1, 3] not in follows and not np.any(tags[:, 0] == 3)


def test_mixed_precision_keeps_scores_and_crf_in_float32():
    original = keras.config.dtype_policy()
    try:
        keras.config.set_dtype_policy("mixed_float16")
        words, _, tags = tagging_data(n=8)
        model = RNNTagger(**SMALL, output="crf")
        scores = model(words)
        assert keras.backend.standardize_dtype(scores.dtype) == "float32"
        assert model.rnns[0].compute_dtype == "float16"  # the policy does apply
        assert model.crf.dtype_policy.compute_dtype == "float32"
        assert all(keras.backend.standardize_dtype(w.dtype) == "float32" for w in model.weights)
        loss = model.tagging_loss(words, tags, scores)
        assert keras.backend.standardize_dtype(loss.dtype) == "float32"
        assert np.isfinite(_np(loss))
        tags = model.crf(scores, mask=words != 0)
        assert keras.backend.standardize_dtype(tags.dtype) == "int32"
    finally:
        keras.config.set_dtype_policy(original)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf.function export is TF-only")
def test_predict_tags_traces_with_unknown_length():
    import tensorflow as tf

    model = RNNTagger(**SMALL, output="crf")
    words, _, _ = tagging_data(n=4)
    model(words)
    traced = tf.function(model.predict_tags, input_signature=[tf.TensorSpec([None, None], tf.int32)])
    for batch in (words, words[:2, :1]):
        np.testing.assert_array_equal(traced(batch).numpy(), _np(model.predict_tags(batch)))


def test_invalid_arguments():
    with pytest.raises(ValueError, match="Received: output='hmm'"):
        RNNTagger(**SMALL, output="hmm")
    with pytest.raises(ValueError, match="Received: cell='rnn'"):
        RNNTagger(**SMALL, cell="rnn")
    with pytest.raises(ValueError, match="tag_names"):
        RNNTagger(**SMALL, output="crf", tag_names=["O"], bio_constraints=False)
    with pytest.raises(ValueError, match="BIO constraints"):
        RNNTagger(**SMALL, tag_names=TAG_NAMES, bio_constraints=True)
    with pytest.raises(ValueError, match="tuple"):
        RNNTagger(**SMALL, char_vocab_size=5)(np.ones((1, 3), "int32"))
    assert isinstance(CRF(4), keras.layers.Layer)


def test_registry_builds_rnn_tagger():
    from models.registry import available_models, build_model

    model = build_model("rnn_tagger", vocab_size=12, num_tags=4, units=4, output="crf")
    assert isinstance(model, RNNTagger) and model.crf is not None
    assert "rnn_tagger" in available_models()

"""TransformerTagger: shapes, padding invariance, the shared tagging loss, round trip, registry."""

import keras
import numpy as np
import pytest

from models.networks.transformer_tagger import TransformerTagger
from tests.models.layer_checks import assert_model_round_trip
from tests.models.test_rnn_tagger import TAG_NAMES, tagging_data

SMALL = dict(vocab_size=12, num_tags=4, embed_dim=8, num_heads=2, ff_dim=16, max_length=16, dropout=0.0)


def _np(x):
    return keras.ops.convert_to_numpy(x)


def test_padding_changes_nothing_at_real_tokens():
    keras.utils.set_random_seed(1)
    words, _, _ = tagging_data(n=4)
    model = TransformerTagger(**SMALL)
    scores = _np(model(words))
    assert scores.shape == (4, 6, 4) and scores.dtype == np.float32
    padded = np.pad(words, [[0, 0], [0, 3]])
    real = words != 0
    np.testing.assert_allclose(_np(model(padded))[:, :6][real], scores[real], atol=1e-5)
    tags = _np(model.predict_tags(words))
    assert (tags[~real] == 0).all()


def test_crf_loss_equals_the_crf_nll_per_token():
    keras.utils.set_random_seed(2)
    words, _, tags = tagging_data(n=4)
    model = TransformerTagger(**SMALL, output="crf")
    scores = model(words)
    nll = -_np(model.crf.log_likelihood(scores, tags, words != 0)).sum()
    np.testing.assert_allclose(_np(model.tagging_loss(words, tags, scores)), nll / (words != 0).sum(), rtol=1e-5)


def test_keras_round_trip_with_chars_and_constraints(tmp_path):
    words, char_ids, _ = tagging_data(n=4)
    model = TransformerTagger(**SMALL, output="crf", char_vocab_size=10, char_embed_dim=4, char_filters=4,
                              tag_names=TAG_NAMES, bio_constraints=True, positions="learned")
    assert_model_round_trip(model, (words, char_ids), tmp_path)
    with pytest.raises(ValueError, match="must be a tuple"):
        model(words)


@pytest.mark.fit
def test_learns_a_tiny_tagging_set():
    keras.utils.set_random_seed(0)
    words, _, tags = tagging_data()
    model = TransformerTagger(**SMALL)
    model.compile(optimizer=keras.optimizers.Adam(0.02))  # no loss: the tagging loss
    model.fit(words, tags, epochs=40, batch_size=32, verbose=0)
    np.testing.assert_array_equal(_np(model.predict_tags(words)), tags)


def test_invalid_arguments_and_registry():
    from models.registry import build_model

    with pytest.raises(ValueError, match="Received: output='hmm'"):
        TransformerTagger(**SMALL, output="hmm")
    with pytest.raises(ValueError, match="BIO constraints"):
        TransformerTagger(**SMALL, bio_constraints=True)
    assert isinstance(build_model("transformer_tagger", **SMALL), TransformerTagger)

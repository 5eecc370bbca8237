"""TransformerSeq2Seq: cached decoding equals the teacher-forced pass, causality, padding, precision, round trip.

The decoder block's equations against NumPy are in test_causal_decoder_block.py, the pre-LN encoder block's in
test_transformer_encoder.py.
"""

import os

import keras
import numpy as np
import pytest

from models.networks.transformer_seq2seq import TransformerSeq2Seq

SOURCE = np.array([[5, 6, 7, 8, 0], [9, 4, 0, 0, 0], [4, 5, 6, 7, 8]], "int32")
TARGET_IN = np.array([[2, 5, 6, 7, 8], [2, 9, 4, 3, 0], [2, 4, 5, 0, 0]], "int32")
SMALL = dict(source_vocab_size=13, target_vocab_size=14, embed_dim=16, num_heads=2, ff_dim=32, encoder_layers=2,
             decoder_layers=2, max_length=8)
VARIANTS = {
    "sinusoidal": {},
    "learned_tied": {"positions": "learned", "tie_output": True},
    "shared_tied": {"target_vocab_size": 13, "share_embeddings": True, "tie_output": True},
}


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _model(**overrides):
    keras.utils.set_random_seed(0)
    return TransformerSeq2Seq(**{**SMALL, **overrides})


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_cached_steps_equal_the_teacher_forced_pass(variant):
    model = _model(**VARIANTS[variant])
    logits, weights = model((SOURCE, TARGET_IN), return_attention_scores=True)
    assert tuple(logits.shape) == (3, 5, model.target_vocab_size) and _np(logits).dtype == np.float32
    states = model.encode(SOURCE)
    for t in range(TARGET_IN.shape[1]):
        step_logits, states, step_weights = model.decode_step(TARGET_IN[:, t], states)
        np.testing.assert_allclose(_np(step_logits), _np(logits)[:, t], atol=2e-5)
        np.testing.assert_allclose(_np(step_weights), _np(weights)[:, t], atol=1e-5)
        np.testing.assert_array_equal(_np(step_weights)[SOURCE == 0], 0.0)  # no weight on source padding
    np.testing.assert_array_equal(_np(states[-1]), [5, 5, 5])


def test_causality_a_later_target_token_changes_no_earlier_logit():
    model = _model()
    logits = _np(model((SOURCE, TARGET_IN)))
    changed = TARGET_IN.copy()
    changed[:, 3] = 11  # the input of step 3: the logits of steps 0-2 must not see it
    again = _np(model((SOURCE, changed)))
    np.testing.assert_allclose(again[:, :3], logits[:, :3], atol=1e-6)
    assert np.abs(again[:, 3:] - logits[:, 3:]).max() > 1e-4


def test_padding_invariance_source_and_target():
    model = _model()
    logits = _np(model((SOURCE, TARGET_IN)))
    padded = _np(model((np.pad(SOURCE, [(0, 0), (0, 3)]), np.pad(TARGET_IN, [(0, 0), (0, 2)]))))
    np.testing.assert_allclose(padded[:, :5], logits, atol=1e-5)


def test_mixed_precision_logits_and_weights_are_float32():
    original = keras.config.dtype_policy()
    try:
        keras.config.set_dtype_policy("mixed_float16")
        model = _model(tie_output=True)
        assert keras.backend.standardize_dtype(model((SOURCE, TARGET_IN)).dtype) == "float32"
        logits, states, weights = model.decode_step(TARGET_IN[:, 0], model.encode(SOURCE))
        assert keras.backend.standardize_dtype(logits.dtype) == "float32"
        assert keras.backend.standardize_dtype(weights.dtype) == "float32"
        assert keras.backend.standardize_dtype(states[0].dtype) == "float16"
        assert np.all(np.isfinite(_np(logits)))
    finally:
        keras.config.set_dtype_policy(original)


@pytest.mark.parametrize("variant", ["sinusoidal", "shared_tied"])
def test_keras_round_trip(tmp_path, variant):
    model = _model(**VARIANTS[variant], dropout=0.1)
    logits = _np(model((SOURCE, TARGET_IN)))
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, TransformerSeq2Seq) and restored.get_config() == model.get_config()
    np.testing.assert_allclose(_np(restored((SOURCE, TARGET_IN))), logits, atol=1e-6)
    step, _, _ = restored.decode_step(TARGET_IN[:, 0], restored.encode(SOURCE))
    np.testing.assert_allclose(_np(step), logits[:, 0], atol=2e-5)


def test_beam_search_on_the_cache_equals_brute_force_best_of_few_steps():
    """Beam width >= vocabulary^steps keeps every hypothesis: its best equals the exhaustive best."""
    import itertools

    from models.decoding import BeamSearch, decode_seq2seq

    model = _model(target_vocab_size=5)
    source = SOURCE[:1]
    out = decode_seq2seq(model, source, BeamSearch(beam_width=25, length_penalty=0.0), max_length=2)
    memory = model.encode(source)

    def log_prob(tokens):
        states, prev, total = memory, np.array([2], "int32"), 0.0
        for token in tokens:
            logits = _np(model.decode_step(prev, states)[0])[0]
            states = model.decode_step(prev, states)[1]
            logits[[0, 2]] = -np.inf  # [PAD] and [START] are never emitted
            total += float(logits[token] - np.log(np.exp(logits - logits.max()).sum()) - logits.max())
            if token == 3:  # [END] finishes the hypothesis
                break
            prev = np.array([token], "int32")
        return total

    candidates = [c for c in itertools.product((1, 3, 4), repeat=2) if c[0] != 3] + [(3,)]
    best = max(candidates, key=log_prob)
    got = [int(t) for t in _np(out["tokens"])[0, 0] if t]
    assert tuple(got[:len(best)]) == best
    np.testing.assert_allclose(float(_np(out["scores"])[0, 0]), log_prob(best), atol=1e-4)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="share_embeddings=True"):
        TransformerSeq2Seq(**{**SMALL, "share_embeddings": True})
    with pytest.raises(ValueError, match="divisible"):
        TransformerSeq2Seq(**{**SMALL, "num_heads": 3})
    with pytest.raises(ValueError, match="Received: decoder_layers=0"):
        TransformerSeq2Seq(**{**SMALL, "decoder_layers": 0})


@pytest.mark.fit
def test_fit_learns_to_copy():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    source = rng.integers(4, 12, size=(256, 4)).astype("int32")
    target = np.concatenate([source, np.full((256, 1), 3, "int32")], axis=1)
    target_in = np.concatenate([np.full((256, 1), 2, "int32"), target[:, :-1]], 1)
    model = TransformerSeq2Seq(12, 12, embed_dim=32, num_heads=4, ff_dim=64, encoder_layers=1, decoder_layers=1,
                               max_length=8, dropout=0.0)
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0))
    losses = model.fit((source, target_in), target, epochs=8, batch_size=32, verbose=0).history["loss"]
    assert losses[-1] < 0.5 * losses[0]

import keras
import numpy as np
import pytest

from models.decoding.greedy import greedy_decode
from models.networks.rnn_seq2seq import AttentionSeq2Seq

SOURCE = np.array([[5, 6, 7, 0], [9, 4, 0, 0]], "int32")
MAX_LENGTH = 5


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _model(end_bias=0.0):
    keras.utils.set_random_seed(3)
    model = AttentionSeq2Seq(10, 9, embed_dim=4, units=6, attention_units=4)
    model.encode(SOURCE)
    if end_bias:
        bias = _np(model.output_projection.bias)
        bias[3] = end_bias
        model.output_projection.bias.assign(bias)
    return model


def _reference(model, source, max_length):
    """Step-by-step NumPy-side greedy decoding, for comparison."""
    states = model.encode(source)
    prev = np.full((len(source),), 2, "int32")
    steps = []
    for _ in range(max_length):
        logits, states, weights = model.decode_step(prev, states)
        log_probs = _np(keras.ops.log_softmax(logits, axis=-1))
        prev = log_probs.argmax(-1).astype("int32")
        steps.append((prev, log_probs[np.arange(len(source)), prev], _np(weights)))
    return steps


@pytest.mark.slow  # one compile per decode length on JAX (the JAX pass skips slow)
def test_shapes_dtypes_and_agreement_with_step_loop():
    model = _model()
    out = greedy_decode(model, SOURCE, MAX_LENGTH)
    tokens, lengths = _np(out["tokens"]), _np(out["lengths"])
    scores, alignments = _np(out["scores"]), _np(out["alignments"])
    assert tokens.shape == (2, MAX_LENGTH) and tokens.dtype == np.int32
    assert lengths.shape == (2,) and lengths.dtype == np.int32
    assert scores.shape == (2,) and scores.dtype == np.float32
    assert alignments.shape == (2, MAX_LENGTH, 4) and alignments.dtype == np.float32
    reference = _reference(model, SOURCE, MAX_LENGTH)
    for row in range(2):
        want, score = [], 0.0
        for step, (ids, log_probs, weights) in enumerate(reference):
            want.append(ids[row])
            score += log_probs[row]
            np.testing.assert_allclose(alignments[row, step], weights[row], atol=1e-6)
            if ids[row] == 3:
                break
        n = len(want)
        assert lengths[row] == n
        np.testing.assert_array_equal(tokens[row, :n], want)
        np.testing.assert_array_equal(tokens[row, n:], 0)
        np.testing.assert_array_equal(alignments[row, n:], 0.0)
        np.testing.assert_allclose(scores[row], score, rtol=1e-5)
    np.testing.assert_array_equal(alignments[..., 2:][:, :, SOURCE[1, 2:] == 0][1], 0.0)


def test_end_is_kept_and_followed_by_padding():
    model = _model(end_bias=50.0)  # [END] wins immediately
    out = greedy_decode(model, SOURCE, MAX_LENGTH)
    np.testing.assert_array_equal(_np(out["tokens"]), [[3, 0, 0, 0, 0]] * 2)
    np.testing.assert_array_equal(_np(out["lengths"]), [1, 1])
    assert np.all(_np(out["scores"]) <= 0.0)
    assert np.all(_np(out["alignments"])[:, 1:] == 0.0)

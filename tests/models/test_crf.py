import itertools

import keras
import numpy as np
import pytest

from models.layers.crf import CRF, DISALLOWED, bio_allowed_transitions
from tests.models.layer_checks import run_layer_checks

K = 3
RNG = np.random.default_rng(0)
EMISSIONS = RNG.normal(size=(4, 4, K)).astype("float32")
MASK = np.array([[1, 1, 1, 1], [1, 1, 1, 0], [1, 1, 0, 0], [1, 0, 0, 0]], bool)
TAGS = np.array([[0, 1, 2, 1], [2, 2, 0, 0], [1, 0, 0, 0], [2, 0, 0, 0]], "int32")
BIO_NAMES = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def _np(x):
    return keras.ops.convert_to_numpy(x)


def random_crf(num_tags=K, bio_constraints=None, scale=1.0, seed=1):
    crf = CRF(num_tags, bio_constraints=bio_constraints)
    crf.build((None, None, num_tags))
    rng = np.random.default_rng(seed)
    for weight in crf.weights:
        weight.assign(scale * rng.normal(size=weight.shape).astype("float32"))
    return crf


def numpy_scores(crf):
    """Transition scores with constraints, from the layer's own helper."""
    return [_np(s) for s in crf.transition_scores()]


def brute_force(crf, emissions, length):
    """All `K**length` sequences of one example with their scores (NumPy)."""
    transitions, start, end = numpy_scores(crf)
    results = []
    for tags in itertools.product(range(crf.num_tags), repeat=length):
        score = start[tags[0]] + end[tags[-1]]
        score += sum(emissions[t, tags[t]] for t in range(length))
        score += sum(transitions[tags[t - 1], tags[t]] for t in range(1, length))
        results.append((float(score), tags))
    return results


def test_standard_layer_checks():
    run_layer_checks(
        CRF, {"num_tags": K}, [EMISSIONS, MASK], expected_dtypes=["int32"], run_fit=False
    )


def test_log_likelihood_equals_brute_force_enumeration():
    crf = random_crf()
    got = _np(crf.log_likelihood(EMISSIONS, TAGS, MASK))
    for b in range(len(EMISSIONS)):
        length = int(MASK[b].sum())
        enumerated = brute_force(crf, EMISSIONS[b], length)
        log_z = np.logaddexp.reduce([score for score, _ in enumerated])
        gold = dict((tags, score) for score, tags in enumerated)[tuple(TAGS[b, :length])]
        np.testing.assert_allclose(got[b], gold - log_z, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(
            _np(crf.log_partition(EMISSIONS, MASK))[b], log_z, rtol=1e-5
        )
    # Probabilities of all sequences of one example (length 3) sum to 1.
    every = np.array([list(t) + [0] for t in itertools.product(range(K), repeat=3)])
    n = len(every)
    ll = _np(crf.log_likelihood(np.repeat(EMISSIONS[1:2], n, 0), every, np.repeat(MASK[1:2], n, 0)))
    np.testing.assert_allclose(np.exp(ll).sum(), 1.0, rtol=1e-5)


def test_viterbi_equals_brute_force_argmax():
    crf = random_crf()
    tags, scores = crf.viterbi_decode(EMISSIONS, MASK)
    tags, scores = _np(tags), _np(scores)
    assert tags.dtype == np.int32 and tags.shape == MASK.shape
    assert np.all(tags[~MASK] == 0)
    for b in range(len(EMISSIONS)):
        length = int(MASK[b].sum())
        best_score, best_tags = max(brute_force(crf, EMISSIONS[b], length))
        assert tuple(tags[b, :length]) == best_tags
        np.testing.assert_allclose(scores[b], best_score, rtol=1e-5)
    np.testing.assert_array_equal(_np(crf(EMISSIONS, mask=MASK)), tags)


def test_padding_does_not_change_likelihood_or_decoding():
    crf = random_crf()
    ll = _np(crf.log_likelihood(EMISSIONS, TAGS, MASK))
    tags = _np(crf(EMISSIONS, mask=MASK))
    # Garbage emissions and tags at padded positions, plus extra padding.
    emissions = EMISSIONS.copy()
    emissions[~MASK] = 100.0 * RNG.normal(size=emissions[~MASK].shape)
    gold = np.where(MASK, TAGS, RNG.integers(0, K, size=TAGS.shape))
    emissions = np.pad(emissions, [(0, 0), (0, 2), (0, 0)], constant_values=7.0)
    gold = np.pad(gold, [(0, 0), (0, 2)], constant_values=2)
    mask = np.pad(MASK, [(0, 0), (0, 2)])
    np.testing.assert_allclose(_np(crf.log_likelihood(emissions, gold, mask)), ll, atol=1e-5)
    np.testing.assert_array_equal(_np(crf(emissions, mask=mask))[:, :4], tags)
    # A single unpadded row gives the same value alone.
    np.testing.assert_allclose(
        _np(crf.log_likelihood(EMISSIONS[2:3, :2], TAGS[2:3, :2]))[0], ll[2], atol=1e-5
    )


def test_bio_allowed_transitions():
    start, allowed = bio_allowed_transitions(BIO_NAMES)
    assert start == [True, True, False, True, False]
    names = dict(enumerate(BIO_NAMES))
    disallowed = {
        (names[i], names[j]) for i in range(5) for j in range(5) if not allowed[i][j]
    }
    assert disallowed == {
        ("O", "I-PER"), ("O", "I-LOC"),
        ("B-PER", "I-LOC"), ("B-LOC", "I-PER"),
        ("I-PER", "I-LOC"), ("I-LOC", "I-PER"),
    }


def _is_valid_bio(tags):
    prev = None
    for tag in tags:
        name = BIO_NAMES[tag]
        if name.startswith("I-") and prev not in ("B-" + name[2:], "I-" + name[2:]):
            return False
        prev = name
    return True


def test_constraints_are_never_decoded():
    # Large random scores that favour I- tags everywhere.
    crf = random_crf(5, bio_constraints=BIO_NAMES, scale=5.0)
    rng = np.random.default_rng(3)
    emissions = 5.0 * rng.normal(size=(64, 6, 5)).astype("float32")
    emissions[..., [2, 4]] += 10.0
    mask = np.arange(6)[None, :] < rng.integers(1, 7, size=(64, 1))
    tags = _np(crf(emissions, mask=mask))
    for row, row_mask in zip(tags, mask):
        assert _is_valid_bio(row[row_mask])
    # Without constraints the same scores do decode invalid sequences.
    free = random_crf(5, scale=5.0)
    free_tags = _np(free(emissions, mask=mask))
    assert not all(_is_valid_bio(r[m]) for r, m in zip(free_tags, mask))
    # An invalid gold sequence has (numerically) zero probability.
    ll = _np(crf.log_likelihood(emissions[:1, :2], np.array([[0, 2]])))
    assert ll[0] < 0.5 * DISALLOWED
    assert np.isfinite(ll[0])


class EmissionsCRF(keras.Model):
    """Trainable emissions per (position, tag) followed by a CRF, for fit tests."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(K, dtype="float32", name="dense")
        self.crf = CRF(K, name="crf")

    def build(self, x_shape):
        self.dense.build(x_shape)
        self.crf.build(tuple(x_shape[:-1]) + (K,))

    def call(self, x):
        return self.dense(x)  # (batch, time, K) emissions

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return -keras.ops.mean(self.crf.log_likelihood(y_pred, y, keras.ops.any(x != 0, -1)))


@pytest.mark.fit
def test_fit_reduces_nll_and_trains_transitions():
    keras.utils.set_random_seed(0)
    x = EMISSIONS * MASK[..., None]
    model = EmissionsCRF()
    model(x)
    before = _np(model.crf.transitions).copy()
    model.compile(optimizer=keras.optimizers.Adam(0.1))
    losses = model.fit(x, TAGS, epochs=20, batch_size=4, verbose=0).history["loss"]
    assert losses[-1] < 0.5 * losses[0]
    assert not np.allclose(_np(model.crf.transitions), before)


def test_single_step_and_all_padding_rows():
    crf = random_crf()
    emissions = EMISSIONS[:, :1]
    tags, scores = crf.viterbi_decode(emissions)
    transitions, start, end = numpy_scores(crf)
    np.testing.assert_array_equal(_np(tags)[:, 0], np.argmax(start + emissions[:, 0] + end, -1))
    empty = np.zeros((1, 3), bool)
    assert _np(crf.log_likelihood(EMISSIONS[:1, :3], TAGS[:1, :3], empty))[0] == 0.0
    np.testing.assert_array_equal(_np(crf(EMISSIONS[:1, :3], mask=empty)), 0)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TF graph mode")
def test_traces_with_unknown_length_in_tf_graph_mode():
    import tensorflow as tf

    crf = random_crf()
    spec = [
        tf.TensorSpec([None, None, K], tf.float32),
        tf.TensorSpec([None, None], tf.int32),
        tf.TensorSpec([None, None], tf.bool),
    ]

    @tf.function(input_signature=spec)
    def traced(emissions, tags, mask):
        return crf.log_likelihood(emissions, tags, mask), crf(emissions, mask=mask)

    for t in (4, 1):
        ll, tags = traced(EMISSIONS[:, :t], TAGS[:, :t], MASK[:, :t])
        np.testing.assert_allclose(
            ll.numpy(), _np(crf.log_likelihood(EMISSIONS[:, :t], TAGS[:, :t], MASK[:, :t])),
            atol=1e-5,
        )
        np.testing.assert_array_equal(tags.numpy(), _np(crf(EMISSIONS[:, :t], mask=MASK[:, :t])))


def test_invalid_arguments():
    with pytest.raises(ValueError, match="Received: num_tags=0"):
        CRF(0)
    with pytest.raises(ValueError, match="bio_constraints"):
        CRF(3, bio_constraints=["O", "B-PER"])
    with pytest.raises(ValueError, match="num_tags=3"):
        CRF(3).build((None, None, 4))

"""Beam search against brute force, greedy and itself (batched vs one by one), on every backend."""

import itertools

import keras
import numpy as np
import pytest
from keras import ops

from models.decoding.beam_search import beam_search, length_penalty_of
from models.decoding.greedy import greedy_decode
from models.networks.rnn_seq2seq import AttentionSeq2Seq

PAD, START, END = 0, 2, 3
VOCAB = 5  # 0 [PAD], 1 "a", 2 [START], 3 [END], 4 "b"
BANNED = (PAD, START)
EMITTED = (1, 4)  # the tokens besides [END]


class TinyRNN:
    """A random Elman step function: h' = tanh(E[prev] + h W), logits = h' U (+ a position bias)."""

    def __init__(self, seed, units=4):
        rng = np.random.default_rng(seed)
        self.embed = rng.normal(0, 1.5, (VOCAB, units)).astype("float32")
        self.recurrent = rng.normal(0, 1.0, (units, units)).astype("float32")
        self.out = rng.normal(0, 2.0, (units, VOCAB)).astype("float32")
        self.units = units

    def initial_state(self, batch):
        return [ops.zeros((batch, self.units))]

    def step(self, ids, state):
        h = ops.tanh(ops.take(self.embed, ids, axis=0) + ops.matmul(state[0], self.recurrent))  # (rows, units)
        return ops.matmul(h, self.out), [h], ()  # logits (rows, vocab)

    def log_prob(self, sequence):
        """log P(sequence) with [PAD] and [START] banned, as the search sees it (NumPy, one step at a time)."""
        h, prev, total = np.zeros((1, self.units), "float32"), START, 0.0
        for token in sequence:
            h = np.tanh(self.embed[[prev]] + h @ self.recurrent)
            logits = (h @ self.out)[0].astype("float64")
            logits[list(BANNED)] = -np.inf
            total += logits[token] - np.logaddexp.reduce(logits[np.isfinite(logits)])
            prev = token
        return total


def every_hypothesis(max_length):
    """Every sequence the search can return: words then [END] within max_length, or max_length words."""
    out = [[END]]
    for n in range(1, max_length + 1):
        for words in itertools.product(EMITTED, repeat=n):
            if n < max_length:
                out.append([*words, END])
            else:
                out.append(list(words))
    return out


def ranked(model, max_length, alpha):
    scored = [(model.log_prob(h) / ((5 + len(h)) / 6) ** alpha, model.log_prob(h), h)
              for h in every_hypothesis(max_length)]
    return sorted(scored, key=lambda x: -x[0])


def search(model, beam_width, max_length=4, alpha=0.0, num_results=1, batch=1):
    return beam_search(model.step, model.initial_state(batch), batch, START, END, beam_width=beam_width,
                       max_length=max_length, length_penalty=alpha, num_results=num_results, banned_ids=BANNED)


def hypotheses(out, sentence=0):
    tokens = ops.convert_to_numpy(out["tokens"])[sentence]
    lengths = ops.convert_to_numpy(out["lengths"])[sentence]
    return [list(row[:n]) for row, n in zip(tokens, lengths)]


def numpy_greedy(model, max_length):
    h, prev, out = np.zeros((1, model.units), "float32"), START, []
    while len(out) < max_length and (not out or out[-1] != END):
        h = np.tanh(model.embed[[prev]] + h @ model.recurrent)
        logits = (h @ model.out)[0]
        logits[list(BANNED)] = -np.inf
        prev = int(np.argmax(logits))
        out.append(prev)
    return out


def greedy_not_best_model(max_length=4):
    """A TinyRNN whose greedy path is not the most probable sequence."""
    for seed in range(200):
        model = TinyRNN(seed)
        if model.log_prob(numpy_greedy(model, max_length)) < ranked(model, max_length, 0.0)[0][1] - 0.1:
            return model
    raise AssertionError("no seed in 200 gives a greedy path that is not the best")


@pytest.mark.parametrize("alpha", [0.0, 0.6])
def test_a_wide_beam_finds_the_brute_force_n_best(alpha):
    model = greedy_not_best_model()
    expected = ranked(model, 4, alpha)
    # 31 hypotheses exist at most: a beam of 32 keeps them all, so the search is exact
    out = search(model, beam_width=32, alpha=alpha, num_results=5)
    assert hypotheses(out) == [h for _, _, h in expected[:5]]
    scores, log_probs = ops.convert_to_numpy(out["scores"])[0], ops.convert_to_numpy(out["log_probs"])[0]
    assert np.all(np.diff(scores) <= 0)  # best first
    np.testing.assert_allclose(scores, [s for s, _, _ in expected[:5]], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(log_probs, [model.log_prob(h) for h in hypotheses(out)], rtol=1e-5, atol=1e-5)
    lengths = ops.convert_to_numpy(out["lengths"])[0]
    np.testing.assert_allclose(scores, log_probs / ops.convert_to_numpy(length_penalty_of(lengths, alpha)),
                               rtol=1e-6)


def test_greedy_misses_what_a_wider_beam_finds():
    model = greedy_not_best_model()
    best = ranked(model, 4, 0.0)[0]
    greedy = hypotheses(search(model, 1))[0]
    assert greedy == numpy_greedy(model, 4) and model.log_prob(greedy) < best[1]
    assert hypotheses(search(model, 32))[0] == best[2]


def test_beam_width_one_is_greedy_decoding():
    model = AttentionSeq2Seq(9, 8, embed_dim=4, units=6, attention_units=5, bidirectional=False)
    source = np.array([[4, 5, 6, 0], [7, 8, 0, 0]], dtype="int32")
    model((source, np.ones((2, 3), "int32")))
    greedy = greedy_decode(model, source, max_length=6, start_id=START, end_id=END)
    step = lambda ids, states: model.decode_step(ids, states)  # noqa: E731
    out = beam_search(step, list(model.encode(source)), 2, START, END, beam_width=1, max_length=6)
    np.testing.assert_array_equal(ops.convert_to_numpy(out["tokens"])[:, 0], ops.convert_to_numpy(greedy["tokens"]))
    np.testing.assert_array_equal(ops.convert_to_numpy(out["lengths"])[:, 0],
                                  ops.convert_to_numpy(greedy["lengths"]))
    np.testing.assert_allclose(ops.convert_to_numpy(out["log_probs"])[:, 0], ops.convert_to_numpy(greedy["scores"]),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ops.convert_to_numpy(out["extras"])[:, 0], ops.convert_to_numpy(greedy["alignments"]),
                               rtol=1e-5, atol=1e-6)  # the attention weights of each emitted token


@pytest.mark.slow  # seven searches: ~25 s on JAX, where each search is traced anew
def test_a_batch_decodes_as_its_sentences_one_by_one():
    model = AttentionSeq2Seq(9, 8, embed_dim=4, units=6, attention_units=5)
    source = np.array([[4, 5, 6, 0], [7, 8, 0, 0], [1, 4, 4, 4]], dtype="int32")
    model((source, np.ones((3, 3), "int32")))
    step = lambda ids, states: model.decode_step(ids, states)  # noqa: E731

    def run(src):
        out = beam_search(step, list(model.encode(src)), len(src), START, END, beam_width=3, max_length=7,
                          length_penalty=0.6, num_results=2)
        return {k: ops.convert_to_numpy(v) for k, v in out.items()}

    batched = run(source)
    for i in range(len(source)):
        alone = run(source[i:i + 1])
        for key in ("tokens", "lengths"):
            np.testing.assert_array_equal(batched[key][i], alone[key][0], err_msg=key)
        for key in ("scores", "log_probs", "extras"):
            np.testing.assert_allclose(batched[key][i], alone[key][0], rtol=1e-5, atol=1e-6, err_msg=key)


def test_finished_hypotheses_are_frozen_and_padded():
    model = greedy_not_best_model()
    out = search(model, beam_width=8, max_length=6, num_results=8)
    tokens, lengths = ops.convert_to_numpy(out["tokens"])[0], ops.convert_to_numpy(out["lengths"])[0]
    for row, n in zip(tokens, lengths):
        assert not (set(row[:n]) & set(BANNED))
        assert END not in row[:n - 1] and (row[n - 1] == END or n == 6)
        assert np.all(row[n:] == PAD)


def test_compiles_on_its_backend():
    model = greedy_not_best_model()
    eager = ops.convert_to_numpy(search(model, 4, num_results=2)["tokens"])
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        fn = tf.function(lambda: search(model, 4, num_results=2)["tokens"])
    elif backend == "jax":
        import jax

        fn = jax.jit(lambda: search(model, 4, num_results=2)["tokens"])
    else:
        pytest.skip(f"no compiled mode checked on {backend}")
    np.testing.assert_array_equal(ops.convert_to_numpy(fn()), eager)


@pytest.mark.parametrize("kwargs, message", [
    ({"beam_width": 0}, "beam_width"), ({"max_length": 0}, "max_length"),
    ({"num_results": 5, "beam_width": 4}, "num_results"), ({"length_penalty": -1.0}, "length_penalty")])
def test_bad_arguments_are_explained(kwargs, message):
    model = TinyRNN(0)
    with pytest.raises(ValueError, match=message):
        beam_search(model.step, model.initial_state(1), 1, START, END, **kwargs)

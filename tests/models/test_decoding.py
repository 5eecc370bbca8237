"""The decoding loop: beam search against brute force, greedy against NumPy, sampling against its distribution,
batched against one by one, forced prompts and budgets, on every backend."""

import itertools

import keras
import numpy as np
import pytest
from keras import ops

from models.decoding import BeamSearch, Greedy, Sampling, decode, decode_seq2seq, generate
from models.decoding.sampling import filter_logits, gumbel_noise, sample_tokens
from models.decoding.strategies import length_penalty_of, strategy_from_name
from models.networks.rnn_language_model import RNNLanguageModel
from models.networks.rnn_seq2seq import AttentionSeq2Seq
from models.networks.transformer_language_model import TransformerLanguageModel

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


def run(model, strategy, max_length=4, batch=1):
    logits, state, extras = model.step(ops.full((batch,), START, "int32"), model.initial_state(batch))
    return decode(model.step, logits, state, strategy, max_length, END, extras=extras, banned_ids=BANNED)


def search(model, beam_width, max_length=4, alpha=0.0, num_results=1, batch=1):
    return run(model, BeamSearch(beam_width, alpha, num_results), max_length, batch)


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


def _np(x):
    return ops.convert_to_numpy(x)


def _seq2seq(seed=3, **kwargs):
    keras.utils.set_random_seed(seed)
    model = AttentionSeq2Seq(9, 8, embed_dim=4, units=6, attention_units=5, **kwargs)
    model((SOURCE, np.ones((len(SOURCE), 3), "int32")))
    return model


SOURCE = np.array([[4, 5, 6, 0], [7, 8, 0, 0], [1, 4, 4, 4]], dtype="int32")


def numpy_seq2seq_greedy(model, source, max_length):
    """Step by step, argmax over the allowed tokens, outside any loop: tokens, log P, attention per row."""
    states = model.encode(source)
    prev = np.full((len(source),), START, "int32")
    rows = [dict(tokens=[], log_prob=0.0, weights=[]) for _ in source]
    for _ in range(max_length):
        logits, states, weights = model.decode_step(prev, states)
        logits = _np(logits).astype("float64")
        logits[:, list(BANNED)] = -np.inf
        log_probs = logits - np.logaddexp.reduce(logits, axis=-1, keepdims=True)
        prev = log_probs.argmax(-1).astype("int32")
        for row, out in enumerate(rows):
            if not out["tokens"] or out["tokens"][-1] != END:
                out["tokens"].append(int(prev[row]))
                out["log_prob"] += log_probs[row, prev[row]]
                out["weights"].append(_np(weights)[row])
    return rows


def test_greedy_takes_the_argmax_at_every_step_and_records_its_attention():
    model = _seq2seq()
    expected = numpy_seq2seq_greedy(model, SOURCE, 6)
    for strategy in (Greedy(), BeamSearch(1, length_penalty=0.6), Sampling(temperature=0.0)):
        out = {k: _np(v) for k, v in decode_seq2seq(model, SOURCE, strategy, max_length=6).items()}
        assert out["tokens"].shape == (3, 1, 6) and out["tokens"].dtype == np.int32
        assert out["extras"].shape == (3, 1, 6, 4) and out["extras"].dtype == np.float32
        for row, want in enumerate(expected):
            n = len(want["tokens"])
            assert out["lengths"][row, 0] == n
            np.testing.assert_array_equal(out["tokens"][row, 0, :n], want["tokens"])
            np.testing.assert_array_equal(out["tokens"][row, 0, n:], PAD)
            np.testing.assert_allclose(out["log_probs"][row, 0], want["log_prob"], rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(out["extras"][row, 0, :n], want["weights"], atol=1e-6)
            np.testing.assert_array_equal(out["extras"][row, 0, n:], 0.0)
        np.testing.assert_array_equal(out["extras"][1, 0, :, 2:], 0.0)  # no attention on padding


@pytest.mark.slow  # seven searches: ~25 s on JAX, where each search is traced anew
def test_a_batch_decodes_as_its_sentences_one_by_one():
    model = _seq2seq(bidirectional=True)

    def run_on(src):
        out = decode_seq2seq(model, src, BeamSearch(3, length_penalty=0.6, num_results=2), max_length=7)
        return {k: _np(v) for k, v in out.items()}

    batched = run_on(SOURCE)
    for i in range(len(SOURCE)):
        alone = run_on(SOURCE[i:i + 1])
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
    model, lm = greedy_not_best_model(), _lm()
    prompts = np.array([[3, 5, 6], [3, 9, 0]], "int32")

    def both():
        beams = search(model, 4, num_results=2)["tokens"]
        sampled = generate(lm, prompts, np.array([3, 2], "int32"), Sampling(0.8, seed=4), 5, max_length=6,
                           shortest=2)["new_tokens"]
        return beams, sampled

    eager = [ops.convert_to_numpy(x) for x in both()]
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        fn = tf.function(both)
    elif backend == "jax":
        import jax

        fn = jax.jit(both)
    else:
        pytest.skip(f"no compiled mode checked on {backend}")
    for compiled, expected in zip(fn(), eager):
        np.testing.assert_array_equal(ops.convert_to_numpy(compiled), expected)


@pytest.mark.parametrize("make, message", [
    (lambda: BeamSearch(beam_width=0), "beam_width"), (lambda: BeamSearch(4, num_results=5), "num_results"),
    (lambda: BeamSearch(4, length_penalty=-1.0), "length_penalty"),
    (lambda: Sampling(temperature=-1.0), "temperature"), (lambda: Sampling(top_p=0.0), "top_p"),
    (lambda: strategy_from_name("nucleus"), "greedy, sampling, beam")])
def test_bad_arguments_are_explained(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# ---- sampling ----

def test_filters_match_numpy():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(4, 10)).astype("float32")
    for k in (3, ops.convert_to_tensor(3)):  # a Python int or a tensor (a served signature's input)
        top3 = _np(filter_logits(logits, top_k=k))
        np.testing.assert_array_equal(top3 > -1e8, logits >= np.sort(logits, -1)[:, -3:-2])
    np.testing.assert_array_equal(_np(filter_logits(logits, top_k=0)), logits)
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    for p in (0.3, 0.9):
        kept = _np(filter_logits(logits, top_p=p)) > -1e8
        for row in range(4):
            order = np.argsort(-probs[row])
            before = np.cumsum(probs[row][order]) - probs[row][order]
            expected = set(order[before < p].tolist())  # smallest prefix reaching p; the argmax always
            assert set(np.flatnonzero(kept[row]).tolist()) == expected


def test_draws_follow_the_tempered_filtered_softmax():
    logits = np.log(np.array([0.05, 0.5, 0.3, 0.15], "float32"))
    rows = 20000
    many = np.tile(logits, (rows, 1))
    counters = np.arange(rows, dtype="int32")  # 20,000 independent draws
    for temperature, top_k, top_p in ((1.0, 0, 1.0), (0.5, 0, 1.0), (1.0, 2, 1.0), (1.0, 0, 0.7)):
        drawn = _np(sample_tokens(many, counters, temperature, top_k, top_p, seed=123))
        target = np.exp(logits / temperature)
        if top_k:
            target[np.argsort(-logits)[top_k:]] = 0
        if top_p < 1:
            target[[0, 3]] = 0  # 0.5 + 0.3 reaches 0.7 first
        target /= target.sum()
        freq = np.bincount(drawn, minlength=4) / rows
        np.testing.assert_allclose(freq, target, atol=0.015)  # ~4 standard errors
    assert _np(sample_tokens(many[:2], counters[:2], temperature=0.0)).tolist() == [1, 1]


def test_noise_depends_on_seed_counter_and_token_only():
    a = _np(gumbel_noise(5, np.array([0, 1, 0], "int32"), 6))
    np.testing.assert_allclose(a[0], a[2], rtol=1e-6)  # equal counters, equal noise (to the last bit of log)
    assert not np.allclose(a[0], a[1])
    assert not np.allclose(a, _np(gumbel_noise(6, np.array([0, 1, 0], "int32"), 6)))
    tensor_seed = _np(gumbel_noise(ops.convert_to_tensor(5, "int32"), np.array([0, 1, 0], "int32"), 6))
    np.testing.assert_allclose(a, tensor_seed, rtol=1e-6)
    assert np.isfinite(a).all()


# ---- language models: prompts of mixed lengths, budgets ----

def _lm(seed=2, family="lstm"):
    keras.utils.set_random_seed(seed)
    if family == "lstm":  # forced prompt tokens
        model = RNNLanguageModel(13, embed_dim=6, units=8, cell="lstm")
    else:  # one pass over the right-padded prompts
        model = TransformerLanguageModel(13, embed_dim=8, num_heads=2, ff_dim=16, num_layers=1, max_length=24)
        assert model.continues_padded_prompts
    model(np.ones((1, 2), "int32"))
    return model


PROMPTS = [[3, 5, 6, 7], [3], [3, 9, 10]]


def _generate(model, prompts, strategy, n, **kwargs):
    ids = np.zeros((len(prompts), max(map(len, prompts))), "int32")
    for row, p in enumerate(prompts):
        ids[row, :len(p)] = p
    out = generate(model, ids, np.array([len(p) for p in prompts], "int32"), strategy, n, **kwargs)
    return [list(t[:m]) for t, m in zip(_np(out["new_tokens"])[:, 0], _np(out["new_lengths"])[:, 0])]


def test_greedy_generation_equals_rerunning_the_prefix():
    model = _lm()
    got = _generate(model, PROMPTS, Greedy(), 5)
    for prompt, new in zip(PROMPTS, got):
        sequence = list(prompt)
        for _ in range(5):  # the slow reference: re-run the whole prefix for every token
            logits = _np(model(np.array([sequence], "int32")))[0, -1].astype("float64")
            logits[list(BANNED)] = -np.inf
            sequence.append(int(logits.argmax()))
            if sequence[-1] == END:
                break
        assert new == sequence[len(prompt):]


@pytest.mark.parametrize("strategy, family", [
    (Sampling(temperature=1.0, top_p=0.95, seed=11), "lstm"), (BeamSearch(3, 0.6), "lstm"),
    (Sampling(temperature=1.0, top_k=5, seed=11), "transformer")])
def test_a_batch_of_mixed_prompts_generates_what_each_prompt_generates_alone(strategy, family):
    model = _lm(family=family)
    batched = _generate(model, PROMPTS, strategy, 6)
    assert batched == [_generate(model, [p], strategy, 6)[0] for p in PROMPTS]
    assert all(len(new) == 6 or new[-1] == END for new in batched)
    if isinstance(strategy, Sampling):
        assert batched != _generate(model, PROMPTS, Sampling(temperature=1.0, top_p=0.95, seed=12), 6)


def test_budgets_and_context_limits_end_each_prompt():
    model = _lm()

    def ended_or_used(new, budget):
        return len(new) == budget or (0 < len(new) < budget and new[-1] == END)

    got = _generate(model, PROMPTS, Sampling(temperature=1.0, seed=0), np.array([2, 0, 3], "int32"))
    assert [ended_or_used(g, n) for g, n in zip(got, [2, 0, 3])] == [True] * 3
    limited = _generate(model, PROMPTS, Greedy(), 10, context=6)  # a prompt of n tokens gets 6 - n at most
    assert [ended_or_used(g, 6 - len(p)) for g, p in zip(limited, PROMPTS)] == [True] * 3



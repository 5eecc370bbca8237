"""RNNLanguageModel (carried states) and sampling: cached steps == full run, TBPTT carry, greedy/top-k/top-p/seeds."""

import os

import keras
import numpy as np
import pytest

from models.decoding.sampling import filter_logits, generate, sample_next
from models.networks.rnn_language_model import RNNLanguageModel

SMALL = dict(vocab_size=13, embed_dim=6, units=8)


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _tokens(n=3, time=5, seed=0):
    return np.random.default_rng(seed).integers(1, 13, size=(n, time)).astype("int32")


@pytest.mark.parametrize("cell,num_layers", [("lstm", 2), ("simple", 1)])
def test_step_by_step_equals_the_full_run_and_chunks_carry_states(cell, num_layers):
    keras.utils.set_random_seed(0)
    model = RNNLanguageModel(**SMALL, cell=cell, num_layers=num_layers)
    tokens = _tokens()
    full = _np(model(tokens))
    assert full.shape == (3, 5, 13) and full.dtype == np.float32
    states = model.initial_states(3)
    for t in range(5):  # the generation path: one cell step per token
        logits, states = model.step(tokens[:, t], states)
        np.testing.assert_allclose(_np(logits), full[:, t], atol=1e-5)
    first, carried = model(tokens[:, :3], return_state=True)  # truncated BPTT: chunk 1, then chunk 2
    second = model(tokens[:, 3:], initial_state=carried)
    np.testing.assert_allclose(np.concatenate([_np(first), _np(second)], axis=1), full, atol=1e-5)
    assert len(carried) == num_layers and all(len(s) == (2 if cell == "lstm" else 1) for s in carried)


def test_filters_match_numpy():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(4, 10)).astype("float32")
    top3 = _np(filter_logits(logits, top_k=3))
    assert ((top3 > -1e8).sum(-1) == 3).all()
    np.testing.assert_array_equal(top3 > -1e8, logits >= np.sort(logits, -1)[:, -3:-2])
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    for p in (0.3, 0.9):
        kept = _np(filter_logits(logits, top_p=p)) > -1e8
        for row in range(4):
            order = np.argsort(-probs[row])
            before = np.cumsum(probs[row][order]) - probs[row][order]
            expected = set(order[before < p].tolist())  # smallest prefix reaching p; the argmax always
            assert set(np.flatnonzero(kept[row]).tolist()) == expected


def test_sampling_greedy_limit_seeds_and_support():
    logits = np.log(np.array([[0.05, 0.6, 0.3, 0.05], [0.4, 0.1, 0.1, 0.4001]], "float32"))
    greedy = _np(sample_next(logits, temperature=0.0)).tolist()
    assert greedy == [1, 3]
    assert _np(sample_next(logits, temperature=1e-4, seed=3)).tolist() == greedy  # T -> 0 is greedy
    draws = [_np(sample_next(logits, 1.0, seed=keras.random.SeedGenerator(7))).tolist() for _ in range(2)]
    assert draws[0] == draws[1]  # a fixed seed reproduces the sample
    seeds = keras.random.SeedGenerator(0)
    many = np.array([_np(sample_next(logits, 1.0, top_k=2, seed=seeds)) for _ in range(200)])
    assert set(many[:, 0].tolist()) <= {1, 2} and set(many[:, 1].tolist()) <= {0, 3}
    with pytest.raises(ValueError, match="temperature"):
        sample_next(logits, temperature=-1.0)


@pytest.mark.slow  # re-traces per prefix length: seconds on TensorFlow, tens of seconds on JAX (the JAX pass skips slow)
def test_generate_is_seeded_and_greedy_equals_rerunning_the_prefix():
    keras.utils.set_random_seed(2)
    model = RNNLanguageModel(**SMALL, cell="lstm")
    prompt = _tokens(n=2, time=3, seed=4)
    greedy = _np(generate(model, prompt, 4, temperature=0.0))
    sequence = prompt
    for _ in range(4):  # the slow reference: re-run the whole prefix for every token
        nxt = _np(model(sequence))[:, -1].argmax(-1).astype("int32")
        sequence = np.concatenate([sequence, nxt[:, None]], axis=1)
    np.testing.assert_array_equal(greedy, sequence[:, 3:])
    a = _np(generate(model, prompt, 5, temperature=1.0, top_p=0.9, seed=11))
    b = _np(generate(model, prompt, 5, temperature=1.0, top_p=0.9, seed=11))
    np.testing.assert_array_equal(a, b)


def test_round_trip_and_invalid_arguments(tmp_path):
    model = RNNLanguageModel(**SMALL, cell="gru", num_layers=2, dropout=0.1)  # GRU: the third cell kind
    tokens = _tokens()
    expected = _np(model(tokens))
    path = os.path.join(tmp_path, "lm.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, RNNLanguageModel) and restored.get_config() == model.get_config()
    np.testing.assert_allclose(_np(restored(tokens)), expected, atol=1e-6)
    logits, states = restored(tokens[:, :3], return_state=True)  # GRU: carried states continue the run
    np.testing.assert_allclose(_np(restored(tokens[:, 3:], initial_state=states)), expected[:, 3:], atol=1e-5)
    with pytest.raises(ValueError, match="Received: cell='rnn'"):
        RNNLanguageModel(**SMALL, cell="rnn")

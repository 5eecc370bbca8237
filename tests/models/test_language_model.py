"""RNNLanguageModel (carried states): cached steps == full run, TBPTT carry, round trip (decoding: test_decoding)."""

import os

import keras
import numpy as np
import pytest

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

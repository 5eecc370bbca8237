"""StatefulLanguageModel: states carried across chunks equal one pass over the whole sequence."""

import keras
import numpy as np

from components.trainer.stateful import ResetStates, StatefulLanguageModel
from components.trainer.model_builder import make_loss
from models.networks.rnn_language_model import RNNLanguageModel


def _lm(cell="lstm"):
    keras.utils.set_random_seed(0)
    lm = RNNLanguageModel(20, embed_dim=6, units=8, cell=cell, num_layers=2)
    lm(np.ones((1, 2), "int32"))
    return lm


def test_chunks_with_carried_states_equal_the_whole_sequence():
    lm = _lm()
    wrapper = StatefulLanguageModel(lm, train_batch_size=2, eval_batch_size=2)
    ids = np.random.default_rng(0).integers(1, 20, (2, 12)).astype("int32")
    wrapper(ids[:, :4], training=False)  # builds the state variables
    wrapper.reset_states("eval")
    chunks = [wrapper(ids[:, i:i + 4], training=False) for i in range(0, 12, 4)]
    whole = lm(ids)
    np.testing.assert_allclose(np.concatenate([np.asarray(c) for c in chunks], axis=1), np.asarray(whole),
                               atol=1e-5)
    wrapper.reset_states("eval")  # back to the start of the stream
    np.testing.assert_allclose(np.asarray(wrapper(ids[:, :4], training=False)), np.asarray(whole[:, :4]), atol=1e-5)


def test_fit_carries_training_states_and_resets_them_each_epoch():
    lm = _lm("gru")
    wrapper = StatefulLanguageModel(lm, train_batch_size=2, eval_batch_size=1)
    x = np.random.default_rng(1).integers(1, 20, (2, 4)).astype("int32")
    wrapper(x, training=True)
    wrapper.compile(optimizer="adam", loss=make_loss())
    seen = []

    class Spy(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(float(np.abs(np.asarray(wrapper._state_vars["train"][0][0])).sum()))

    wrapper.fit(np.concatenate([x, x]), np.concatenate([x, x]), batch_size=2, epochs=2, shuffle=False,
                callbacks=[ResetStates(), Spy()], verbose=0)
    assert seen[0] == 0.0 and seen[2] == 0.0  # zero at every epoch start
    assert seen[1] > 0.0  # the second batch starts from the first batch's states
    assert np.abs(np.asarray(wrapper._state_vars["eval"][0][0])).sum() == 0.0  # eval states untouched

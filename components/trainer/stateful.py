"""Stateful truncated BPTT: a wrapper that carries a recurrent language model's states between batches.

`StatefulLanguageModel(lm, train_batch_size, eval_batch_size)` reads the
states left by the previous batch from non-trainable variables, runs `lm`
on the new chunk from them and stores the states after its last step for the
next batch. A variable read has no gradient to the chunk that wrote it, so
gradients stay inside a chunk: truncated BPTT. Training and evaluation keep
separate states (they read different streams, with different row counts);
`ResetStates` zeroes the training states at every epoch start and the
evaluation states before every evaluation. The wrapped `lm` stays a plain,
stateless `RNNLanguageModel`: that is what the trainer saves and serving
exports.

Feed it `lm_input.stateful_dataset` batches (row i of batch k+1 continues
row i of batch k; every batch full).

Example:

>>> wrapper = StatefulLanguageModel(lm, train_batch_size=64, eval_batch_size=16)  # doctest: +SKIP
>>> wrapper.compile(optimizer="adam", loss=make_loss())  # doctest: +SKIP
>>> wrapper.fit(train_ds, validation_data=eval_ds, callbacks=[ResetStates()])  # doctest: +SKIP
"""

from __future__ import annotations

import keras
from keras import ops


class StatefulLanguageModel(keras.Model):
    """Carries `lm`'s states across batches (see module docstring)."""

    def __init__(self, lm, train_batch_size: int, eval_batch_size: int, **kwargs):
        super().__init__(**kwargs)
        if not hasattr(lm, "initial_states"):
            raise ValueError(f"Stateful training needs a recurrent language model. Received: {type(lm).__name__}")
        self.lm = lm
        self.train_batch_size = int(train_batch_size)
        self.eval_batch_size = int(eval_batch_size)
        self._state_vars = {}

    def build(self, input_shape):
        if not self.lm.built:
            self.lm.build(input_shape)
        for phase, batch in (("train", self.train_batch_size), ("eval", self.eval_batch_size)):
            template = self.lm.initial_states(batch)
            self._state_vars[phase] = [
                [self.add_weight(shape=(batch, self.lm.units), initializer="zeros", trainable=False,
                                 dtype="float32", name=f"{phase}_state_{i}_{j}")
                 for j in range(len(layer))]
                for i, layer in enumerate(template)
            ]
        self.built = True

    def _states(self, phase):
        dtype = self.lm.compute_dtype
        return [[ops.cast(v, dtype) for v in layer] for layer in self._state_vars[phase]]

    def call(self, inputs, training=False):
        phase = "train" if training else "eval"
        logits, states = self.lm(inputs, initial_state=self._states(phase), return_state=True,
                                 training=training)  # (batch, L, vocab) float32
        for layer_vars, layer_states in zip(self._state_vars[phase], states):
            for var, state in zip(layer_vars, layer_states):
                var.assign(ops.cast(ops.stop_gradient(state), "float32"))
        return logits

    def reset_states(self, phase: str) -> None:
        """Zeroes the carried states of `phase` ("train" or "eval")."""
        for layer_vars in self._state_vars.get(phase, []):
            for var in layer_vars:
                var.assign(ops.zeros(var.shape, dtype=var.dtype))


class ResetStates(keras.callbacks.Callback):
    """Zeroes the training states at each epoch start and the evaluation states before each evaluation."""

    def on_epoch_begin(self, epoch, logs=None):
        self.model.reset_states("train")

    def on_test_begin(self, logs=None):
        self.model.reset_states("eval")

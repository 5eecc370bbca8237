"""Backend-agnostic metrics of seqlab (only `keras` and `keras.ops`).

`MaskedAccuracy` is in the compile config of the trainer's translation and
tagging models, so `keras.saving.load_model("model.keras")` (compile=True)
needs it registered: `import models` does that, no `components` import needed.
"""

from __future__ import annotations

import keras
from keras import ops

PAD_ID = 0  # = serving.schema.PAD_ID; `models` must not import `components`


@keras.saving.register_keras_serializable(package="seqlab")  # "seqlab>MaskedAccuracy", as saved before
class MaskedAccuracy(keras.metrics.Metric):
    """Token accuracy over non-[PAD] target positions.

    Args:
        pad_id: the target id that is ignored.
        name: the metric name.
    """

    def __init__(self, pad_id: int = PAD_ID, name: str = "accuracy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.pad_id = pad_id
        self.correct = self.add_variable(shape=(), initializer="zeros", name="correct")
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(y_true, "int32")  # (batch, T)
        predicted = ops.cast(ops.argmax(y_pred, axis=-1), "int32")  # (batch, T)
        mask = ops.cast(ops.not_equal(y_true, self.pad_id), "float32")
        if sample_weight is not None:
            mask = mask * ops.cast(ops.reshape(sample_weight, ops.shape(mask)), "float32")
        hits = ops.cast(ops.equal(y_true, predicted), "float32") * mask
        self.correct.assign_add(ops.sum(hits))
        self.total.assign_add(ops.sum(mask))

    def result(self):
        return self.correct / ops.maximum(self.total, 1.0)

    def get_config(self):
        return {**super().get_config(), "pad_id": self.pad_id}

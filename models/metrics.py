"""Backend-agnostic metrics of seqlab (only `keras` and `keras.ops`).

`MaskedAccuracy` is in the compile config of the trainer's translation and
tagging models, so `keras.saving.load_model("model.keras")` (compile=True)
needs it registered: `import models` does that, no `components` import needed.
"""

from __future__ import annotations

import keras
from keras import ops

from models.checks import check_rate

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


@keras.saving.register_keras_serializable(package="seqlab")
class SmoothedSparseCrossEntropy(keras.losses.Loss):
    """Cross-entropy on logits against label-smoothed targets, [PAD] targets ignored (Szegedy et al., 2016).

    The target distribution is `(1 - label_smoothing)` on the true token plus `label_smoothing / V` on every
    token of the vocabulary (size V), so per position

        loss = (1 - label_smoothing) * -log p(y) + label_smoothing * mean_v -log p(v)

    computed in float32 from the logits; positions whose target is `pad_id` weigh nothing and, with the
    default reduction, the mean is over the others (as `SparseCategoricalCrossentropy(ignore_class=pad_id)`,
    which it equals at label_smoothing=0).

    Example:

    >>> loss = SmoothedSparseCrossEntropy(0.1)
    >>> float(loss(np.array([[3, 0]]), np.zeros((1, 2, 4), "float32")))  # uniform logits: log 4
    1.386...
    """

    def __init__(self, label_smoothing: float = 0.1, pad_id: int = PAD_ID, name: str = "smoothed_cross_entropy",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        check_rate("label_smoothing", label_smoothing)
        self.label_smoothing = label_smoothing
        self.pad_id = pad_id

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "int32")  # (batch, T)
        log_probs = ops.log_softmax(ops.cast(y_pred, "float32"), axis=-1)  # (batch, T, V)
        valid = ops.not_equal(y_true, self.pad_id)  # (batch, T)
        picked = ops.take_along_axis(log_probs, ops.where(valid, y_true, 0)[..., None], axis=-1)[..., 0]
        losses = -(1.0 - self.label_smoothing) * picked - self.label_smoothing * ops.mean(log_probs, axis=-1)
        losses = ops.where(valid, losses, 0.0)  # (batch, T)
        # The default reduction divides the sum by batch * T; scaled so that it is the mean over real positions.
        real = ops.maximum(ops.sum(ops.cast(valid, "float32")), 1.0)
        return losses * (ops.cast(ops.size(losses), "float32") / real)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing, "pad_id": self.pad_id}

"""Learning-rate schedules of seqlab (serializable, so a saved model's optimizer loads after `import models`)."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="seqlab")
class InverseSqrtSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """The Transformer's schedule (Vaswani et al., 2017, eq. 3) scaled to a peak rate:

        lr(step) = peak * min(step / warmup_steps, sqrt(warmup_steps / step)),  step counted from 1

    a linear warm-up to `peak` at `warmup_steps`, then decay as 1/sqrt(step). Vaswani's
    `d_model^-0.5 * min(step^-0.5, step * warmup^-1.5)` is this with `peak = (d_model * warmup)^-0.5`.

    Example:

    >>> schedule = InverseSqrtSchedule(1e-3, warmup_steps=100)
    >>> [round(float(schedule(s)), 6) for s in (0, 49, 99, 399)]
    [1e-05, 0.0005, 0.001, 0.0005]
    """

    def __init__(self, peak: float, warmup_steps: int):
        if peak <= 0 or warmup_steps < 1:
            raise ValueError(f"Expected peak > 0 and warmup_steps >= 1. Received: peak={peak}, "
                             f"warmup_steps={warmup_steps}")
        self.peak = peak
        self.warmup_steps = warmup_steps

    def __call__(self, step):
        step = ops.cast(step, "float32") + 1.0  # optimizer iterations count from 0
        warmup = float(self.warmup_steps)
        return self.peak * ops.minimum(step / warmup, ops.sqrt(warmup / step))

    def get_config(self):
        return {"peak": self.peak, "warmup_steps": self.warmup_steps}

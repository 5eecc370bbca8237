"""Chooses and sets the Keras dtype policy from `train.precision`."""

from __future__ import annotations

import logging

import keras
import tensorflow as tf

logger = logging.getLogger(__name__)

PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")


def resolve_precision(precision: str) -> str:
    """`auto` -> `mixed_float16` when a GPU is visible, else `float32`."""
    if precision not in PRECISIONS:
        raise ValueError(
            f"train.precision must be one of {list(PRECISIONS)}. Received: precision={precision!r}"
        )
    if precision == "auto":
        return "mixed_float16" if tf.config.list_physical_devices("GPU") else "float32"
    return precision


def set_precision(precision: str) -> str:
    """Sets the global dtype policy once and returns its name."""
    name = resolve_precision(precision)
    keras.mixed_precision.set_dtype_policy(name)
    logger.info("Dtype policy: %s (train.precision=%s)", name, precision)
    return name

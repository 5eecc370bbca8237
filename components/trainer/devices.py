"""Where the math runs: the Keras dtype policy (`train.precision`), the random seed and op determinism
(`train.seed`, `train.deterministic`) and the tf.distribute strategy (`train.strategy`)."""

from __future__ import annotations

import logging

import keras
import tensorflow as tf

logger = logging.getLogger(__name__)


def resolve_precision(precision: str) -> str:
    """`auto` -> `mixed_float16` when a GPU is visible, else `float32`; the config loader checks the name."""
    if precision == "auto":
        return "mixed_float16" if tf.config.list_physical_devices("GPU") else "float32"
    return precision


def set_precision(precision: str) -> str:
    """Sets the global dtype policy once and returns its name."""
    name = resolve_precision(precision)
    keras.mixed_precision.set_dtype_policy(name)
    logger.info("Dtype policy: %s (train.precision=%s)", name, precision)
    return name


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seeds Python, NumPy, TensorFlow and Keras (weight init, shuffling, dropout) with `seed`; with
    `deterministic`, also turns on TensorFlow's op determinism for the rest of the process (no way back:
    `tf.config.experimental` has no switch off), so a rerun of the same seed is bit-identical even where
    a parallel kernel would sum in another order.

    >>> seed_everything(0)
    """
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    logger.info("Random seed %d%s", seed, ", op determinism on" if deterministic else "")


def make_strategy(name: str) -> tf.distribute.Strategy:
    """`auto`/`default` -> the default strategy; `mirrored` -> all local GPUs;
    `multi_worker` -> MultiWorkerMirroredStrategy configured from `TF_CONFIG` (the config loader checks the name)."""
    if name == "mirrored":
        strategy = tf.distribute.MirroredStrategy()
    elif name == "multi_worker":
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    else:
        strategy = tf.distribute.get_strategy()
    logger.info(
        "Distribution strategy: %s (%d replica(s))", type(strategy).__name__, strategy.num_replicas_in_sync
    )
    return strategy

"""Chooses the tf.distribute strategy from `train.strategy`."""

from __future__ import annotations

import logging

import tensorflow as tf

logger = logging.getLogger(__name__)

STRATEGIES = ("auto", "default", "mirrored", "multi_worker")


def make_strategy(name: str) -> tf.distribute.Strategy:
    """`auto`/`default` -> the default strategy; `mirrored` -> all local GPUs;
    `multi_worker` -> MultiWorkerMirroredStrategy configured from `TF_CONFIG`."""
    if name in ("auto", "default"):
        strategy = tf.distribute.get_strategy()
    elif name == "mirrored":
        strategy = tf.distribute.MirroredStrategy()
    elif name == "multi_worker":
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    else:
        raise ValueError(
            f"train.strategy must be one of {list(STRATEGIES)}. Received: strategy={name!r}"
        )
    logger.info(
        "Distribution strategy: %s (%d replica(s))", type(strategy).__name__, strategy.num_replicas_in_sync
    )
    return strategy

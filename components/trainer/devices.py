"""Where the math runs: the Keras dtype policy (`train.precision`), the random seed and op determinism
(`train.seed`, `train.deterministic`) and the tf.distribute strategy (`train.strategy`).

`train.strategy: multi_worker` builds `KerasMultiWorkerStrategy`, a `tf.distribute.MultiWorkerMirroredStrategy`
whose public `reduce` takes the two calls that Keras 3's TensorFlow trainer makes and TF's multi-worker reduce
rejects (keras-team/keras#20329, #20585; tensorflow/tensorflow#72388). Drop it, and its test, once
`tests/components/test_distribute.py::test_plain_multi_worker_reduce_still_rejects_what_keras_passes` fails:
that is TF or Keras fixed.
"""

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


class KerasMultiWorkerStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """`MultiWorkerMirroredStrategy` whose `reduce` accepts the two calls Keras 3.15's `fit` makes.

    1. Before training, Keras builds the model symbolically from one input batch and, to get that batch, calls
       `reduce("MEAN", batch, axis=None)` on the whole nest of per-replica tensors (keras-team/keras#20329,
       #20585); TF's reduce takes one value ("Attempt to convert a value ({...: PerReplica...}) to a Tensor").
       Only the batch's shapes and dtypes are read, so a nest gets this worker's first local replica values:
       no collective, which would also fail on workers whose length-bucketed batches differ in shape.
    2. After every step Keras reduces each metric with `reduce("MEAN", value, axis=0)`, and a scalar has no
       axis 0 ("Invalid reduction dimension 0 for input with 0 dimensions"); a scalar is averaged over the
       replicas (axis=None), which is what Keras means.

    Everything else (a nest reduced along an axis included) goes to TF's `reduce` unchanged.

    Example:

    >>> strategy = KerasMultiWorkerStrategy()  # TF_CONFIG names the cluster  # doctest: +SKIP
    >>> strategy.reduce("MEAN", {"ids": per_replica_ids}, axis=None)  # doctest: +SKIP
    {'ids': <tf.Tensor: shape=(32, 20), dtype=int64, ...>}
    """

    def reduce(self, reduce_op, value, axis):
        if axis is None and tf.nest.is_nested(value):  # 1: the symbolic build's input batch
            return tf.nest.map_structure(lambda v: self.experimental_local_results(v)[0], value)
        if axis is not None and self.experimental_local_results(value)[0].shape.rank == 0:  # 2: a scalar metric
            axis = None
        return super().reduce(reduce_op, value, axis)


_multi_worker: KerasMultiWorkerStrategy | None = None


def multi_worker_strategy() -> KerasMultiWorkerStrategy:
    """The process's one `KerasMultiWorkerStrategy`, made on the first call.

    TensorFlow configures collective ops only before it runs its first op, and the constructor returns once
    every worker of `TF_CONFIG` has made its own: the runner calls this at the start of a run
    (`pipeline.worker.join_cluster`), the trainer gets the same object later.

    >>> strategy = multi_worker_strategy()  # doctest: +SKIP
    """
    global _multi_worker
    if _multi_worker is None:
        try:
            _multi_worker = KerasMultiWorkerStrategy()
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}: make the multi-worker strategy before TensorFlow runs anything, as "
                               "`seqlab run` does (pipeline.worker.join_cluster)") from exc
    return _multi_worker


def make_strategy(name: str) -> tf.distribute.Strategy:
    """`auto`/`default` -> the default strategy; `mirrored` -> all local GPUs;
    `multi_worker` -> `multi_worker_strategy()`, configured from `TF_CONFIG` (the config loader checks the name)."""
    if name == "mirrored":
        strategy = tf.distribute.MirroredStrategy()
    elif name == "multi_worker":
        strategy = multi_worker_strategy()
    else:
        strategy = tf.distribute.get_strategy()
    logger.info(
        "Distribution strategy: %s (%d replica(s))", type(strategy).__name__, strategy.num_replicas_in_sync
    )
    return strategy

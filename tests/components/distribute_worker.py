"""Worker processes for tests/components/test_distribute.py (each check needs a fresh TensorFlow).

    python distribute_worker.py pin        one of a two-worker TF_CONFIG cluster: Keras 3's fit under
                                           KerasMultiWorkerStrategy with each of its two fixes turned off, then on
    python distribute_worker.py mirrored   MirroredStrategy over two logical CPUs vs one device, same global batch

Each prints one JSON line starting with RESULT.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def _data(n=64):
    rng = np.random.default_rng(0)
    x = {"ids": rng.integers(1, 20, size=(n, 6)).astype("int32"), "extra": rng.random((n, 3), dtype="float32")}
    y = rng.integers(0, 2, size=(n,)).astype("int32")
    return x, y


def _model():
    import keras

    ids = keras.Input((6,), dtype="int32", name="ids")
    extra = keras.Input((3,), name="extra")
    pooled = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(20, 4)(ids))
    out = keras.layers.Dense(2, activation="softmax")(keras.layers.Concatenate()([pooled, extra]))
    model = keras.Model({"ids": ids, "extra": extra}, out)
    model.compile(keras.optimizers.SGD(0.5), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _fit(strategy, global_batch=16):
    import keras

    keras.utils.set_random_seed(0)
    x, y = _data()
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(global_batch)
    with strategy.scope():
        model = _model()
    model.initial_weights = model.get_weights()
    model.fit(dataset, epochs=1, verbose=0, shuffle=False)
    return model


def pin():
    """Fit 1: only the scalar fix (expect Keras's nested reduce error); fit 2: only the nested fix (expect the
    scalar axis=0 error); fit 3: both. Neither failure runs a collective, so one cluster serves all three."""
    from components.trainer.devices import KerasMultiWorkerStrategy

    class Toggled(KerasMultiWorkerStrategy):
        fixes = ()

        def reduce(self, reduce_op, value, axis):
            if tf.nest.is_nested(value) and "nested" not in self.fixes:
                return tf.distribute.MultiWorkerMirroredStrategy.reduce(self, reduce_op, value, axis)
            if not tf.nest.is_nested(value) and "scalar" not in self.fixes:
                return tf.distribute.MultiWorkerMirroredStrategy.reduce(self, reduce_op, value, axis)
            return super().reduce(reduce_op, value, axis)

    strategy = Toggled()
    errors = {}
    for name, fixes in (("without_nested_fix", ("scalar",)), ("without_scalar_fix", ("nested",))):
        strategy.fixes = fixes
        try:
            _fit(strategy)
            errors[name] = None
        except Exception as exc:  # noqa: BLE001 - the message is the result
            errors[name] = str(exc).splitlines()[0][:300]
    strategy.fixes = ("nested", "scalar")
    weights = _fit(strategy).get_weights()
    print("RESULT " + json.dumps({"errors": errors, "weights": [w.tolist() for w in weights]}), flush=True)


def mirrored():
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    one_model = _fit(tf.distribute.OneDeviceStrategy("/cpu:0"))
    one = one_model.get_weights()
    two_strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    two = _fit(two_strategy).get_weights()
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(one, two))
    moved = max(float(np.max(np.abs(a - b))) for a, b in zip(one, one_model.initial_weights))
    print("RESULT " + json.dumps({"replicas": two_strategy.num_replicas_in_sync, "max_abs_diff": diff,
                                  "moved": moved}), flush=True)


if __name__ == "__main__":
    {"pin": pin, "mirrored": mirrored}[sys.argv[1]]()

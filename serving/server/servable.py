"""One loaded version of a model: its signatures (as the SavedModel's MetaGraphDef declares them), a
runner, and the warmup replay TF Serving does at load.

Example:

>>> servable = Servable.load("dates", 1, "seqlab_runs/serving/dates/1")  # doctest: +SKIP
>>> servable.run("serving_default", {"text": np.array([b"3 March 1998"], object)})["translation"]  # doctest: +SKIP
array([b'1998-03-03'], dtype=object)
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Mapping

import numpy as np

logger = logging.getLogger(__name__)

WARMUP_PATH = ("assets.extra", "tf_serving_warmup_requests")
MAX_WARMUP_RECORDS = 1000  # TF Serving's kMaxNumRecords in saved_model_warmup_util


def read_meta_graph(export_dir: str | Path):
    """The `serve`-tagged MetaGraphDef of a SavedModel (its signature_def map is what clients see)."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    saved_model.ParseFromString((Path(export_dir) / "saved_model.pb").read_bytes())
    for meta_graph in saved_model.meta_graphs:
        if "serve" in meta_graph.meta_info_def.tags:
            return meta_graph
    raise ValueError(f"No MetaGraphDef tagged 'serve' in {export_dir}")


class Servable:
    """A model version ready to run. `signature_defs` maps signature names to SignatureDef protos."""

    def __init__(self, name: str, version: int, path: str, loaded, signature_defs: Mapping):
        self.name = name
        self.version = version
        self.path = path
        self._loaded = loaded  # keeps the SavedModel's resources alive
        self._functions = dict(loaded.signatures)
        self.signature_defs = {k: v for k, v in signature_defs.items() if k in self._functions}

    @classmethod
    def load(cls, name: str, version: int, path: str | Path) -> "Servable":
        """Loads a SavedModel version (registering the tensorflow-text ops first)."""
        import tensorflow as tf
        import tensorflow_text  # noqa: F401  (registers the ops the graphs use)

        meta_graph = read_meta_graph(path)
        loaded = tf.saved_model.load(str(path), tags=["serve"])
        return cls(name, version, str(path), loaded, dict(meta_graph.signature_def))

    def run(self, signature_name: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Runs one signature on numpy inputs (already checked against it); numpy outputs by alias."""
        import tensorflow as tf

        signature = self.signature_defs[signature_name]
        feeds = {name: tf.constant(value, dtype=tf.dtypes.as_dtype(signature.inputs[name].dtype))
                 for name, value in inputs.items()}
        outputs = self._functions[signature_name](**feeds)
        return {name: tensor.numpy() for name, tensor in outputs.items()}

    def warmup(self, run_request) -> int:
        """Replays `assets.extra/tf_serving_warmup_requests` through `run_request(PredictRequest)`.

        Returns the number of records replayed; a failing record fails the load, as in TF Serving.
        """
        path = Path(self.path).joinpath(*WARMUP_PATH)
        if not path.exists():
            return 0
        import tensorflow as tf
        from tensorflow_serving.apis import prediction_log_pb2

        start, count = time.monotonic(), 0
        for record in tf.data.TFRecordDataset(str(path)).take(MAX_WARMUP_RECORDS):
            log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
            if log.WhichOneof("log_type") != "predict_log":
                raise ValueError(f"Unsupported log_type for warmup: {log.WhichOneof('log_type')} in {path}")
            request = log.predict_log.request
            request.model_spec.name = self.name
            request.model_spec.version.value = self.version
            run_request(request, self)
            count += 1
        logger.info("Replayed %d warmup request(s) for %s version %d in %.2fs", count, self.name, self.version,
                    time.monotonic() - start)
        return count


def close_servable(servable: Servable) -> None:
    """Runs the callbacks registered on a servable when it is unloaded (e.g. stopping its batchers)."""
    for callback in getattr(servable, "on_close", []):
        callback()

"""One loaded version of a model: its signatures (as the SavedModel's MetaGraphDef declares them), a
runner, and the warmup replay TF Serving does at load.

A version runs as TF Serving runs it: the `serve` MetaGraphDef imported into a graph with its own session
(the SavedModel loader, which restores the variables and runs the init op that fills the lookup tables),
and each request is one `Session.run` that feeds and fetches the tensors its SignatureDef names. Nothing
rebuilds Python function objects as `tf.saved_model.load` does, and a request costs less Python than a
restored function's call: under 64 clients a version is ready ~1.4x sooner after it is found and the
server answers 9-54% more requests a second (`benchmarks/README.md`, serve_load.py).

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


class Servable:
    """A model version ready to run. `signature_defs` maps signature names to SignatureDef protos."""

    def __init__(self, name: str, version: int, path: str, session, signature_defs: Mapping):
        import tensorflow as tf

        self.name = name
        self.version = version
        self.path = path
        self._session = session  # closed when the servable is collected, after its last request
        # `__saved_model_init_op` (the table initializer the loader ran) is no signature a client can call
        self.signature_defs = {k: v for k, v in signature_defs.items() if not k.startswith("__")}
        self._fetches = {k: {alias: t.name for alias, t in v.outputs.items()} for k, v in self.signature_defs.items()}
        self._feeds = {k: {alias: (t.name, tf.dtypes.as_dtype(t.dtype).as_numpy_dtype) for alias, t in v.inputs.items()}
                       for k, v in self.signature_defs.items()}  # alias -> (tensor name, numpy dtype)

    @classmethod
    def load(cls, name: str, version: int, path: str | Path) -> "Servable":
        """Loads a SavedModel version into its own graph and session (tensorflow-text ops registered first)."""
        import tensorflow as tf
        import tensorflow_text  # noqa: F401  (registers the ops the graphs use)

        graph = tf.Graph()
        session = tf.compat.v1.Session(graph=graph)
        with graph.as_default():
            meta_graph = tf.compat.v1.saved_model.load(session, ["serve"], str(path))
        return cls(name, version, str(path), session, dict(meta_graph.signature_def))

    def run(self, signature_name: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Runs one signature on numpy inputs (already checked against it); numpy outputs by alias."""
        tensors = self._feeds[signature_name]
        feeds = {tensors[alias][0]: np.asarray(value, dtype=tensors[alias][1]) for alias, value in inputs.items()}
        return self._session.run(self._fetches[signature_name], feeds)

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

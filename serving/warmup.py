"""TF Serving warmup requests: `assets.extra/tf_serving_warmup_requests` beside a SavedModel.

TF Serving replays these `PredictionLog` records when it loads a version, so the first real
request does not pay for tracing. One record, one batched PredictRequest of `texts`.

Example:

>>> write_warmup("/tmp/export/1", ["hello"], model_name="dates")  # doctest: +SKIP
PosixPath('/tmp/export/1/assets.extra/tf_serving_warmup_requests')
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import tensorflow as tf

SIGNATURE = "serving_default"
INPUT_NAME = "text"
WARMUP_FILE = "tf_serving_warmup_requests"
DEFAULT_WARMUP_TEXTS: tuple[str, ...] = ("hello", "march 3, 2024", "")


def warmup_record(texts: Sequence[str], model_name: str = "", signature: str = SIGNATURE,
                  input_name: str = INPUT_NAME) -> bytes:
    """A serialized `tensorflow.serving.PredictionLog` holding one batched PredictRequest (official protos)."""
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature))
    request.inputs[input_name].CopyFrom(tf.make_tensor_proto(list(texts), dtype=tf.string))
    log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
    return log.SerializeToString()


def write_warmup(export_dir: str | Path, texts: Sequence[str] = DEFAULT_WARMUP_TEXTS,
                 model_name: str = "", input_name: str = INPUT_NAME) -> Path:
    """Writes `assets.extra/tf_serving_warmup_requests` (one batched request)."""
    path = Path(export_dir) / "assets.extra" / WARMUP_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        writer.write(warmup_record(texts, model_name, input_name=input_name))
    return path

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


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _length_delimited(field: int, payload: bytes) -> bytes:
    return _varint((field << 3) | 2) + _varint(len(payload)) + payload


def warmup_record(texts: Sequence[str], model_name: str = "", signature: str = SIGNATURE,
                  input_name: str = INPUT_NAME) -> bytes:
    """A serialized `tensorflow.serving.PredictionLog` holding one PredictRequest.

    Hand-encoded (tensorflow-serving-api is not a dependency); field numbers from
    tensorflow_serving/apis/{prediction_log,predict,model}.proto:
    PredictionLog.predict_log=6, PredictLog.request=1, PredictRequest.model_spec=1,
    PredictRequest.inputs=2 (map entry key=1, value=2), ModelSpec.name=1,
    ModelSpec.signature_name=3.
    """
    tensor = tf.make_tensor_proto(list(texts), dtype=tf.string).SerializeToString()
    model_spec = (_length_delimited(1, model_name.encode()) if model_name else b"") + \
        _length_delimited(3, signature.encode())
    inputs_entry = _length_delimited(1, input_name.encode()) + _length_delimited(2, tensor)
    request = _length_delimited(1, model_spec) + _length_delimited(2, inputs_entry)
    return _length_delimited(6, _length_delimited(1, request))


def write_warmup(export_dir: str | Path, texts: Sequence[str] = DEFAULT_WARMUP_TEXTS,
                 model_name: str = "", input_name: str = INPUT_NAME) -> Path:
    """Writes `assets.extra/tf_serving_warmup_requests` (one batched request)."""
    path = Path(export_dir) / "assets.extra" / WARMUP_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        writer.write(warmup_record(texts, model_name, input_name=input_name))
    return path

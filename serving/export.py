"""Export a trained model as a self-contained SavedModel with a raw-string signature.

`serving_default` takes raw strings and runs the whole pipeline in the graph
with the transform's own normalize/tokenize code and vocab files (SavedModel
assets). Per task (`export_model` dispatches):

    translation     text string [batch] -> translation string [batch], score float32 [batch],
                    log_probability float32 [batch] (`push.decode`'s strategy in the graph, beam search
                    of width 4 by default: score = log P / GNMT length penalty, the beam's ranking)
    classification  text string [batch] -> label string [batch], probabilities float32 [batch, classes]
    tagging         text string [batch] -> tokens string [batch, T], tags string [batch, T],
                    length int32 [batch]  (words split as in `split_raw_words`, padded with "")
    language_model  prompt string [batch] -> text string [batch], num_tokens int32 [batch]; plus the
                    `generate` and `score` signatures (`serving/lm_export.py`)

Example:

>>> export_model(config, model, "artifacts/transform/abc", "/tmp/export/1")  # doctest: +SKIP
>>> from serving.predict import predict
>>> predict("/tmp/export/1", ["march 3, 2024"])  # doctest: +SKIP
[{'text': 'march 3, 2024', 'translation': '2024-03-03', 'score': -0.01}]
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import keras
import tensorflow as tf

from components import schema

logger = logging.getLogger(__name__)

SIGNATURE = "serving_default"
INPUT_NAME = "text"
WARMUP_FILE = "tf_serving_warmup_requests"
DEFAULT_WARMUP_TEXTS: tuple[str, ...] = ("hello", "march 3, 2024", "")


def make_serving_fn(model: keras.Model, source_processor, target_processor, max_decode_length: int, strategy):
    """The raw-string-in, named-outputs-out function (not yet traced); `strategy` from `models.decoding`."""
    from models.decoding import decode_seq2seq

    if max_decode_length <= 0:
        raise ValueError(
            f"max_decode_length must be positive. Received: max_decode_length={max_decode_length}"
        )

    def serve(text):
        ids = _padded_ids(source_processor, source_processor.encode(text))  # (batch, S)
        out = decode_seq2seq(model, ids, strategy, max_decode_length)  # the best hypothesis first
        return {
            "translation": target_processor.decode(out["tokens"][:, 0]),  # (batch,)
            "score": out["scores"][:, 0],  # (batch,) float32
            "log_probability": out["log_probs"][:, 0],  # (batch,) float32
        }

    return serve


def _padded_ids(processor, ragged_ids) -> tf.Tensor:
    """Ragged ids -> dense int32 (batch, T), right-padded with [PAD]; at least one column."""
    ids = ragged_ids.to_tensor(default_value=schema.PAD_ID)
    ids = tf.pad(ids, [[0, 0], [0, tf.maximum(0, 1 - tf.shape(ids)[1])]])
    return tf.cast(ids, tf.int32)


def make_classification_fn(model: keras.Model, processor, labels: Sequence[str]):
    """text -> {label, probabilities} (softmax in float32)."""
    label_names = tf.constant(list(labels), dtype=tf.string)

    def serve(text):
        ids = _padded_ids(processor, processor.encode(text))  # (batch, T)
        probabilities = tf.nn.softmax(tf.cast(model(ids, training=False), tf.float32), axis=-1)
        return {
            "label": tf.gather(label_names, tf.argmax(probabilities, axis=-1)),  # (batch,)
            "probabilities": probabilities,  # (batch, classes)
        }

    return serve


def make_tagging_fn(model: keras.Model, processor, tags: Sequence[str], char_ids: bool):
    """text -> {tokens, tags, length}: raw words, one tag per word."""
    from serving.text_processor import split_raw_words, word_char_ids

    tag_names = tf.constant(list(tags), dtype=tf.string)

    def serve(text):
        words = split_raw_words(text, processor.spec)[:, : schema.MAX_TAGGING_LENGTH]  # ragged (batch, T)
        ids = _padded_ids(processor, processor.encode_words(words))  # (batch, T), one id per word
        dense_words = words.to_tensor(default_value="", shape=tf.shape(ids, out_type=tf.int64))  # (batch, T)
        inputs = (ids, word_char_ids(dense_words, processor.spec)) if char_ids else ids
        predicted = model.predict_tags(inputs)  # (batch, T) int32, 0 at padding
        length = tf.cast(words.row_lengths(), tf.int32)
        real = tf.sequence_mask(length, tf.shape(ids)[1])
        return {
            "tokens": dense_words,
            "tags": tf.where(real, tf.gather(tag_names, predicted), ""),
            "length": length,
        }

    return serve


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


def _write_archive(export_dir: Path, serve_fn, tracked: Sequence, warmup_texts: Sequence[str],
                   model_name: str) -> Path:
    archive = keras.export.ExportArchive()
    for obj in tracked:
        archive.track(obj)
    archive.add_endpoint(SIGNATURE, serve_fn, input_signature=[tf.TensorSpec([None], tf.string, name=INPUT_NAME)])
    archive.write_out(str(export_dir), verbose=False)
    if warmup_texts:
        write_warmup(export_dir, warmup_texts, model_name)
    logger.info("Exported SavedModel to %s", export_dir)
    return Path(export_dir)


def export_model(config, model: keras.Model, transform_dir: str | Path, export_dir: str | Path,
                 model_name: str = "", warmup_texts: Sequence[str] = DEFAULT_WARMUP_TEXTS) -> Path:
    """Exports `model` with the `serving_default` of `config.task` (see module docstring)."""
    import json

    from serving.text_processor import TextProcessor

    if config.task == "language_model":
        from serving.lm_export import export_language_model

        return export_language_model(config, model, transform_dir, export_dir, model_name=model_name)
    manifest = json.loads((Path(transform_dir) / schema.MANIFEST).read_text())
    if config.task == "translation":
        from models.decoding import strategy_from_settings

        processors = [TextProcessor.from_manifest(transform_dir, side) for side in ("source", "target")]
        serve = make_serving_fn(model, *processors, config.eval.max_decode_length,
                                strategy_from_settings(config.push.decode))
    elif config.task == "classification":
        processors = [TextProcessor.from_manifest(transform_dir, "text")]
        serve = make_classification_fn(model, processors[0], manifest["labels"])
    elif config.task == "tagging":
        processors = [TextProcessor.from_manifest(transform_dir, "tokens")]
        serve = make_tagging_fn(model, processors[0], manifest["tags"], char_ids=config.model.char_filters > 0)
    else:
        raise ValueError(f"No export for task={config.task!r}. Exportable: {list(schema.TASKS)}")
    return _write_archive(Path(export_dir), serve, [model, *processors], warmup_texts, model_name)

"""Export a trained model as a self-contained SavedModel with a raw-string signature.

`serving_default` takes raw strings and runs the whole pipeline in the graph
with the transform's own normalize/tokenize code and vocab files (SavedModel
assets). One export per kind of model (the task picks it, `Task.export` in components/tasks/):

    export_translation  text string [batch] -> translation string [batch], score float32 [batch],
                        log_probability float32 [batch] (a `models.decoding` strategy in the graph, beam
                        search by default: score = log P / GNMT length penalty, the beam's ranking); plus
                        `translate` (the n-best: translations, scores, log_probabilities [batch, N]) and
                        `align` (tokens string [batch, T], source_tokens string [batch, S], attention
                        float32 [batch, T, S]: the best translation's tokens and encoder-decoder weights)
    export_classifier   text string [batch] -> label string [batch], probabilities float32 [batch, classes]
    export_tagger       text string [batch] -> tokens string [batch, T], tags string [batch, T],
                        length int32 [batch]  (words split as in `split_raw_words`, padded with "")
    language models     prompt string [batch] -> text string [batch], num_tokens int32 [batch]; plus the
                        `generate` and `score` signatures (`serving/lm_export.py`)

Example:

>>> export_translation(model, "artifacts/transform/abc", "/tmp/export/1", 16, BeamSearch(4))  # doctest: +SKIP
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

from serving import schema
from serving.inplace_writes import with_inplace_cache_writes
from serving.warmup import DEFAULT_WARMUP_TEXTS, INPUT_NAME, SIGNATURE, write_warmup

logger = logging.getLogger(__name__)


def make_serving_fn(model: keras.Model, source_processor, target_processor, max_decode_length: int, strategy):
    """The raw-string-in, named-outputs-out function (not yet traced); `strategy` from `models.decoding`."""
    from models.decoding import decode_seq2seq

    if max_decode_length <= 0:
        raise ValueError(
            f"max_decode_length must be positive. Received: max_decode_length={max_decode_length}"
        )

    @with_inplace_cache_writes
    def serve(text):
        ids = _padded_ids(source_processor.encode(text))  # (batch, S)
        out = decode_seq2seq(model, ids, strategy, max_decode_length)  # the best hypothesis first
        return {
            "translation": target_processor.decode(out["tokens"][:, 0]),  # (batch,)
            "score": out["scores"][:, 0],  # (batch,) float32
            "log_probability": out["log_probs"][:, 0],  # (batch,) float32
        }

    return serve


def make_translation_fns(model: keras.Model, source_processor, target_processor, max_decode_length: int,
                         strategy) -> dict:
    """The translation signatures (not yet traced): serving_default, translate (n-best) and align."""
    import dataclasses

    from models.decoding import BeamSearch, decode_seq2seq

    n_best = dataclasses.replace(strategy, num_results=strategy.beam_width) if isinstance(strategy, BeamSearch) \
        else strategy

    @with_inplace_cache_writes
    def translate(text):
        ids = _padded_ids(source_processor.encode(text))  # (batch, S)
        out = decode_seq2seq(model, ids, n_best, max_decode_length)  # (batch, N, T), best first
        shape = tf.shape(out["tokens"])
        flat = target_processor.decode(tf.reshape(out["tokens"], [-1, shape[2]]))  # (batch * N,)
        return {"translations": tf.reshape(flat, shape[:2]), "scores": out["scores"],
                "log_probabilities": out["log_probs"]}

    @with_inplace_cache_writes
    def align(text):
        tokens = source_processor.tokenizer.tokenize(text)  # ragged (batch, S) strings
        ids = _padded_ids(source_processor.lookup(tokens))  # (batch, S)
        out = decode_seq2seq(model, ids, strategy, max_decode_length)
        target_ids = tf.cast(out["tokens"][:, 0], tf.int64)  # (batch, T), [END] included, [PAD] after
        words = tf.where(target_ids == schema.PAD_ID, "", target_processor.id_to_token.lookup(target_ids))
        source_words = tokens[:, : tf.shape(ids)[1]].to_tensor(default_value="", shape=tf.shape(ids, tf.int64))
        return {"tokens": words, "source_tokens": source_words,
                "attention": out["extras"][:, 0]}  # (batch, T, S) float32, rows sum to 1 up to [END]

    return {SIGNATURE: make_serving_fn(model, source_processor, target_processor, max_decode_length, strategy),
            "translate": translate, "align": align}


def load_trained_model(trainer_dir: str | Path) -> keras.Model:
    """Loads `model.keras` (importing `models` registers the custom classes and `MaskedAccuracy`)."""
    import models  # noqa: F401  (registers the seqlab layers, networks and metrics)

    path = Path(trainer_dir) / "model.keras"
    if not path.exists():
        raise ValueError(f"Trained model not found. Received: {path}. Run the trainer step first.")
    return keras.saving.load_model(path, compile=False)


def _padded_ids(ragged_ids) -> tf.Tensor:
    """Ragged ids -> dense int32 (batch, T), right-padded with [PAD]; at least one column."""
    ids = ragged_ids.to_tensor(default_value=schema.PAD_ID)
    ids = tf.pad(ids, [[0, 0], [0, tf.maximum(0, 1 - tf.shape(ids)[1])]])
    return tf.cast(ids, tf.int32)


def make_classification_fn(model: keras.Model, processor, labels: Sequence[str]):
    """text -> {label, probabilities} (softmax in float32)."""
    label_names = tf.constant(list(labels), dtype=tf.string)

    def serve(text):
        ids = _padded_ids(processor.encode(text))  # (batch, T)
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
        ids = _padded_ids(processor.encode_words(words))  # (batch, T), one id per word
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


def _write_archive(export_dir: Path, serve_fn, tracked: Sequence, warmup_texts: Sequence[str],
                   model_name: str) -> Path:
    """Writes the SavedModel: `serve_fn` as serving_default, or a {signature: fn} dict (each on text strings)."""
    archive = keras.export.ExportArchive()
    for obj in tracked:
        archive.track(obj)
    for name, fn in (serve_fn if isinstance(serve_fn, dict) else {SIGNATURE: serve_fn}).items():
        archive.add_endpoint(name, fn, input_signature=[tf.TensorSpec([None], tf.string, name=INPUT_NAME)])
    archive.write_out(str(export_dir), verbose=False)
    if warmup_texts:
        write_warmup(export_dir, warmup_texts, model_name)
    logger.info("Exported SavedModel to %s", export_dir)
    return Path(export_dir)


def export_translation(model: keras.Model, transform_dir: str | Path, export_dir: str | Path, max_decode_length: int,
                       strategy, model_name: str = "", warmup_texts: Sequence[str] = DEFAULT_WARMUP_TEXTS) -> Path:
    """An encoder-decoder: text -> translation, score, log_probability, decoded by `strategy` in the graph;
    plus the `translate` (n-best) and `align` signatures (`make_translation_fns`)."""
    from serving.text_processor import TextProcessor

    processors = [TextProcessor.from_manifest(transform_dir, side) for side in ("source", "target")]
    fns = make_translation_fns(model, *processors, max_decode_length, strategy)
    return _write_archive(Path(export_dir), fns, [model, *processors], warmup_texts, model_name)


def export_classifier(model: keras.Model, transform_dir: str | Path, export_dir: str | Path, model_name: str = "",
                      warmup_texts: Sequence[str] = DEFAULT_WARMUP_TEXTS) -> Path:
    """A classifier: text -> label, probabilities (the manifest's labels)."""
    from serving.text_processor import TextProcessor

    manifest = schema.read_manifest(transform_dir)
    processor = TextProcessor.from_manifest(transform_dir, "text")
    serve = make_classification_fn(model, processor, manifest["labels"])
    return _write_archive(Path(export_dir), serve, [model, processor], warmup_texts, model_name)


def export_tagger(model: keras.Model, transform_dir: str | Path, export_dir: str | Path, char_ids: bool,
                  model_name: str = "", warmup_texts: Sequence[str] = DEFAULT_WARMUP_TEXTS) -> Path:
    """A tagger: text -> tokens, tags, length (the manifest's tags; `char_ids`: a character encoder's input)."""
    from serving.text_processor import TextProcessor

    manifest = schema.read_manifest(transform_dir)
    processor = TextProcessor.from_manifest(transform_dir, "tokens")
    serve = make_tagging_fn(model, processor, manifest["tags"], char_ids=char_ids)
    return _write_archive(Path(export_dir), serve, [model, processor], warmup_texts, model_name)

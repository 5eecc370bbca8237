"""Task-aware Beam building blocks: parse any task's raw example, pre-tokenize, WordPiece, encode.

A row travels as `{"raw": {feature: str | list[str]}, "tokens": {side: list[str]}}`.
Which features are text (tokenized, one vocabulary each) and which are labels
each task declares (`Task.text_fields` / `Task.label_fields`, components/tasks/).

Example:

>>> row = parse_task_example(serialized, ("text", "label"))  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping, Sequence

import apache_beam as beam
import tensorflow as tf

from components.tasks.fields import LabelField, TextField
from serving import schema
from serving.text_processor import Tokenizer, TokenizerSpec, normalize, split_words, tokenize

Row = dict[str, Any]


def parse_task_example(serialized: bytes, features: Sequence[str]) -> dict[str, str | list[str]]:
    """A raw tf.Example -> {feature: str} for the task's raw `features` (list[str] for schema.LIST_FEATURES);
    missing -> "" / []."""
    feature = tf.train.Example.FromString(serialized).features.feature
    raw: dict[str, str | list[str]] = {}
    for name in features:
        values = [v.decode("utf-8") for v in feature[name].bytes_list.value] if name in feature else []
        raw[name] = values if name in schema.LIST_FEATURES else (values[0] if values else "")
    return raw


def _bytes(values: Sequence[str]) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v.encode("utf-8") for v in values]))


def _int64(values: Sequence[int]) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))


def _regroup(flat: Sequence[str], lengths: Sequence[int]) -> list[list[str]]:
    out, start = [], 0
    for n in lengths:
        out.append(list(flat[start : start + n]))
        start += n
    return out


class PreTokenizeBatchFn(beam.DoFn):
    """A batch of raw dicts -> rows with "tokens" per text side, one TF call per side and batch.

    For "wordpiece" the tokens are still words (split into pieces by
    `WordpieceBatchFn` once the vocabulary is learned); pretokenized sides
    keep one token per word, each word normalized.

    Args:
        spec: `TokenizerSpec.to_dict()`.
        fields: the task's `TextField`s.
    """

    def __init__(self, spec: Mapping[str, Any], fields: Sequence[TextField]) -> None:
        self.spec = dict(spec)
        self.fields = tuple(fields)
        self._texts = self._words = None

    def setup(self) -> None:
        spec = TokenizerSpec.from_dict(self.spec)
        split = split_words if spec.kind == "wordpiece" else tokenize
        signature = [tf.TensorSpec([None], tf.string)]
        self._texts = tf.function(lambda texts: split(texts, spec), input_signature=signature)
        self._words = tf.function(lambda words: normalize(words, spec), input_signature=signature)

    def process(self, batch: Sequence[Mapping[str, Any]]) -> Iterator[Row]:
        tokens: dict[str, list[list[str]]] = {}
        for field in self.fields:
            if field.pretokenized:
                lengths = [len(raw[field.side]) for raw in batch]
                flat = [w for raw in batch for w in raw[field.side]]
                words = self._words(tf.constant(flat, dtype=tf.string)).numpy().tolist() if flat else []
                tokens[field.side] = _regroup([w.decode("utf-8") for w in words], lengths)
            else:
                rows = self._texts(tf.constant([raw[field.side] for raw in batch], dtype=tf.string)).to_list()
                tokens[field.side] = [[t.decode("utf-8") for t in row] for row in rows]
        for i, raw in enumerate(batch):
            yield {"raw": dict(raw), "tokens": {side: toks[i] for side, toks in tokens.items()}}


class WordpieceBatchFn(beam.DoFn):
    """A batch of rows whose tokens are words -> the same rows with WordPiece tokens.

    The learned vocabularies arrive as a side input; the tokenizers are rebuilt
    only when the side input object changes. Pretokenized sides are left alone.
    """

    def __init__(self, spec: Mapping[str, Any], fields: Sequence[TextField]) -> None:
        self.spec = dict(spec)
        self.sides = tuple(f.side for f in fields if not f.pretokenized)
        self._vocab_seen: Any = None
        self._tokenizers: dict[str, Tokenizer] = {}

    def process(self, batch: Sequence[Row], vocab: Mapping[str, Sequence[str]]) -> Iterator[Row]:
        if vocab is not self._vocab_seen:
            spec = TokenizerSpec.from_dict(self.spec)
            self._tokenizers = {side: Tokenizer(spec, vocab[side]) for side in self.sides}
            self._vocab_seen = vocab
        rows = [{"raw": r["raw"], "tokens": dict(r["tokens"])} for r in batch]
        for side in self.sides:
            lengths = [len(r["tokens"][side]) for r in rows]
            flat = [w for r in rows for w in r["tokens"][side]]
            words = tf.RaggedTensor.from_row_lengths(tf.constant(flat, dtype=tf.string), lengths)
            pieces = self._tokenizers[side].split_pieces(words).to_list()
            for row, row_pieces in zip(rows, pieces):
                row["tokens"][side] = [p.decode("utf-8") for p in row_pieces]
        yield from rows


def vocab_items(row: Row, label_fields: Sequence[LabelField]) -> Iterator[tuple[tuple[str, str], int]]:
    """((vocab name, token or label), 1) for every token and label of a row; summed by CombinePerKey."""
    for side, tokens in row["tokens"].items():
        for token in tokens:
            if token:  # a pretokenized word can normalize to ""; it encodes as [UNK]
                yield (side, token), 1
    for field in label_fields:
        values = row["raw"][field.raw]
        for value in values if field.is_list else [values]:
            yield (field.vocab, value), 1


class EncodeTaskFn(beam.DoFn):
    """Row + vocab side input -> {"example": bytes, "tokens": n, "oov": k, "unseen": u}.

    Text sides: ids truncated by their `max_length`, OOV -> [UNK]. Labels: ids
    by position in their vocabulary; values unseen in train -> the field's
    `unseen_id`, counted in "unseen". Raw features are kept beside the ids.

    Args:
        text_fields, label_fields: the task's fields.
        max_lengths: {TransformConfig field name: value}, e.g. {"max_source_length": 64}.
    """

    def __init__(
        self, text_fields: Sequence[TextField], label_fields: Sequence[LabelField], max_lengths: Mapping[str, int]
    ) -> None:
        self.text_fields = tuple(text_fields)
        self.label_fields = tuple(label_fields)
        self.max_lengths = dict(max_lengths)
        for field in self.text_fields:
            if field.max_length and self.max_lengths[field.max_length] < (2 if field.append_end else 1):
                raise ValueError(
                    f"transform.{field.max_length} is too small for '{field.side}'. "
                    f"Received: {field.max_length}={self.max_lengths[field.max_length]}"
                )
        self._vocab_seen: Any = None
        self._index: dict[str, dict[str, int]] = {}

    def _lookup(self, vocab: Mapping[str, Sequence[str]]) -> dict[str, dict[str, int]]:
        if vocab is not self._vocab_seen:
            self._index = {name: {tok: i for i, tok in enumerate(tokens)} for name, tokens in vocab.items()}
            self._vocab_seen = vocab
        return self._index

    def process(self, row: Row, vocab: Mapping[str, Sequence[str]]) -> Iterator[dict[str, Any]]:
        index = self._lookup(vocab)
        feature: dict[str, tf.train.Feature] = {}
        n_tokens = oov = unseen = 0
        for field in self.text_fields:
            tokens = row["tokens"][field.side]
            if field.max_length:
                tokens = tokens[: self.max_lengths[field.max_length] - int(field.append_end)]
            ids = [index[field.side].get(t, schema.UNK_ID) for t in tokens]
            n_tokens += len(ids)
            oov += sum(i == schema.UNK_ID for i in ids)
            feature[field.ids] = _int64(ids + [schema.END_ID] * field.append_end)
        for field in self.label_fields:
            values = row["raw"][field.raw]
            ids = [index[field.vocab].get(v, field.unseen_id) for v in (values if field.is_list else [values])]
            unseen += sum(v not in index[field.vocab] for v in (values if field.is_list else [values]))
            feature[field.ids] = _int64(ids)
        for name, value in row["raw"].items():
            feature[name] = _bytes(value if isinstance(value, list) else [value])
        example = tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString(deterministic=True)
        yield {"example": example, "tokens": n_tokens, "oov": oov, "unseen": unseen}

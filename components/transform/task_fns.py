"""Task-aware Beam building blocks, a batch of records at a time: parse, pre-tokenize, count, WordPiece, encode.

Rows travel in batches (`beam.BatchElements`), one Beam element per batch, so
that Beam's per-element costs (coding between stages, side-input lookups) and
TensorFlow's per-call costs are paid per batch, not per record or per token.
A batch is plain lists and dicts (cheap for Beam's coders):

    {"raw": [{feature: str | list[str]}, ...],               one dict per record
     "tokens": {side: [flat tokens (UTF-8 bytes), row lengths]}}

Tokens stay the bytes that TensorFlow returned: they are counted and looked
up as bytes (the vocabulary is encoded once per worker) and decoded only once
per distinct token, when the vocabulary is built. Which features are text
(tokenized, one vocabulary each) and which are labels each task declares
(`Task.text_fields` / `Task.label_fields`, components/tasks/).

Example:

>>> row = parse_task_example(serialized, ("text", "label"))  # doctest: +SKIP
>>> batch = next(PreTokenizeBatchFn(spec, fields).process([row]))  # after setup()  # doctest: +SKIP
"""

from __future__ import annotations

import collections
import functools
import json
from typing import Any, Iterator, Mapping, Sequence

import apache_beam as beam
import tensorflow as tf

from components.tasks.fields import LabelField, TextField
from serving import schema
from serving.text_processor import Tokenizer, TokenizerSpec, normalize, split_words, tokenize

Batch = dict[str, Any]


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
    return tf.train.Feature(int64_list=tf.train.Int64List(value=values))


def _flat(ragged: tf.RaggedTensor) -> list:
    """A ragged (rows, tokens) tensor -> [flat tokens, row lengths] as Python lists, in two numpy copies."""
    return [ragged.flat_values.numpy().tolist(), ragged.row_lengths().numpy().tolist()]


def row_tokens(batch: Batch, side: str) -> list[list[bytes]]:
    """The tokens of `side` for each record of `batch`."""
    flat, lengths = batch["tokens"][side]
    out, start = [], 0
    for n in lengths:
        out.append(flat[start : start + n])
        start += n
    return out


@functools.lru_cache(maxsize=None)
def tokenize_fn(spec: TokenizerSpec, pretokenized: bool, limit: int | None, count: bool) -> Any:
    """One tf.function, traced once per process and arguments (every split's DoFn shares it):
    (texts, or flat words and their row lengths) -> (flat tokens, row lengths, distinct tokens, counts).

    Texts are tokenized (split into words for "wordpiece"), pretokenized words
    each normalized; the counts are over all tokens (empty when not `count`),
    the tokens then cut to `limit` per row."""
    split = split_words if spec.kind == "wordpiece" else tokenize

    def fn(texts: tf.Tensor, lengths: tf.Tensor) -> tuple[tf.Tensor, ...]:
        if pretokenized:
            tokens = tf.RaggedTensor.from_row_lengths(normalize(texts, spec), lengths)
        else:
            tokens = split(texts, spec)
        distinct, counts = tf.constant([], tf.string), tf.constant([], tf.int32)
        if count:
            distinct, _, counts = tf.unique_with_counts(tokens.flat_values)
        if limit is not None:
            tokens = tokens[:, :limit]
        return tokens.flat_values, tokens.row_lengths(), distinct, counts

    signature = [tf.TensorSpec([None], tf.string), tf.TensorSpec([None], tf.int64)]
    return tf.function(fn, input_signature=signature, autograph=False)


class PreTokenizeBatchFn(beam.DoFn):
    """A batch of raw dicts -> one `Batch` with the tokens of every text side, one TF call per side.

    For "wordpiece" the tokens are still words (split into pieces by
    `WordpieceBatchFn` once the vocabulary is learned); pretokenized sides
    keep one token per word, each word normalized. With `count`, the batch
    also carries `"counts": {side: [distinct tokens, their counts]}` over all
    its tokens (for the train vocabulary); a side with a `limits` entry then
    keeps only its first `limit` tokens per record, the ones the encoder uses,
    so that less crosses to the encoding stage.

    Args:
        spec: `TokenizerSpec.to_dict()`.
        fields: the task's `TextField`s.
        limits: {side: tokens the encoder keeps}; sides left out keep all.
        count: add "counts".
    """

    def __init__(self, spec: Mapping[str, Any], fields: Sequence[TextField],
                 limits: Mapping[str, int] | None = None, count: bool = False) -> None:
        self.spec = dict(spec)
        self.fields = tuple(fields)
        self.limits = dict(limits or {})
        self.count = count
        self._fns: dict[str, Any] = {}

    def setup(self) -> None:
        spec = TokenizerSpec.from_dict(self.spec)
        self._fns = {f.side: tokenize_fn(spec, f.pretokenized, self.limits.get(f.side), self.count)
                     for f in self.fields}

    def process(self, batch: Sequence[Mapping[str, Any]]) -> Iterator[Batch]:
        raws = [dict(raw) for raw in batch]
        out: Batch = {"raw": raws, "tokens": {}}
        if self.count:
            out["counts"] = {}
        for field in self.fields:
            if field.pretokenized:
                texts = [w for raw in raws for w in raw[field.side]]
                lengths = [len(raw[field.side]) for raw in raws]
            else:
                texts, lengths = [raw[field.side] for raw in raws], []
            flat, row_lengths, distinct, counts = self._fns[field.side](
                tf.constant(texts, tf.string), tf.constant(lengths, tf.int64))
            out["tokens"][field.side] = [flat.numpy().tolist(), row_lengths.numpy().tolist()]
            if self.count:
                out["counts"][field.side] = [distinct.numpy().tolist(), counts.numpy().tolist()]
        yield out


class WordpieceBatchFn(beam.DoFn):
    """A `Batch` whose tokens are words -> the same batch with WordPiece tokens, one TF call per side.

    The learned vocabularies arrive as a side input (the vocabulary JSON); the
    tokenizers are rebuilt only when it changes. Pretokenized sides are left alone.
    """

    def __init__(self, spec: Mapping[str, Any], fields: Sequence[TextField]) -> None:
        self.spec = dict(spec)
        self.sides = tuple(f.side for f in fields if not f.pretokenized)
        self._vocab_seen: str | None = None
        self._tokenizers: dict[str, Tokenizer] = {}

    def process(self, batch: Batch, vocab_json: str) -> Iterator[Batch]:
        if vocab_json != self._vocab_seen:
            spec, vocab = TokenizerSpec.from_dict(self.spec), json.loads(vocab_json)
            self._tokenizers = {side: Tokenizer(spec, vocab[side]) for side in self.sides}
            self._vocab_seen = vocab_json
        tokens = dict(batch["tokens"])
        for side in self.sides:
            flat, lengths = tokens[side]
            words = tf.RaggedTensor.from_row_lengths(tf.constant(flat, dtype=tf.string), lengths)
            tokens[side] = _flat(self._tokenizers[side].split_pieces(words))
        yield {"raw": batch["raw"], "tokens": tokens}


def merge_token_counts(tokens: list[bytes], counts: list[int]) -> list[list]:
    """(tokens, counts) with repeats -> [distinct tokens, summed counts], summed in TensorFlow (one call)."""
    if not tokens:
        return [[], []]
    distinct, index = tf.unique(tf.constant(tokens, tf.string))
    summed = tf.math.unsorted_segment_sum(tf.constant(counts, tf.int64), index, tf.size(distinct))
    return [distinct.numpy().tolist(), summed.numpy().tolist()]


class CountVocabFn(beam.CombineFn):
    """Counted `Batch`es -> ((vocab name, token or label), n) for every token and label: the vocabularies' input.

    Takes each batch's "counts" (`PreTokenizeBatchFn(count=True)`) and its
    raw labels, so Beam combines per batch and per bundle, never per token.
    The accumulator holds, per text side, the batches' [tokens, counts] lists
    appended as they come and summed (`merge_token_counts`) once they pass
    `MERGE_AT` entries and when accumulators merge; per label field a Counter.
    Empty tokens (a pretokenized word can normalize to "") are not counted;
    they encode as [UNK].
    """

    MERGE_AT = 1_000_000

    def __init__(self, label_fields: Sequence[LabelField]) -> None:
        self.label_fields = tuple(label_fields)

    def create_accumulator(self) -> dict[str, dict]:
        return {"tokens": {}, "labels": {}}

    def add_input(self, acc: dict[str, dict], batch: Batch) -> dict[str, dict]:
        for side, (distinct, n) in batch["counts"].items():
            tokens, counts = acc["tokens"].setdefault(side, [[], []])
            tokens += distinct
            counts += n
            if len(tokens) > self.MERGE_AT:
                acc["tokens"][side] = merge_token_counts(tokens, counts)
        for field in self.label_fields:
            values = [raw[field.raw] for raw in batch["raw"]]
            if field.is_list:
                values = [value for row_values in values for value in row_values]
            acc["labels"].setdefault(field.vocab, collections.Counter()).update(values)
        return acc

    def merge_accumulators(self, accumulators) -> dict[str, dict]:
        merged = self.create_accumulator()
        for acc in accumulators:
            for side, (tokens, counts) in acc["tokens"].items():
                into = merged["tokens"].setdefault(side, [[], []])
                into[0] += tokens
                into[1] += counts
            for name, counter in acc["labels"].items():
                merged["labels"].setdefault(name, collections.Counter()).update(counter)
        merged["tokens"] = {side: merge_token_counts(*pair) for side, pair in merged["tokens"].items()}
        return merged

    def extract_output(self, acc: dict[str, dict]) -> list[tuple[tuple[str, str], int]]:
        out = []
        for side, pair in acc["tokens"].items():
            out += [((side, token.decode("utf-8")), n) for token, n in zip(*merge_token_counts(*pair)) if token]
        for name, counter in acc["labels"].items():
            out += [((name, value), n) for value, n in counter.items()]
        return out


class EncodeBatchFn(beam.DoFn):
    """A `Batch` (its "counts" unused) + the vocabulary JSON side input -> (serialized tf.Examples, (examples, tokens, oov, unseen)).

    Text sides: ids truncated by their `max_length`, OOV -> [UNK]. Labels: ids
    by position in their vocabulary; values unseen in train -> the field's
    `unseen_id`, counted in "unseen". Raw features are kept beside the ids.
    The token -> id dicts are built once per worker and vocabulary.

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
        self._vocab_seen: str | None = None
        self._index: dict[str, dict] = {}

    def _lookup(self, vocab_json: str) -> dict[str, dict]:
        if vocab_json != self._vocab_seen:
            vocab = json.loads(vocab_json)
            sides = {field.side for field in self.text_fields}
            self._index = {name: {(tok.encode("utf-8") if name in sides else tok): i for i, tok in enumerate(tokens)}
                           for name, tokens in vocab.items()}
            self._vocab_seen = vocab_json
        return self._index

    def limits(self) -> dict[str, int]:
        """{side: tokens of raw text kept} for the text fields that are truncated."""
        return {f.side: self.max_lengths[f.max_length] - int(f.append_end) for f in self.text_fields if f.max_length}

    def process(self, batch: Batch, vocab_json: str) -> Iterator[tuple[list[bytes], tuple[int, int, int, int]]]:
        index, limits = self._lookup(vocab_json), self.limits()
        raws = batch["raw"]
        features: list[dict[str, tf.train.Feature]] = [{} for _ in raws]
        n_tokens = oov = unseen = 0
        for field in self.text_fields:
            get, limit, end = index[field.side].get, limits.get(field.side), [schema.END_ID] * field.append_end
            for feature, tokens in zip(features, row_tokens(batch, field.side)):
                ids = [get(t, schema.UNK_ID) for t in tokens[:limit]]
                n_tokens += len(ids)
                oov += ids.count(schema.UNK_ID)
                feature[field.ids] = _int64(ids + end)
        for field in self.label_fields:
            labels = index[field.vocab]
            for feature, raw in zip(features, raws):
                values = raw[field.raw] if field.is_list else [raw[field.raw]]
                feature[field.ids] = _int64([labels.get(v, field.unseen_id) for v in values])
                unseen += sum(v not in labels for v in values)
        examples = []
        for feature, raw in zip(features, raws):
            for name, value in raw.items():
                feature[name] = _bytes(value if isinstance(value, list) else [value])
            example = tf.train.Example(features=tf.train.Features(feature=feature))
            examples.append(example.SerializeToString(deterministic=True))
        yield examples, (len(raws), n_tokens, oov, unseen)

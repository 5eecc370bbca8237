"""The transform's Beam building blocks: parse, tokenize in batches, count, encode.

DoFns take plain parameters in `__init__` and build TensorFlow functions in
`setup()`; the vocabulary reaches `EncodeFn` as a side input.

Example:

>>> with TestPipeline(runner=FnApiRunner()) as p:  # doctest: +SKIP
...     tokens = (p | beam.Create([("Mar 3", "03")]) | beam.BatchElements()
...               | beam.ParDo(TokenizeBatchFn({"kind": "char"})))
"""

from typing import Any, Iterable, Iterator, Mapping, Sequence

import apache_beam as beam
import tensorflow as tf

from components import schema
from serving.text_processor import TokenizerSpec, tokenize

Tokenized = dict[str, Any]  # source, target (raw str), source_tokens, target_tokens (list[str])


def parse_raw_example(serialized: bytes) -> tuple[str, str]:
    """A raw tf.Example from example_gen -> (source, target)."""
    example = tf.train.Example.FromString(serialized)
    feature = example.features.feature
    source = feature[schema.RAW_SOURCE].bytes_list.value[0].decode("utf-8")
    target = feature[schema.RAW_TARGET].bytes_list.value[0].decode("utf-8")
    return source, target


class TokenizeBatchFn(beam.DoFn):
    """A batch of (source, target) pairs -> one `Tokenized` dict per pair, one TF call per batch.

    Args:
        spec: `TokenizerSpec.to_dict()` (plain data, so the DoFn pickles cheaply).
    """

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.spec = dict(spec)
        self._tokenize = None

    def setup(self) -> None:
        spec = TokenizerSpec.from_dict(self.spec)
        self._tokenize = tf.function(
            lambda texts: tokenize(texts, spec), input_signature=[tf.TensorSpec([None], tf.string)]
        )

    def process(self, batch: Sequence[tuple[str, str]]) -> Iterator[Tokenized]:
        texts = [source for source, _ in batch] + [target for _, target in batch]
        rows = self._tokenize(tf.constant(texts, dtype=tf.string)).to_list()
        decoded = [[t.decode("utf-8") for t in row] for row in rows]
        n = len(batch)
        for i, (source, target) in enumerate(batch):
            yield {"source": source, "target": target, "source_tokens": decoded[i], "target_tokens": decoded[n + i]}


def side_tokens(row: Tokenized) -> Iterator[tuple[tuple[str, str], int]]:
    """((side, token), 1) for every token of both sides; summed by CombinePerKey."""
    for token in row["source_tokens"]:
        yield ("source", token), 1
    for token in row["target_tokens"]:
        yield ("target", token), 1


def to_encoded_example(source: str, target: str, source_ids: Sequence[int], target_ids: Sequence[int]) -> bytes:
    """Serialized tf.Example with int64 `source_ids`, `target_ids` and bytes `source`, `target`."""
    feature = {
        schema.SOURCE_IDS: tf.train.Feature(int64_list=tf.train.Int64List(value=list(source_ids))),
        schema.TARGET_IDS: tf.train.Feature(int64_list=tf.train.Int64List(value=list(target_ids))),
        schema.RAW_SOURCE: tf.train.Feature(bytes_list=tf.train.BytesList(value=[source.encode("utf-8")])),
        schema.RAW_TARGET: tf.train.Feature(bytes_list=tf.train.BytesList(value=[target.encode("utf-8")])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString(deterministic=True)


class EncodeFn(beam.DoFn):
    """`Tokenized` + vocab side input -> {"example": bytes, "tokens": n, "oov": k}.

    Source ids are truncated to `max_source_length`; target ids to
    `max_target_length - 1`, then [END] is appended. OOV tokens map to [UNK].
    """

    def __init__(self, max_source_length: int, max_target_length: int) -> None:
        if max_source_length < 1 or max_target_length < 2:
            raise ValueError(
                "Need max_source_length >= 1 and max_target_length >= 2 (room for [END]). "
                f"Received: max_source_length={max_source_length}, max_target_length={max_target_length}"
            )
        self.max_source_length = max_source_length
        self.max_target_length = max_target_length
        self._vocab_seen: Any = None
        self._index: dict[str, dict[str, int]] = {}

    def _lookup(self, vocab: Mapping[str, Sequence[str]]) -> dict[str, dict[str, int]]:
        if vocab is not self._vocab_seen:  # the side input is the same object within a bundle
            self._index = {side: {tok: i for i, tok in enumerate(tokens)} for side, tokens in vocab.items()}
            self._vocab_seen = vocab
        return self._index

    def process(self, row: Tokenized, vocab: Mapping[str, Sequence[str]]) -> Iterator[dict[str, Any]]:
        index = self._lookup(vocab)
        source_tokens = row["source_tokens"][: self.max_source_length]
        target_tokens = row["target_tokens"][: self.max_target_length - 1]
        source_ids = [index["source"].get(t, schema.UNK_ID) for t in source_tokens]
        target_ids = [index["target"].get(t, schema.UNK_ID) for t in target_tokens] + [schema.END_ID]
        oov = sum(i == schema.UNK_ID for i in source_ids) + sum(i == schema.UNK_ID for i in target_ids)
        yield {
            "example": to_encoded_example(row["source"], row["target"], source_ids, target_ids),
            "tokens": len(source_tokens) + len(target_tokens),
            "oov": oov,
        }


def sum_stats(values: Iterable[tuple[int, int, int]]) -> tuple[int, int, int]:
    """Element-wise sum of (examples, tokens, oov) triples."""
    totals = [0, 0, 0]
    for value in values:
        for i, v in enumerate(value):
            totals[i] += v
    return tuple(totals)

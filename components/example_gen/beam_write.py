"""The example_gen Beam graph: partition records by split, write gzip TFRecords and dead letters.

Example:

>>> with make_pipeline([]) as p:  # doctest: +SKIP
...     write_examples(p, records, dead, out_dir, 0.1, 0.1)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import apache_beam as beam
import tensorflow as tf

from components import schema
from components.example_gen.split import split_for

SHARD_SIZE = 50_000  # examples per output shard


def to_example(source: str, target: str) -> bytes:
    """A serialized raw tf.Example with bytes features `source` and `target`."""
    feature = {
        schema.RAW_SOURCE: tf.train.Feature(bytes_list=tf.train.BytesList(value=[source.encode("utf-8")])),
        schema.RAW_TARGET: tf.train.Feature(bytes_list=tf.train.BytesList(value=[target.encode("utf-8")])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def record_prefix(output_dir: Path, split: str) -> str:
    """Prefix giving `<split>/data-XXXXX-of-YYYYY.tfrecord.gz` (see schema.RECORD_PATTERN)."""
    return str(output_dir / split / "data")


def num_shards_for(count: int) -> int:
    return max(1, -(-count // SHARD_SIZE))


class _SplitIndex:
    """Picklable partition function for beam.Partition."""

    def __init__(self, eval_fraction: float, test_fraction: float) -> None:
        self.eval_fraction = eval_fraction
        self.test_fraction = test_fraction

    def __call__(self, record: tuple[str, str], num_partitions: int) -> int:
        split = split_for(record[0], self.eval_fraction, self.test_fraction)
        return schema.SPLITS.index(split)


def write_examples(
    pipeline: beam.Pipeline,
    records: Sequence[tuple[str, str]],
    dead_letters: Sequence[dict[str, Any]],
    output_dir: Path,
    eval_fraction: float,
    test_fraction: float,
    counts: dict[str, int],
) -> None:
    """Adds the partition + write transforms to `pipeline` (every split gets at least one shard)."""
    parts = (
        pipeline
        | "CreateRecords" >> beam.Create(list(records), reshuffle=False)
        | "PartitionBySplit" >> beam.Partition(_SplitIndex(eval_fraction, test_fraction), len(schema.SPLITS))
    )
    for split, part in zip(schema.SPLITS, parts):
        _ = (
            part
            | f"ToExample[{split}]" >> beam.MapTuple(to_example)
            | f"Write[{split}]"
            >> beam.io.WriteToTFRecord(
                record_prefix(output_dir, split),
                file_name_suffix=".tfrecord.gz",
                num_shards=num_shards_for(counts.get(split, 0)),
                compression_type=beam.io.filesystem.CompressionTypes.GZIP,
            )
        )
    _ = (
        pipeline
        | "CreateDeadLetters" >> beam.Create(list(dead_letters), reshuffle=False)
        | "DeadLetterToJson" >> beam.Map(lambda d: json.dumps(d, ensure_ascii=False, sort_keys=True))
        | "WriteDeadLetters"
        >> beam.io.WriteToText(
            str(output_dir / schema.DEAD_LETTER_DIR / "dead_letter"), file_name_suffix=".jsonl", num_shards=1
        )
    )

"""The example_gen Beam graph: partition records by split, write gzip TFRecords and dead letters.

Example:

>>> with make_pipeline([]) as p:  # doctest: +SKIP
...     write_examples(p, records, dead, out_dir, 0.1, 0.1, counts, "translation")
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import apache_beam as beam
import tensorflow as tf

from serving import schema
from components.example_gen.split import split_for
from components.registry import get_task

SHARD_SIZE = 50_000  # examples per output shard
FORCED_SPLIT = "_split"  # a record holding this key goes to that split (data.eval_source); never written


def record_split(record: dict[str, Any], eval_fraction: float, test_fraction: float, task: str) -> str:
    """The record's split: its FORCED_SPLIT if it has one, else the hash split of its `split_key`."""
    forced = record.get(FORCED_SPLIT)
    return forced if forced else split_for(split_key(record, task), eval_fraction, test_fraction)


def split_key(record: dict[str, Any], task: str) -> str:
    """The text that decides the split: the task's first raw feature (lists joined with spaces)."""
    value = record[get_task(task).raw_features[0]]
    return " ".join(value) if isinstance(value, list) else value


def to_example(record: dict[str, Any]) -> bytes:
    """A serialized raw tf.Example: scalars as one-element bytes lists, LIST_FEATURES as bytes lists."""
    feature = {}
    for name, value in record.items():
        if name == FORCED_SPLIT:
            continue
        values = value if name in schema.LIST_FEATURES else [value]
        feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[v.encode("utf-8") for v in values]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString(deterministic=True)


def record_prefix(output_dir: Path, split: str) -> str:
    """Prefix giving `<split>/data-XXXXX-of-YYYYY.tfrecord.gz` (see schema.RECORD_PATTERN)."""
    return str(output_dir / split / "data")


def num_shards_for(count: int) -> int:
    return max(1, -(-count // SHARD_SIZE))


class _SplitIndex:
    """Picklable partition function for beam.Partition."""

    def __init__(self, eval_fraction: float, test_fraction: float, task: str) -> None:
        self.eval_fraction = eval_fraction
        self.test_fraction = test_fraction
        self.task = task

    def __call__(self, record: dict[str, Any], num_partitions: int) -> int:
        split = record_split(record, self.eval_fraction, self.test_fraction, self.task)
        return schema.SPLITS.index(split)


def write_examples(
    pipeline: beam.Pipeline,
    records: Sequence[dict[str, Any]],
    dead_letters: Sequence[dict[str, Any]],
    output_dir: Path,
    eval_fraction: float,
    test_fraction: float,
    counts: dict[str, Any],
    task: str,
) -> None:
    """Adds the partition + write transforms to `pipeline` (every split gets at least one shard)."""
    parts = (
        pipeline
        | "CreateRecords" >> beam.Create(list(records), reshuffle=False)
        | "PartitionBySplit" >> beam.Partition(_SplitIndex(eval_fraction, test_fraction, task), len(schema.SPLITS))
    )
    for split, part in zip(schema.SPLITS, parts):
        _ = (
            part
            | f"ToExample[{split}]" >> beam.Map(to_example)
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

"""The example_gen Beam graph: staged records by split -> sharded gzip TFRecords; dead letters -> JSON lines.

Example:

>>> with staged_examples(records, splits, out_dir / "_staging") as staged:  # doctest: +SKIP
...     with make_pipeline([]) as p:
...         write_examples(p, staged, dead, out_dir, counts)
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any, Iterator, Sequence

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


@contextlib.contextmanager
def staged_examples(records: Sequence[dict[str, Any]], splits: Sequence[str],
                    staging_dir: Path) -> Iterator[dict[str, str]]:
    """Writes each record's serialized raw tf.Example to `<staging_dir>/<split>.tfrecord` (uncompressed, one
    file per split, empty files included); yields {split: path}, then removes `staging_dir`.

    The Beam job reads these files instead of carrying the records inside the
    job graph (`beam.Create` pickles and bz2-compresses every value into the
    graph, then unpickles it: seconds per MB, and Dataflow limits graph size).
    """
    tf.io.gfile.makedirs(str(staging_dir))
    try:
        paths = {split: str(staging_dir / f"{split}.tfrecord") for split in schema.SPLITS}
        writers = {split: tf.io.TFRecordWriter(path) for split, path in paths.items()}
        try:
            for record, split in zip(records, splits):
                writers[split].write(to_example(record))
        finally:
            for writer in writers.values():
                writer.close()
        yield paths
    finally:
        tf.io.gfile.rmtree(str(staging_dir))


def write_examples(
    pipeline: beam.Pipeline,
    staged: dict[str, str],
    dead_letters: Sequence[dict[str, Any]],
    output_dir: Path,
    counts: dict[str, Any],
) -> None:
    """Adds the read-staged + write transforms to `pipeline` (every split gets at least one shard)."""
    for split in schema.SPLITS:
        _ = (
            pipeline
            | f"ReadStaged[{split}]" >> beam.io.ReadFromTFRecord(
                staged[split], compression_type=beam.io.filesystem.CompressionTypes.UNCOMPRESSED)
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

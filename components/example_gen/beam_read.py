"""example_gen's Beam job for file sources: match -> read -> split -> serialize -> write, all inside the job.

The launcher builds the graph from file patterns only; no record passes
through it. Per source (`data.source`, and `data.eval_source` whose records
are forced to eval):

    MatchFiles(pattern) -> Reshuffle (files spread over the workers) -> ReadFile (per-file reader from
    `sources.FileReader`; records -> (split, serialized tf.Example, task size); dead letters and reader
    errors as tagged outputs)

A file is one work item: the readers need the file from its first line
(`file:line` dead-letter locations, TSV/CSV headers, a leading BOM, CoNLL
blocks spanning lines, gzip), which a splittable line read does not give
(Beam's text source knows no line numbers, and a .gz file is not
splittable either). Aligned parallel files are one (source, target) pair
read in lockstep by one call, not splittable. Everything after the read —
splitting, serializing, counting, the shuffle to the shards and the
compressed writes — runs on all workers.

Outputs, the same files as the launcher-side path (`beam_write`):
`<split>/data-SSSSS-of-NNNNN.tfrecord.gz` with N = `num_shards_for(records
of that split)` (every split at least one shard; a record goes to shard
crc32(serialized) % N), `dead_letter/dead_letter-00000-of-00001.jsonl`, and
`_summary.json` (a combiner's result: per-split counts and task sizes, dead
letters by reason, the first three dead letters in read order, the first
reader error), which `run` turns into counts.json and removes.

Example:

>>> readers = [(file_reader(data, task), None)]  # doctest: +SKIP
>>> with make_pipeline([]) as p:  # doctest: +SKIP
...     read_and_write(p, readers, out_dir, 0.1, 0.1, task)
>>> summary = read_summary(out_dir)  # doctest: +SKIP
"""

from __future__ import annotations

import collections
import heapq
import json
import zlib
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import apache_beam as beam
import tensorflow as tf
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems

from components.example_gen.beam_write import num_shards_for, record_prefix, split_key, to_example
from components.example_gen.sources import FileReader
from components.example_gen.split import split_for
from components.registry import get_task
from serving import schema

SUMMARY_FILE = "_summary.json"  # written by the job, read and removed by `run`
DEAD, ERRORS = "dead", "errors"
FIRST_DEAD = 3  # dead letters the bad-fraction error shows


class ReadFile(beam.DoFn):
    """unit (a path or an aligned pair) -> (split, serialized raw tf.Example, task size);
    tagged DEAD: (order key, dead letter); tagged ERRORS: (order key, one-line ValueError message).

    The order key `(source index, path, n)` sorts dead letters and errors as the launcher-side read met them.
    """

    def __init__(self, reader: FileReader, source_index: int, forced_split: str | None,
                 eval_fraction: float, test_fraction: float) -> None:
        self.reader = reader
        self.source_index = source_index
        self.forced_split = forced_split
        self.eval_fraction = eval_fraction
        self.test_fraction = test_fraction

    def process(self, unit: str | tuple[str, str]) -> Iterator[Any]:
        order = unit if isinstance(unit, str) else ""
        try:
            records, dead = self.reader(unit)
        except ValueError as e:  # the one-line errors of the readers (missing header field, ...)
            yield beam.pvalue.TaggedOutput(ERRORS, ((self.source_index, order), str(e)))
            return
        task = self.reader.task
        fields = get_task(task)
        for record in records:
            split = self.forced_split or split_for(split_key(record, task), self.eval_fraction, self.test_fraction)
            yield split, to_example(record), fields.record_size(record)
        for n, letter in enumerate(dead):
            yield beam.pvalue.TaggedOutput(DEAD, ((self.source_index, order, n), letter))


class SummarizeFn(beam.CombineFn):
    """("record", split, size) | ("dead", key, letter) | ("error", key, message) -> the job's summary dict."""

    def create_accumulator(self) -> dict[str, Any]:
        return {"counts": collections.Counter(), "sizes": collections.Counter(), "reasons": collections.Counter(),
                "first_dead": [], "errors": []}

    def add_input(self, acc: dict[str, Any], element: tuple) -> dict[str, Any]:
        kind = element[0]
        if kind == "record":
            acc["counts"][element[1]] += 1
            acc["sizes"][element[1]] += element[2]
        elif kind == "dead":
            acc["reasons"][element[2]["reason"]] += 1
            acc["first_dead"] = heapq.nsmallest(FIRST_DEAD, [*acc["first_dead"], (element[1], element[2])])
        else:
            acc["errors"] = heapq.nsmallest(1, [*acc["errors"], (element[1], element[2])])
        return acc

    def merge_accumulators(self, accumulators: Iterable[dict[str, Any]]) -> dict[str, Any]:
        merged = self.create_accumulator()
        for acc in accumulators:
            for name in ("counts", "sizes", "reasons"):
                merged[name].update(acc[name])
            merged["first_dead"] = heapq.nsmallest(FIRST_DEAD, merged["first_dead"] + acc["first_dead"])
            merged["errors"] = heapq.nsmallest(1, merged["errors"] + acc["errors"])
        return merged

    def extract_output(self, acc: dict[str, Any]) -> dict[str, Any]:
        return {
            "counts": {split: acc["counts"].get(split, 0) for split in schema.SPLITS},
            "sizes": {split: acc["sizes"].get(split, 0) for split in schema.SPLITS},
            "dead_letter": dict(acc["reasons"]),
            "num_dead": sum(acc["reasons"].values()),
            "first_dead": [letter for _, letter in acc["first_dead"]],
            "error": acc["errors"][0][1] if acc["errors"] else None,
        }


def shard_keys(element: tuple[str, bytes, int], summary: dict[str, Any]) -> tuple[tuple[str, int], bytes]:
    split, example, _ = element
    return (split, zlib.crc32(example) % num_shards_for(summary["counts"][split])), example


def all_shards(split: str, summary: dict[str, Any]) -> Iterator[tuple[tuple[str, int], None]]:
    """One placeholder per shard of `split`, so that every shard file exists (an empty split: one empty one)."""
    for shard in range(num_shards_for(summary["counts"][split])):
        yield (split, shard), None


class WriteShard(beam.DoFn):
    """((split, shard), examples) -> `<split>/data-SSSSS-of-NNNNN.tfrecord.gz` (gzip TFRecords), written under a
    temporary name and renamed, so a retried bundle rewrites the same file whole."""

    def __init__(self, output_dir: str) -> None:
        self.output_dir = output_dir

    def process(self, element: tuple[tuple[str, int], Iterable[bytes | None]], summary: dict[str, Any]) -> None:
        (split, shard), examples = element
        num_shards = num_shards_for(summary["counts"][split])
        path = f"{record_prefix(Path(self.output_dir), split)}-{shard:05d}-of-{num_shards:05d}.tfrecord.gz"
        tf.io.gfile.makedirs(str(Path(path).parent))
        with tf.io.TFRecordWriter(path + ".tmp", tf.io.TFRecordOptions(compression_type="GZIP")) as writer:
            for example in examples:
                if example is not None:
                    writer.write(example)
        tf.io.gfile.rename(path + ".tmp", path, overwrite=True)


def write_summary(summary: dict[str, Any], path: str) -> None:
    with FileSystems.create(path) as f:
        f.write(json.dumps(summary, sort_keys=True).encode("utf-8"))


def read_and_write(pipeline: beam.Pipeline, readers: Sequence[tuple[FileReader, str | None]], output_dir: Path,
                   eval_fraction: float, test_fraction: float) -> None:
    """Adds the whole example_gen graph for file sources to `pipeline`.

    Args:
        readers: (reader, forced split or None) per source, in source order (`data.source` first).
        output_dir: the step's artifact directory.
        eval_fraction, test_fraction: the hash split of records without a forced split.
    """
    reads = []
    for index, (reader, forced_split) in enumerate(readers):
        if reader.aligned:
            units = pipeline | f"Pair[{index}]" >> beam.Create(reader.units(), reshuffle=False)
        else:
            units = (pipeline | f"Match[{index}]" >> fileio.MatchFiles(reader.data.source)
                     | f"Path[{index}]" >> beam.Map(lambda metadata: metadata.path))
        reads.append(
            units
            | f"Spread[{index}]" >> beam.Reshuffle()
            | f"Read[{index}]" >> beam.ParDo(ReadFile(reader, index, forced_split, eval_fraction, test_fraction))
            .with_outputs(DEAD, ERRORS, main="records"))
    records = [r.records for r in reads] | "Records" >> beam.Flatten()
    dead = [r[DEAD] for r in reads] | "DeadLetters" >> beam.Flatten()
    errors = [r[ERRORS] for r in reads] | "Errors" >> beam.Flatten()
    summary = beam.pvalue.AsSingleton(
        (records | "RecordSizes" >> beam.Map(lambda r: ("record", r[0], r[2])),
         dead | "DeadKeys" >> beam.Map(lambda d: ("dead", d[0], d[1])),
         errors | "ErrorKeys" >> beam.Map(lambda e: ("error", e[0], e[1])))
        | "SummaryInputs" >> beam.Flatten()
        | "Summarize" >> beam.CombineGlobally(SummarizeFn()))
    _ = (
        (records | "KeyByShard" >> beam.Map(shard_keys, summary),
         pipeline | "Splits" >> beam.Create(list(schema.SPLITS)) | "AllShards" >> beam.FlatMap(all_shards, summary))
        | "ShardInputs" >> beam.Flatten()
        | "GroupByShard" >> beam.GroupByKey()
        | "WriteShards" >> beam.ParDo(WriteShard(str(output_dir)), summary)
    )
    _ = (
        dead
        | "DeadLetterToJson" >> beam.Map(lambda d: json.dumps(d[1], ensure_ascii=False, sort_keys=True))
        | "WriteDeadLetters" >> beam.io.WriteToText(
            str(output_dir / schema.DEAD_LETTER_DIR / "dead_letter"), file_name_suffix=".jsonl", num_shards=1)
    )
    _ = (pipeline | "Once" >> beam.Create([None])
         | "WriteSummary" >> beam.Map(lambda _, s: write_summary(s, str(output_dir / SUMMARY_FILE)), summary))


def read_summary(output_dir: Path) -> dict[str, Any]:
    """The job's summary (see module docstring); removes its file."""
    path = output_dir / SUMMARY_FILE
    summary = json.loads(tf.io.gfile.GFile(str(path)).read())
    tf.io.gfile.remove(str(path))
    return summary

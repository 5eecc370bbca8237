"""example_gen's Beam job for file sources: match -> read -> split -> serialize -> write, all inside the job.

The launcher builds the graph from file patterns only; no record passes
through it. Per source (`data.source`, and `data.eval_source` whose records
are forced to eval):

    MatchFiles(pattern) -> Reshuffle (files spread over the workers) -> ReadFile (per-file reader from
    `sources.FileReader`; each split's serialized tf.Examples written straight to part files under `_parts/`,
    a new part every SHARD_SIZE records; out: the parts, the file's counts, dead letters and reader errors)

A file is one work item: the readers need the file from its first line
(`file:line` dead-letter locations, TSV/CSV headers, a leading BOM, CoNLL
blocks spanning lines, gzip), which a splittable line read does not give
(Beam's text source knows no line numbers, and a .gz file is not
splittable either). Aligned parallel files are one (source, target) pair
read in lockstep by one call, not splittable. The records never cross a
shuffle: the worker that reads a file writes its parts, so reading,
parsing, splitting, serializing and compressing all follow the runner's
parallelism (one work item per file).

Outputs, the same records as the launcher-side path (`beam_write`):
`<split>/data-SSSSS-of-NNNNN.tfrecord.gz`, made by one finalizing step from
the parts in read order: a part is renamed, consecutive small parts (small
files) are concatenated into shards of at most SHARD_SIZE records, so a
single file gives `num_shards_for(records)` shards as before and many small
files about as many; an empty split gets one empty shard;
`dead_letter/dead_letter-00000-of-00001.jsonl`, and `_summary.json` (a
combiner's result: per-split counts and task sizes, dead letters by reason,
the first three dead letters in read order, the first reader error), which
`run` turns into counts.json and removes. Part files of a bundle that a
runner retried are never renamed (only the committed bundles' outputs reach
the finalizing step) and go with `_parts/`.

Example:

>>> readers = [(file_reader(data, task), None)]  # doctest: +SKIP
>>> with make_pipeline([]) as p:  # doctest: +SKIP
...     read_and_write(p, readers, out_dir, 0.1, 0.1)
>>> summary = read_summary(out_dir)  # doctest: +SKIP
"""

from __future__ import annotations

import collections
import heapq
import json
import uuid
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import apache_beam as beam
import tensorflow as tf
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems

from components.example_gen.beam_write import SHARD_SIZE, record_prefix, split_key, to_example
from components.example_gen.sources import FileReader
from components.example_gen.split import split_for
from components.registry import get_task
from serving import schema

SUMMARY_FILE = "_summary.json"  # written by the job, read and removed by `run`
PARTS_DIR = "_parts"  # the readers' part files, renamed into the splits by the job's last step
PARTS, COUNTS, DEAD, ERRORS = "parts", "counts", "dead", "errors"
FIRST_DEAD = 3  # dead letters the bad-fraction error shows


class ReadFile(beam.DoFn):
    """unit (a path or an aligned pair) -> tagged outputs of one file:
    PARTS: (split, order key + part number, part path, records) per part file written;
    COUNTS: ({split: records}, {split: task size});
    DEAD: (order key + n, dead letter); ERRORS: (order key, one-line ValueError message).

    The order key `(source index, path)` sorts parts, dead letters and errors as the launcher-side read met them.
    """

    def __init__(self, reader: FileReader, source_index: int, forced_split: str | None,
                 eval_fraction: float, test_fraction: float, parts_dir: str) -> None:
        self.reader = reader
        self.source_index = source_index
        self.forced_split = forced_split
        self.eval_fraction = eval_fraction
        self.test_fraction = test_fraction
        self.parts_dir = parts_dir

    def process(self, unit: str | tuple[str, str]) -> Iterator[Any]:
        order = (self.source_index, unit if isinstance(unit, str) else "")
        try:
            records, dead = self.reader(unit)
        except ValueError as e:  # the one-line errors of the readers (missing header field, ...)
            yield beam.pvalue.TaggedOutput(ERRORS, (order, str(e)))
            return
        task = self.reader.task
        fields = get_task(task)
        counts: collections.Counter = collections.Counter()
        sizes: collections.Counter = collections.Counter()
        parts: dict[str, tuple[tuple, str, Any]] = {}  # split -> (order key, path, writer) of its open part

        def close(split: str) -> Any:
            key, path, writer = parts.pop(split)
            writer.close()
            return beam.pvalue.TaggedOutput(PARTS, (split, key, path, counts[split] - key[-1] * SHARD_SIZE))

        for record in records:
            split = self.forced_split or split_for(split_key(record, task), self.eval_fraction, self.test_fraction)
            if counts[split] % SHARD_SIZE == 0:  # a new part: the first record, or the last part is full
                if split in parts:
                    yield close(split)
                path = f"{self.parts_dir}/{split}-{uuid.uuid4().hex}.tfrecord.gz"
                writer = tf.io.TFRecordWriter(path, tf.io.TFRecordOptions(compression_type="GZIP"))
                parts[split] = ((*order, counts[split] // SHARD_SIZE), path, writer)
            parts[split][2].write(to_example(record))
            counts[split] += 1
            sizes[split] += fields.record_size(record)
        for split in list(parts):
            yield close(split)
        yield beam.pvalue.TaggedOutput(COUNTS, (dict(counts), dict(sizes)))
        for n, letter in enumerate(dead):
            yield beam.pvalue.TaggedOutput(DEAD, ((*order, n), letter))


class SummarizeFn(beam.CombineFn):
    """("counts", {split: n}, {split: size}) | ("dead", key, letter) | ("error", key, message) -> the summary."""

    def create_accumulator(self) -> dict[str, Any]:
        return {"counts": collections.Counter(), "sizes": collections.Counter(), "reasons": collections.Counter(),
                "first_dead": [], "errors": []}

    def add_input(self, acc: dict[str, Any], element: tuple) -> dict[str, Any]:
        kind = element[0]
        if kind == "counts":
            acc["counts"].update(element[1])
            acc["sizes"].update(element[2])
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


def shard_groups(parts: list[tuple[str, tuple, str, int]]) -> list[list[str]]:
    """The part paths of one split in read order, grouped into shards of at most SHARD_SIZE records."""
    groups: list[list[str]] = []
    size = SHARD_SIZE
    for _, _, path, count in sorted(parts):
        if size + count > SHARD_SIZE:
            groups.append([])
            size = 0
        groups[-1].append(path)
        size += count
    return groups


def finalize_parts(_: Any, parts: list[tuple[str, tuple, str, int]], output_dir: str, parts_dir: str) -> None:
    """Turns each split's parts, in read order, into `<split>/data-SSSSS-of-NNNNN.tfrecord.gz` shards of at most
    SHARD_SIZE records: a part alone is renamed, small parts (small files) are concatenated (gzip members
    and TFRecord frames both concatenate); an empty split gets one empty shard. Removes `parts_dir` (parts
    of retried bundles with it)."""
    for split in schema.SPLITS:
        groups = shard_groups([p for p in parts if p[0] == split])
        prefix = record_prefix(Path(output_dir), split)
        tf.io.gfile.makedirs(str(Path(prefix).parent))
        if not groups:
            with tf.io.TFRecordWriter(f"{prefix}-00000-of-00001.tfrecord.gz",
                                      tf.io.TFRecordOptions(compression_type="GZIP")):
                pass
        for i, group in enumerate(groups):
            final = f"{prefix}-{i:05d}-of-{len(groups):05d}.tfrecord.gz"
            if len(group) == 1:
                tf.io.gfile.rename(group[0], final, overwrite=True)
                continue
            with tf.io.gfile.GFile(final, "wb") as out:
                for path in group:
                    with tf.io.gfile.GFile(path, "rb") as part:
                        out.write(part.read())
    if tf.io.gfile.exists(parts_dir):
        tf.io.gfile.rmtree(parts_dir)


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
    parts_dir = str(output_dir / PARTS_DIR)
    tf.io.gfile.makedirs(parts_dir)
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
            | f"Read[{index}]" >> beam.ParDo(
                ReadFile(reader, index, forced_split, eval_fraction, test_fraction, parts_dir))
            .with_outputs(PARTS, COUNTS, DEAD, ERRORS))
    outputs = {tag: [r[tag] for r in reads] | f"All{tag.title()}" >> beam.Flatten()
               for tag in (PARTS, COUNTS, DEAD, ERRORS)}
    summary = beam.pvalue.AsSingleton(
        (outputs[COUNTS] | "CountKeys" >> beam.Map(lambda c: ("counts", c[0], c[1])),
         outputs[DEAD] | "DeadKeys" >> beam.Map(lambda d: ("dead", d[0], d[1])),
         outputs[ERRORS] | "ErrorKeys" >> beam.Map(lambda e: ("error", e[0], e[1])))
        | "SummaryInputs" >> beam.Flatten()
        | "Summarize" >> beam.CombineGlobally(SummarizeFn()))
    once = pipeline | "Once" >> beam.Create([None])
    _ = once | "FinalizeParts" >> beam.Map(finalize_parts, beam.pvalue.AsList(outputs[PARTS]), str(output_dir),
                                           parts_dir)
    _ = (
        outputs[DEAD]
        | "DeadLetterToJson" >> beam.Map(lambda d: json.dumps(d[1], ensure_ascii=False, sort_keys=True))
        | "WriteDeadLetters" >> beam.io.WriteToText(
            str(output_dir / schema.DEAD_LETTER_DIR / "dead_letter"), file_name_suffix=".jsonl", num_shards=1)
    )
    _ = once | "WriteSummary" >> beam.Map(lambda _, s: write_summary(s, str(output_dir / SUMMARY_FILE)), summary)


def read_summary(output_dir: Path) -> dict[str, Any]:
    """The job's summary (see module docstring); removes its file."""
    path = output_dir / SUMMARY_FILE
    summary = json.loads(tf.io.gfile.GFile(str(path)).read())
    tf.io.gfile.remove(str(path))
    return summary

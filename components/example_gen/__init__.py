"""example_gen: a source URI -> raw tf.Example TFRecords split into train/eval/test.

Writes, inside `ctx.output_dir`:
    <split>/data-XXXXX-of-YYYYY.tfrecord.gz   raw examples: bytes features `Task.raw_features`
    dead_letter/dead_letter-*.jsonl           rows that could not be read: reason, location, raw
    counts.json                               {split: n, "dead_letter": {reason: n}}, plus
                                              "tokens": {split: n} (tagging) or
                                              "characters": {split: n} (language_model)

File sources (paths and globs) are read inside the Beam job (`beam_read`):
the job matches the pattern, reads each file with the per-format reader of
`sources.FileReader`, splits, serializes, counts (a combiner) and writes the
splits and the dead letters; the launcher only builds the graph and turns the
job's summary into counts.json. `builtin:` generators and `tfds:` sources are
read here in Python (a generator builds its records in memory; TFDS reads its
own prepared files): the records are split here, staged per split in
`_staging/` (removed afterwards) and copied by a Beam job (`beam_write`) into
the sharded, compressed splits (also both sources when `data.eval_source` and
`data.source` are not both files). Both paths write the same records, counts
and dead letters, in shards of at most 50,000 records (the in-job read
concatenates the parts of small files in read order, so with several files
it can have a shard more than the launcher path's `num_shards_for`).

Example:

>>> outputs = run(ctx)  # doctest: +SKIP
>>> outputs["counts"]["train"]  # doctest: +SKIP
240
"""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
import time
from typing import Any

from components.beam_utils import make_pipeline
from components.registry import get_task
from components.example_gen.beam_write import FORCED_SPLIT, record_split, staged_examples, write_examples
from components import source_uri
from components.example_gen.beam_read import read_and_write, read_summary
from components.example_gen.sources import file_reader, is_file_source, load_source
from components.record_audit import check_written
from components.step import StepContext
from serving import schema

logger = logging.getLogger(__name__)

COUNTS_FILE = "counts.json"
STAGING_DIR = "_staging"  # the records as serialized examples, read by the Beam job; removed after it


def count_splits(records: list[dict[str, Any]], splits: list[str], task: str) -> dict[str, Any]:
    """{split: n} for `records` (whose splits are `splits`) in schema.SPLITS order, plus the task's per-split
    size (`Task.size_key`: a tagger's tokens, a language model's characters)."""
    fields = get_task(task)
    counts: collections.Counter = collections.Counter()
    sizes: collections.Counter = collections.Counter()
    for record, split in zip(records, splits):
        counts[split] += 1
        sizes[split] += fields.record_size(record)
    out: dict[str, Any] = {split: counts.get(split, 0) for split in schema.SPLITS}
    if fields.size_key:
        out[fields.size_key] = {split: sizes.get(split, 0) for split in schema.SPLITS}
    return out


def check_bad_fraction(num_dead: int, num_total: int, max_bad_fraction: float, by_reason: dict[str, int],
                       dead_letter_dir: Any = None, first_dead: list[dict[str, Any]] | tuple = ()) -> None:
    """Raises a one-line ValueError when dead letters / total rows exceed `max_bad_fraction`.

    The message names `dead_letter_dir` (where the dead letters were written) and shows the first
    three of `first_dead` as `location: reason`.
    """
    if num_total and num_dead / num_total > max_bad_fraction:
        shown = "; ".join(f"{d['location']}: {d['reason']}" for d in list(first_dead)[:3])
        where = (f"The dead letters are in {dead_letter_dir}/ (kept until the next run on this root). "
                 if dead_letter_dir is not None else "")
        raise ValueError(
            f"Too many bad rows: {num_dead} of {num_total} rows ({num_dead / num_total:.2%}) were dead-lettered, "
            f"more than data.max_bad_fraction={max_bad_fraction}. Reasons: {by_reason}. "
            + (f"First: {shown}. " if shown else "") + where
            + "Fix the data or raise data.max_bad_fraction."
        )


def eval_config(data: Any) -> Any:
    """The DataConfig that reads `data.eval_source` (+ `eval_target_source`, `tfds_eval_split`), or None."""
    if not data.eval_source:
        return None
    return dataclasses.replace(data, source=data.eval_source, target_source=data.eval_target_source,
                               tfds_split=data.tfds_eval_split)


def run(ctx: StepContext) -> dict[str, Any]:
    """Generates or reads the examples and writes them as split TFRecords (see module docstring)."""
    start = time.perf_counter()
    data = ctx.config.data
    eval_data = eval_config(data)
    sources = [data] + ([eval_data] if eval_data else [])
    if all(is_file_source(d.source) for d in sources):
        counts, num_dead, num_records, first_dead = _read_in_beam(ctx, eval_data)
    else:
        counts, num_dead, num_records, first_dead = _read_in_launcher(ctx, eval_data)
    output_dir = ctx.output_dir
    check_written(output_dir, {split: counts.get(split, 0) for split in schema.SPLITS}, "example_gen")
    (output_dir / COUNTS_FILE).write_text(json.dumps(counts, indent=2, sort_keys=True))
    logger.info(
        "example_gen: %s, %d dead letters, in %.1fs",
        {k: v for k, v in counts.items() if k != "dead_letter"}, num_dead, time.perf_counter() - start,
    )
    check_bad_fraction(num_dead, num_records + num_dead, data.max_bad_fraction, counts["dead_letter"],
                       output_dir / schema.DEAD_LETTER_DIR, first_dead)
    if not num_records:
        raise ValueError(f"The source produced no examples. Received: data.source={data.source!r}")
    return {"counts": counts, "dead_letter": num_dead}


def _read_in_beam(ctx: StepContext, eval_data: Any) -> tuple[dict[str, Any], int, int, list[dict[str, Any]]]:
    """File sources: the Beam job matches, reads, splits, counts and writes (`beam_read`).

    Returns (counts, dead letters, records, the first dead letters); a reader's one-line ValueError is
    raised after the job.
    """
    data, task = ctx.config.data, ctx.config.task
    readers = [(file_reader(data, task), None)] + ([(file_reader(eval_data, task), "eval")] if eval_data else [])
    for reader, _ in readers:
        if not source_uri.uri_scheme(reader.data.source):
            reader.units()  # local patterns: the one-line errors for no match / a directory, before the job
    eval_fraction = 0.0 if eval_data else data.eval_fraction
    with make_pipeline(ctx.beam_args) as pipeline:
        read_and_write(pipeline, readers, ctx.output_dir, eval_fraction, data.test_fraction)
    summary = read_summary(ctx.output_dir)
    if summary["error"]:
        raise ValueError(summary["error"])
    counts: dict[str, Any] = dict(summary["counts"])
    size_key = get_task(task).size_key
    if size_key:
        counts[size_key] = summary["sizes"]
    counts["dead_letter"] = summary["dead_letter"]
    return counts, summary["num_dead"], sum(summary["counts"].values()), summary["first_dead"]


def _read_in_launcher(ctx: StepContext, eval_data: Any) -> tuple[dict[str, Any], int, int, list[dict[str, Any]]]:
    """builtin: and tfds: sources, read here (generators build their records in memory; TFDS reads its own
    prepared files), staged per split and copied by the Beam job into the sharded splits."""
    data, task = ctx.config.data, ctx.config.task
    records, dead = load_source(data, task)
    eval_fraction = data.eval_fraction
    if eval_data:  # a separate eval set (e.g. CoNLL eng.testa): the source feeds train and test only
        eval_records, eval_dead = load_source(eval_data, task)
        records += [{**record, FORCED_SPLIT: "eval"} for record in eval_records]
        dead += eval_dead
        eval_fraction = 0.0
    splits = [record_split(record, eval_fraction, data.test_fraction, task) for record in records]
    counts: dict[str, Any] = count_splits(records, splits, task)
    counts["dead_letter"] = dict(collections.Counter(d["reason"] for d in dead))
    with staged_examples(records, splits, ctx.output_dir / STAGING_DIR) as staged:
        with make_pipeline(ctx.beam_args) as pipeline:
            write_examples(pipeline, staged, dead, ctx.output_dir, counts)
    return counts, len(dead), len(records), dead[:3]

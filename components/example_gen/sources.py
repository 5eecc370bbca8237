"""Source URI -> in-memory records and dead letters, for the configured task.

`builtin:<name>[?key=value&...]` calls a built-in generator (query params
override `data.num_examples` via `n` and `data.seed` via `seed`; some take
more, listed in `source_uri.BUILTIN_PARAMS`). Each feeds one task (`source_uri.BUILTIN_TASKS`); its generator
module (`dates`, `temporal_order`, `dates_tasks`, `dialogue`) describes it.

`tfds:<name>[/<config>]` reads a prepared TFDS dataset; anything else is a
path or glob read by the reader that `data.format` names, or, for `auto`,
the one the extension names (`.gz` is looked through):

    .txt -> text (translation with data.target_source: parallel), .tsv/.csv/.jsonl -> tabular,
    .conll -> conll, .conllu -> conllu

A record is a dict keyed by the task's raw features (`Task.raw_features`).

Example:

>>> from components.config import DataConfig
>>> records, dead = load_source(DataConfig(source="builtin:dates?n=3&seed=7"), "translation")
>>> len(records), sorted(records[0]), dead
(3, ['source', 'target'], [])
>>> records, _ = load_source(DataConfig(source="builtin:temporal_order?n=2&length=20"), "classification")
>>> len(records[0]["text"].split())
20
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any, Callable

from components import source_uri
from serving import schema
from components.example_gen import common, conll, conllu, dates, dates_tasks, parallel, tabular, text, tfds_source
from components.example_gen import dialogue, temporal_order
from components.config import DataConfig
from components.registry import get_task, registered_tasks

logger = logging.getLogger(__name__)


def _date_pairs(n: int, seed: int) -> list[dict[str, str]]:
    return [{schema.RAW_SOURCE: s, schema.RAW_TARGET: t} for s, t in dates.generate_dates(n, seed)]


# name -> generator(n, seed, **extra params) returning records keyed by the raw features of the task it feeds
BUILTINS: dict[str, Callable[..., list[dict[str, Any]]]] = {
    "dates": _date_pairs,
    "temporal_order": temporal_order.generate_temporal_order,
    "date_tags": dates_tasks.generate_date_tags,
    "date_validity": dates_tasks.generate_date_validity,
    "dialogue": dialogue.generate_dialogue,
}
EXTENSIONS: dict[str, str] = {
    "txt": "text", "tsv": "tsv", "csv": "csv", "jsonl": "jsonl", "conll": "conll", "conllu": "conllu",
}
FILE_FORMATS = ("text", "parallel", "tsv", "csv", "jsonl", "conll", "conllu")  # a task names those it reads


def file_format(data: DataConfig, task: str) -> str:
    """The reader for a file source: `data.format`, or from the extension for `auto`."""
    if data.format == "parallel" or ("parallel" in get_task(task).formats and data.target_source):
        return "parallel"
    if data.format != "auto":
        return data.format
    if Path(data.source).is_dir():
        raise common.directory_error(data.source)
    extension = common.strip_gz(data.source).rsplit(".", 1)[-1].lower()
    if extension not in EXTENSIONS:
        raise ValueError(
            f"Cannot tell the format of data.source={data.source!r} from its extension. Set data.format to one "
            f"of {sorted(FILE_FORMATS)}, or use one of the extensions {sorted(EXTENSIONS)} (optionally .gz)."
        )
    return EXTENSIONS[extension]


@dataclasses.dataclass(frozen=True)
class FileReader:
    """Reads one unit of a file source: a path, or for aligned parallel files the (source, target) pair.

    Picklable, so that example_gen's Beam job (`beam_read`) calls the same
    per-file code inside its workers that `read_files` calls here. A file is
    read whole by one call (CoNLL blocks span lines, TSV/CSV headers and
    `file:line` dead-letter locations need the file from its first line).

    Example:

    >>> reader = file_reader(DataConfig(source="reviews.jsonl"), "classification")  # doctest: +SKIP
    >>> records, dead = reader("reviews.jsonl")  # doctest: +SKIP
    """

    fmt: str  # file_format(data, task)
    data: DataConfig
    task: str

    @property
    def aligned(self) -> bool:
        """Two files read line by line in lockstep (parallel format with data.target_source)."""
        return self.fmt == "parallel" and bool(self.data.target_source)

    def units(self) -> list[str] | list[tuple[str, str]]:
        """The sorted paths `data.source` matches (one-line errors for none or a directory), or the aligned pair."""
        if self.aligned:
            return [(self.data.source, self.data.target_source)]
        return common.expand(self.data.source)

    def __call__(self, unit: str | tuple[str, str]) -> tuple[list[dict], list[dict]]:
        if self.fmt == "parallel":
            if self.aligned:
                return parallel.read_aligned(unit[0], unit[1], self.task)
            return tabular.read_delimited(unit, ("0", "1"), self.task, "tsv")
        if self.fmt == "text":
            return text.read_text_file(unit, self.data)
        if self.fmt == "conll":
            return conll.read_conll_file(unit, self.data)
        if self.fmt == "conllu":
            return conllu.read_conllu_file(unit, self.data)
        return tabular.read_table_file(unit, self.data, self.task, self.fmt)


def is_file_source(source: str) -> bool:
    """Whether `source` is a path or glob (not `builtin:` or `tfds:`)."""
    return not source.startswith(("builtin:", "tfds:"))


def file_reader(data: DataConfig, task: str) -> FileReader:
    """The reader for the files `data.source` names; a one-line error when its format cannot feed `task`."""
    fmt = file_format(data, task)
    if fmt not in get_task(task).formats:
        feeds = sorted(t.name for t in registered_tasks().values() if fmt in t.formats)
        raise ValueError(
            f"data.format={fmt!r} cannot feed task={task!r}; it feeds {feeds}. "
            f"Received: data.source={data.source!r}, data.format={data.format!r}"
        )
    return FileReader(fmt, data, task)


def read_files(data: DataConfig, task: str) -> tuple[list[dict], list[dict]]:
    """Records and dead letters from the files `data.source` names, read in this process."""
    reader = file_reader(data, task)
    records: list[dict] = []
    dead: list[dict] = []
    for unit in reader.units():
        got = reader(unit)
        records.extend(got[0])
        dead.extend(got[1])
    logger.info("Read %d records and %d dead letters from %s (%s)", len(records), len(dead), data.source,
                reader.fmt)
    return records, dead


def load_source(data: DataConfig, task: str) -> tuple[list[dict], list[dict]]:
    """The records (dicts keyed by the task's raw features) and dead letters that `data` describes."""
    if data.source.startswith("builtin:"):
        name, n, seed = source_uri.parse_builtin(data.source, data.num_examples, data.seed, task=task)
        extra = source_uri.builtin_params(data.source)
        logger.info("Generating %d examples with builtin:%s (seed=%d%s)", n, name, seed,
                    "".join(f", {k}={v}" for k, v in extra.items()))
        return BUILTINS[name](n, seed, **extra), []
    if data.source.startswith("tfds:"):
        return tfds_source.read_tfds(data.source, data, task)
    return read_files(data, task)

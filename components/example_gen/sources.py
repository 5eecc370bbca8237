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


def read_files(data: DataConfig, task: str) -> tuple[list[dict], list[dict]]:
    """Records and dead letters from the files `data.source` names."""
    fmt = file_format(data, task)
    if fmt not in get_task(task).formats:
        feeds = sorted(t.name for t in registered_tasks().values() if fmt in t.formats)
        raise ValueError(
            f"data.format={fmt!r} cannot feed task={task!r}; it feeds {feeds}. "
            f"Received: data.source={data.source!r}, data.format={data.format!r}"
        )
    if fmt == "parallel":
        return parallel.read_parallel(data.source, data.target_source, "parallel" if data.target_source else "tsv",
                                      task=task)
    paths = common.expand(data.source)
    if fmt == "text":
        records, dead = text.read_text(paths, data)
    elif fmt == "conll":
        records, dead = conll.read_conll(paths, data)
    elif fmt == "conllu":
        records, dead = conllu.read_conllu(paths, data)
    else:
        records, dead = tabular.read_table(paths, data, task, fmt)
    logger.info("Read %d records and %d dead letters from %s (%s)", len(records), len(dead), data.source, fmt)
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

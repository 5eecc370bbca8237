"""Source URI -> in-memory records and dead letters, for the configured task.

`builtin:<name>[?key=value&...]` calls a built-in generator (query params
override `data.num_examples` via `n` and `data.seed` via `seed`);
`tfds:<name>[/<config>]` reads a prepared TFDS dataset; anything else is a
path or glob read by the reader that `data.format` names, or, for `auto`,
the one the extension names (`.gz` is looked through):

    .txt -> text (translation with data.target_source: parallel), .tsv/.csv/.jsonl -> tabular,
    .conll -> conll, .conllu -> conllu

A record is a dict keyed by `schema.RAW_FEATURES[task]`.

Example:

>>> from pipeline.config import DataConfig
>>> records, dead = load_source(DataConfig(source="builtin:dates?n=3&seed=7"))
>>> len(records), sorted(records[0]), dead
(3, ['source', 'target'], [])
"""

from __future__ import annotations

import logging
import urllib.parse
from typing import Callable

from components import schema
from components.example_gen import common, conll, conllu, dates, parallel, tabular, text, tfds_source
from pipeline.config import DataConfig

logger = logging.getLogger(__name__)

BUILTINS: dict[str, Callable[[int, int], list[tuple[str, str]]]] = {
    "dates": dates.generate_dates,
}
BUILTIN_TASKS: dict[str, str] = {"dates": "translation"}
_BUILTIN_PARAMS = ("n", "seed")
EXTENSIONS: dict[str, str] = {
    "txt": "text", "tsv": "tsv", "csv": "csv", "jsonl": "jsonl", "conll": "conll", "conllu": "conllu",
}
# format -> tasks it can feed
FORMAT_TASKS: dict[str, tuple[str, ...]] = {
    "text": ("language_model",),
    "parallel": ("translation",),
    "tsv": schema.TASKS, "csv": schema.TASKS, "jsonl": schema.TASKS,
    "conll": ("tagging",), "conllu": ("tagging",),
}


def parse_builtin(uri: str, default_n: int, default_seed: int) -> tuple[str, int, int]:
    """`builtin:dates?n=500&seed=7` -> ("dates", 500, 7); absent params take the defaults."""
    parsed = urllib.parse.urlsplit(uri)
    name = parsed.path
    params = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
    unknown = sorted(set(params) - set(_BUILTIN_PARAMS))
    if unknown:
        raise ValueError(f"Unknown builtin source parameters {unknown}. Valid: {list(_BUILTIN_PARAMS)}. Received: {uri!r}")
    if name not in BUILTINS:
        raise ValueError(f"Unknown builtin source '{name}'. Available: {sorted(BUILTINS)}. Received: data.source={uri!r}")
    try:
        n = int(params.get("n", default_n))
        seed = int(params.get("seed", default_seed))
    except ValueError:
        raise ValueError(f"Builtin source parameters n and seed must be integers. Received: {uri!r}") from None
    return name, n, seed


def file_format(data: DataConfig, task: str) -> str:
    """The reader for a file source: `data.format`, or from the extension for `auto`."""
    if data.format == "parallel" or (task == "translation" and data.target_source):
        return "parallel"
    if data.format != "auto":
        return data.format
    extension = common.strip_gz(data.source).rsplit(".", 1)[-1].lower()
    if extension not in EXTENSIONS:
        raise ValueError(
            f"Cannot tell the format of data.source={data.source!r} from its extension. Set data.format to one "
            f"of {sorted(FORMAT_TASKS)}, or use one of the extensions {sorted(EXTENSIONS)} (optionally .gz)."
        )
    return EXTENSIONS[extension]


def read_files(data: DataConfig, task: str) -> tuple[list[dict], list[dict]]:
    """Records and dead letters from the files `data.source` names."""
    fmt = file_format(data, task)
    if task not in FORMAT_TASKS[fmt]:
        raise ValueError(
            f"data.format={fmt!r} cannot feed task={task!r}; it feeds {list(FORMAT_TASKS[fmt])}. "
            f"Received: data.source={data.source!r}, data.format={data.format!r}"
        )
    if fmt == "parallel":
        return parallel.read_parallel(data.source, data.target_source, "parallel" if data.target_source else "tsv")
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


def load_source(data: DataConfig, task: str = "translation") -> tuple[list[dict], list[dict]]:
    """The records (dicts keyed by `schema.RAW_FEATURES[task]`) and dead letters that `data` describes."""
    if data.source.startswith("builtin:"):
        name, n, seed = parse_builtin(data.source, data.num_examples, data.seed)
        if BUILTIN_TASKS[name] != task:
            raise ValueError(f"builtin:{name} feeds task={BUILTIN_TASKS[name]!r}. Received: task={task!r}")
        logger.info("Generating %d examples with builtin:%s (seed=%d)", n, name, seed)
        return [{schema.RAW_SOURCE: s, schema.RAW_TARGET: t} for s, t in BUILTINS[name](n, seed)], []
    if data.source.startswith("tfds:"):
        return tfds_source.read_tfds(data.source, data, task)
    return read_files(data, task)

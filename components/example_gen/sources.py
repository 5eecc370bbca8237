"""Source URI -> in-memory records and dead letters.

`builtin:<name>[?key=value&...]` calls a built-in generator (query params
override `data.num_examples` via `n` and `data.seed` via `seed`); anything else
is read as files by `parallel.read_parallel`.

Example:

>>> from pipeline.config import DataConfig
>>> records, dead = load_source(DataConfig(source="builtin:dates?n=3&seed=7"))
>>> len(records), dead
(3, [])
"""

from __future__ import annotations

import logging
import urllib.parse
from typing import Callable

from components.example_gen import dates, parallel
from pipeline.config import DataConfig

logger = logging.getLogger(__name__)

BUILTINS: dict[str, Callable[[int, int], list[tuple[str, str]]]] = {
    "dates": dates.generate_dates,
}
_BUILTIN_PARAMS = ("n", "seed")


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


def load_source(data: DataConfig) -> tuple[list[tuple[str, str]], list[dict]]:
    """The (source, target) records and dead letters that `data` describes."""
    if data.source.startswith("builtin:"):
        name, n, seed = parse_builtin(data.source, data.num_examples, data.seed)
        logger.info("Generating %d examples with builtin:%s (seed=%d)", n, name, seed)
        return BUILTINS[name](n, seed), []
    if data.source.startswith("tfds:"):
        raise ValueError(f"tfds: sources are not supported by this example_gen yet. Received: data.source={data.source!r}")
    return parallel.read_parallel(data.source, data.target_source, data.format)

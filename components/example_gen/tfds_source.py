"""TFDS sources: `tfds:<name>[/<config>]` read through tensorflow_datasets, never downloading.

The split `data.tfds_split` of a dataset prepared under `data.tfds_data_dir`
(default: the TFDS default) is read with `builder.as_dataset` and split again
into train/eval/test by example_gen. Well-known datasets map their features to
the raw features of the task (`KNOWN`); any other dataset uses
`data.text_field` / `data.label_field` (and `source_field` / `target_field`
for translation). ClassLabel ids become their names.

Example:

>>> from components.config import DataConfig
>>> records, dead = read_tfds("tfds:imdb_reviews", DataConfig(), "classification")  # doctest: +SKIP
>>> sorted(records[0])  # doctest: +SKIP
['label', 'text']
"""

from __future__ import annotations

import logging
from typing import Any

from components import source_uri
from components.registry import get_task
from components.example_gen.common import DeadLetter, Record

logger = logging.getLogger(__name__)

# dataset name -> {task: (feature for each raw feature of the task)}
KNOWN: dict[str, dict[str, tuple[str, ...]]] = {
    "imdb_reviews": {"classification": ("text", "label")},
    "conll2003": {"tagging": ("tokens", "ner")},
    "tiny_shakespeare": {"language_model": ("text",)},
}


def _decoder(feature) -> Any:
    """A function from one numpy feature value to str or list[str] (ClassLabel ids -> names)."""
    import tensorflow_datasets as tfds

    inner = feature.feature if isinstance(feature, tfds.features.Sequence) else feature
    is_label = isinstance(inner, tfds.features.ClassLabel)

    def one(value):
        if is_label:
            return inner.int2str(int(value))
        return value.decode("utf-8") if isinstance(value, bytes) else str(value)

    if isinstance(feature, tfds.features.Sequence):
        return lambda values: [one(v) for v in values]
    return one


def read_tfds(uri: str, data, task: str) -> tuple[list[Record], list[DeadLetter]]:
    """Records per task from a prepared TFDS dataset (see module docstring)."""
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise ImportError("tfds: sources need tensorflow-datasets: pip install tensorflow-datasets") from None
    name, config = source_uri.parse_tfds(uri)
    if not source_uri.tfds_prepared_dirs(uri, data.tfds_data_dir):
        raise ValueError(source_uri.tfds_not_prepared(uri, data.tfds_data_dir))
    full_name = f"{name}/{config}" if config else name
    builder = tfds.builder(full_name, data_dir=data.tfds_data_dir or None)
    features = KNOWN.get(name, {}).get(task) or get_task(task).source_fields(data)
    available = builder.info.features
    missing = [f for f in features if f not in available]
    if missing:
        raise ValueError(
            f"TFDS dataset {full_name!r} has no features {missing}. Available: {sorted(available.keys())}. "
            "Set data.text_field / data.label_field (or source_field / target_field) to its feature names."
        )
    decoders = [_decoder(available[f]) for f in features]
    records: list[Record] = []
    dead: list[DeadLetter] = []
    dataset = builder.as_dataset(split=data.tfds_split, shuffle_files=False)
    for index, example in enumerate(tfds.as_numpy(dataset)):
        values = [decode(example[f]) for decode, f in zip(decoders, features)]
        record, reason = get_task(task).make_record(values)
        if reason:
            raw = {f: v if isinstance(v, str) else " ".join(v) for f, v in zip(features, values)}
            dead.append({"reason": reason, "location": f"{uri}[{data.tfds_split}]:{index}", "raw": str(raw)[:500]})
        else:
            records.append(record)
    logger.info("Read %d records and %d dead letters from %s (split %s)", len(records), len(dead), uri,
                data.tfds_split)
    return records, dead

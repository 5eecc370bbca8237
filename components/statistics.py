"""Statistics over the raw examples, per task: counts, lengths, labels/tags, characters, anomalies.

Reads the example_gen artifact and writes `stats.json` and `anomalies.json`.
This version runs in-process (tf.data reads the raw splits into Python), which
handles the corpora we ship against (IMDB's 25,000 reviews in seconds); a Beam
version is the next step for corpora that do not fit one machine.

Per split: `records`, `tokens` (tagging: words; otherwise whitespace tokens of
the text features), length quantiles per raw feature (characters for
strings, items for token/tag lists), `labels` / `tags` distribution,
`characters` (character-set size) and `empty_texts`. Anomalies: empty
texts, labels or tags in eval/test unseen in train, length outliers
(longer than OUTLIER_FACTOR * train p99), empty eval/test splits.

Example:

>>> summarize_lengths([1, 2, 3, 4, 100])["max"]
100
"""

from __future__ import annotations

import glob
import logging
from collections import Counter
from typing import Any, Iterable

import numpy as np

from components.registry import get_task
from components.step import StepContext
from serving import atomic, schema

logger = logging.getLogger(__name__)

OUTLIER_FACTOR = 3.0  # a text longer than OUTLIER_FACTOR * p99 is an outlier


def summarize_lengths(lengths: Iterable[int]) -> dict[str, float]:
    values = np.asarray(list(lengths), dtype=np.float64)
    if values.size == 0:
        return {"count": 0, "mean": 0.0, "p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0}
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return {"count": int(values.size), "mean": float(values.mean()), "p50": float(p50),
            "p90": float(p90), "p99": float(p99), "max": int(values.max())}


def read_raw_records(artifact_dir, split: str, task: str) -> list[dict[str, Any]]:
    """The raw records (dicts keyed by the task's raw features) of one split."""
    import tensorflow as tf

    from components.transform.task_fns import parse_task_example  # the transform reads them the same way

    files = sorted(glob.glob(schema.split_glob(artifact_dir, split)))
    names = get_task(task).raw_features
    examples = tf.data.TFRecordDataset(files, compression_type="GZIP").batch(1024).as_numpy_iterator()
    return [parse_task_example(serialized, names) for batch in examples for serialized in batch]


def read_raw_texts(artifact_dir, split: str, task: str) -> list[tuple[str, ...]]:
    """The raw features of one split as tuples, in the task's order (e.g. (source, target) pairs)."""
    names = get_task(task).raw_features
    return [tuple(r[name] for name in names) for r in read_raw_records(artifact_dir, split, task)]


def _is_empty(value: str | list[str]) -> bool:
    return not value if isinstance(value, list) else not value.strip()


def _text_names(task: str) -> list[str]:
    """The task's raw text features (not its labels)."""
    fields = get_task(task)
    labels = {field.raw for field in fields.label_fields}
    return [name for name in fields.raw_features if name not in labels]


def _num_tokens(record: dict[str, Any], text_names: list[str]) -> int:
    """Words of the text features: a pre-tokenized list's length, else whitespace-separated words."""
    return sum(len(record[n]) if isinstance(record[n], list) else len(record[n].split()) for n in text_names)


def split_statistics(records: list[dict[str, Any]], task: str) -> dict[str, Any]:
    """The statistics of one split (see module docstring)."""
    text_names = _text_names(task)
    chars: Counter[str] = Counter()
    for record in records:
        for name in text_names:
            value = record[name]
            chars.update(" ".join(value) if isinstance(value, list) else value)
    stats: dict[str, Any] = {
        "records": len(records),
        "tokens": sum(_num_tokens(r, text_names) for r in records),
        **{f"{name}_length": summarize_lengths(len(r[name]) for r in records) for name in text_names},
        "characters": len(chars),
        "top_characters": dict(chars.most_common(20)),
        "empty_texts": sum(1 for r in records if any(_is_empty(r[n]) for n in text_names)),
    }
    for field in get_task(task).label_fields:  # the label / tag distribution, named as its vocabulary
        counts: Counter[str] = Counter()
        for r in records:
            value = r[field.raw]
            counts.update(value if isinstance(value, list) else [value])
        stats[field.vocab] = dict(counts.most_common())
    return stats


def find_anomalies(stats: dict[str, dict[str, Any]], records_by_split: dict[str, list[dict]],
                   task: str) -> list[dict[str, Any]]:
    """Empty texts, unseen labels/tags, length outliers and empty splits."""
    anomalies = []
    train = stats.get("train")
    length_feature = get_task(task).raw_features[0]
    distributions = [field.vocab for field in get_task(task).label_fields]
    for split, s in stats.items():
        if s["empty_texts"]:
            anomalies.append({"split": split, "kind": "empty_texts", "count": s["empty_texts"]})
        if not (train and train["records"]):
            continue
        limit = OUTLIER_FACTOR * max(train[f"{length_feature}_length"]["p99"], 1.0)
        long = sum(1 for r in records_by_split[split] if len(r[length_feature]) > limit)
        if long:
            anomalies.append({"split": split, "kind": "length_outliers", "count": long, "limit": limit})
        if split == "train":
            continue
        if s["records"] == 0:
            anomalies.append({"split": split, "kind": "empty_split", "count": 0})
        for distribution in distributions:
            unseen = sorted(set(s[distribution]) - set(train[distribution]))
            if unseen:
                anomalies.append({"split": split, "kind": f"unseen_{distribution}", "values": unseen,
                                  "count": sum(s[distribution][v] for v in unseen)})
    return anomalies


def summary_line(stats: dict[str, dict[str, Any]], anomalies: list[dict[str, Any]], task: str) -> str:
    """One readable line: records/tokens per split, train length quantiles, label count, anomalies."""
    first = get_task(task).raw_features[0]
    parts = [f"{split} {s['records']:,} records/{s['tokens']:,} tokens" for split, s in stats.items()]
    train = stats["train"][f"{first}_length"]
    line = (f"statistics ({task}): " + ", ".join(parts)
            + f"; train {first} length p50={train['p50']:.0f} p90={train['p90']:.0f} p99={train['p99']:.0f}"
            f" max={train['max']}; {stats['train']['characters']} characters")
    for field in get_task(task).label_fields:
        line += f"; {len(stats['train'][field.vocab])} {field.vocab}"
    kinds = Counter(a["kind"] for a in anomalies)
    return line + (f"; anomalies: {dict(kinds)}" if anomalies else "; no anomalies")


def run(ctx: StepContext) -> dict[str, Any]:
    task = ctx.config.task
    raw_dir = ctx.inputs["example_gen"]
    records_by_split = {split: read_raw_records(raw_dir, split, task) for split in schema.SPLITS}
    stats = {split: split_statistics(records, task) for split, records in records_by_split.items()}
    anomalies = find_anomalies(stats, records_by_split, task)
    atomic.write_json(ctx.output_dir / "stats.json", stats)
    atomic.write_json(ctx.output_dir / "anomalies.json", anomalies)
    line = summary_line(stats, anomalies, task)
    (logger.warning if anomalies else logger.info)("%s", line)
    outputs = {"records": {split: s["records"] for split, s in stats.items()},
               "tokens": {split: s["tokens"] for split, s in stats.items()},
               "anomalies": len(anomalies)}
    for field in get_task(task).label_fields:  # one label per record: its distribution belongs in summary.json
        if not field.is_list:  # (per-token tag counts stay in stats.json)
            outputs[field.vocab] = {split: s.get(field.vocab, {}) for split, s in stats.items()}
    return outputs

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

from serving import schema
from serving import atomic
from components.step import StepContext

logger = logging.getLogger(__name__)

OUTLIER_FACTOR = 3.0  # a text longer than OUTLIER_FACTOR * p99 is an outlier
DISTRIBUTION_FEATURE = {"classification": schema.RAW_LABEL, "tagging": schema.RAW_TAGS}


def summarize_lengths(lengths: Iterable[int]) -> dict[str, float]:
    values = np.asarray(list(lengths), dtype=np.float64)
    if values.size == 0:
        return {"count": 0, "mean": 0.0, "p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0}
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return {"count": int(values.size), "mean": float(values.mean()), "p50": float(p50),
            "p90": float(p90), "p99": float(p99), "max": int(values.max())}


def read_raw_records(artifact_dir, split: str, task: str) -> list[dict[str, Any]]:
    """The raw records (dicts keyed by schema.RAW_FEATURES[task]) of one split."""
    import tensorflow as tf

    files = sorted(glob.glob(schema.split_glob(artifact_dir, split)))
    if not files:
        return []
    names = schema.RAW_FEATURES[task]
    spec = {name: tf.io.RaggedFeature(tf.string) for name in names}
    ds = tf.data.TFRecordDataset(files, compression_type="GZIP").batch(1024)
    records = []
    for batch in ds.map(lambda x: tf.io.parse_example(x, spec)).as_numpy_iterator():
        columns = {name: batch[name] for name in names}
        for i in range(len(columns[names[0]])):
            record = {}
            for name in names:
                values = [v.decode("utf-8") for v in columns[name][i]]
                record[name] = values if name in schema.LIST_FEATURES else (values[0] if values else "")
            records.append(record)
    return records


def read_raw_texts(artifact_dir, split: str) -> list[tuple[str, str]]:
    """(source, target) pairs of one raw translation split."""
    return [(r[schema.RAW_SOURCE], r[schema.RAW_TARGET]) for r in read_raw_records(artifact_dir, split, "translation")]


def _length(value: str | list[str]) -> int:
    return len(value)


def _is_empty(value: str | list[str]) -> bool:
    return not value if isinstance(value, list) else not value.strip()


def _num_tokens(record: dict[str, Any], task: str) -> int:
    if task == "tagging":
        return len(record[schema.RAW_TOKENS])
    return sum(len(record[name].split()) for name in schema.RAW_FEATURES[task] if name != schema.RAW_LABEL)


def split_statistics(records: list[dict[str, Any]], task: str) -> dict[str, Any]:
    """The statistics of one split (see module docstring)."""
    names = schema.RAW_FEATURES[task]
    text_names = [n for n in names if n not in (schema.RAW_LABEL, schema.RAW_TAGS)]
    chars: Counter[str] = Counter()
    for record in records:
        for name in text_names:
            value = record[name]
            chars.update(" ".join(value) if isinstance(value, list) else value)
    stats: dict[str, Any] = {
        "records": len(records),
        "tokens": sum(_num_tokens(r, task) for r in records),
        **{f"{name}_length": summarize_lengths(_length(r[name]) for r in records) for name in text_names},
        "characters": len(chars),
        "top_characters": dict(chars.most_common(20)),
        "empty_texts": sum(1 for r in records if any(_is_empty(r[n]) for n in text_names)),
    }
    feature = DISTRIBUTION_FEATURE.get(task)
    if feature:
        counts: Counter[str] = Counter()
        for r in records:
            value = r[feature]
            counts.update(value if isinstance(value, list) else [value])
        stats["labels" if task == "classification" else "tags"] = dict(counts.most_common())
    return stats


def find_anomalies(stats: dict[str, dict[str, Any]], records_by_split: dict[str, list[dict]],
                   task: str = "translation") -> list[dict[str, Any]]:
    """Empty texts, unseen labels/tags, length outliers and empty splits."""
    anomalies = []
    train = stats.get("train")
    length_feature = schema.RAW_FEATURES[task][0]
    distribution = {"classification": "labels", "tagging": "tags"}.get(task)
    for split, s in stats.items():
        if s["empty_texts"]:
            anomalies.append({"split": split, "kind": "empty_texts", "count": s["empty_texts"]})
        if not (train and train["records"]):
            continue
        limit = OUTLIER_FACTOR * max(train[f"{length_feature}_length"]["p99"], 1.0)
        long = sum(1 for r in records_by_split[split] if _length(r[length_feature]) > limit)
        if long:
            anomalies.append({"split": split, "kind": "length_outliers", "count": long, "limit": limit})
        if split == "train":
            continue
        if s["records"] == 0:
            anomalies.append({"split": split, "kind": "empty_split", "count": 0})
        if distribution:
            unseen = sorted(set(s[distribution]) - set(train[distribution]))
            if unseen:
                anomalies.append({"split": split, "kind": f"unseen_{distribution}", "values": unseen,
                                  "count": sum(s[distribution][v] for v in unseen)})
    return anomalies


def summary_line(stats: dict[str, dict[str, Any]], anomalies: list[dict[str, Any]], task: str) -> str:
    """One readable line: records/tokens per split, train length quantiles, label count, anomalies."""
    first = schema.RAW_FEATURES[task][0]
    parts = [f"{split} {s['records']:,} records/{s['tokens']:,} tokens" for split, s in stats.items()]
    train = stats["train"][f"{first}_length"]
    line = (f"statistics ({task}): " + ", ".join(parts)
            + f"; train {first} length p50={train['p50']:.0f} p90={train['p90']:.0f} p99={train['p99']:.0f}"
            f" max={train['max']}; {stats['train']['characters']} characters")
    for key in ("labels", "tags"):
        if key in stats["train"]:
            line += f"; {len(stats['train'][key])} {key}"
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
    if task == "classification":  # the label distribution belongs in summary.json (tag counts stay in stats.json)
        outputs["labels"] = {split: s.get("labels", {}) for split, s in stats.items()}
    return outputs

"""Statistics over the raw examples: counts, length quantiles, character sets, anomalies.

Reads the example_gen artifact and writes `stats.json` and `anomalies.json`.
This first version reads the (small) raw splits in-process through tf.data;
the data issue moves it onto Beam for corpora that do not fit one machine.

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

from components import schema
from pipeline import atomic
from pipeline.step import StepContext

logger = logging.getLogger(__name__)

OUTLIER_FACTOR = 3.0  # a text longer than OUTLIER_FACTOR * p99 is an outlier


def summarize_lengths(lengths: Iterable[int]) -> dict[str, float]:
    values = np.asarray(list(lengths), dtype=np.float64)
    if values.size == 0:
        return {"count": 0, "mean": 0.0, "p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0}
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return {"count": int(values.size), "mean": float(values.mean()), "p50": float(p50),
            "p90": float(p90), "p99": float(p99), "max": int(values.max())}


def read_raw_texts(artifact_dir, split: str) -> list[tuple[str, str]]:
    """(source, target) pairs of one raw split."""
    import tensorflow as tf

    files = sorted(glob.glob(schema.split_glob(artifact_dir, split)))
    if not files:
        return []
    spec = {schema.RAW_SOURCE: tf.io.FixedLenFeature([], tf.string, default_value=""),
            schema.RAW_TARGET: tf.io.FixedLenFeature([], tf.string, default_value="")}
    ds = tf.data.TFRecordDataset(files, compression_type="GZIP").batch(1024)
    pairs = []
    for batch in ds.map(lambda x: tf.io.parse_example(x, spec)).as_numpy_iterator():
        pairs.extend(
            (s.decode("utf-8"), t.decode("utf-8"))
            for s, t in zip(batch[schema.RAW_SOURCE], batch[schema.RAW_TARGET]))
    return pairs


def split_statistics(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    chars: Counter[str] = Counter()
    for source, target in pairs:
        chars.update(source)
        chars.update(target)
    return {
        "records": len(pairs),
        "source_length": summarize_lengths(len(s) for s, _ in pairs),
        "target_length": summarize_lengths(len(t) for _, t in pairs),
        "characters": len(chars),
        "top_characters": dict(chars.most_common(20)),
        "empty_texts": sum(1 for s, t in pairs if not s.strip() or not t.strip()),
    }


def find_anomalies(stats: dict[str, dict[str, Any]], pairs_by_split) -> list[dict[str, Any]]:
    anomalies = []
    train = stats.get("train")
    for split, s in stats.items():
        if s["empty_texts"]:
            anomalies.append({"split": split, "kind": "empty_texts", "count": s["empty_texts"]})
        if train and train["records"]:
            limit = OUTLIER_FACTOR * max(train["source_length"]["p99"], 1.0)
            long = sum(1 for src, _ in pairs_by_split[split] if len(src) > limit)
            if long:
                anomalies.append({"split": split, "kind": "length_outliers", "count": long,
                                  "limit": limit})
        if split != "train" and train and s["records"] == 0:
            anomalies.append({"split": split, "kind": "empty_split", "count": 0})
    return anomalies


def run(ctx: StepContext) -> dict[str, Any]:
    raw_dir = ctx.inputs["example_gen"]
    pairs_by_split = {split: read_raw_texts(raw_dir, split) for split in schema.SPLITS}
    stats = {split: split_statistics(pairs) for split, pairs in pairs_by_split.items()}
    anomalies = find_anomalies(stats, pairs_by_split)
    atomic.write_json(ctx.output_dir / "stats.json", stats)
    atomic.write_json(ctx.output_dir / "anomalies.json", anomalies)
    for split, s in stats.items():
        logger.info("%s: %d records, source length p50=%.0f p99=%.0f max=%d, %d characters",
                    split, s["records"], s["source_length"]["p50"], s["source_length"]["p99"],
                    s["source_length"]["max"], s["characters"])
    if anomalies:
        logger.warning("Anomalies: %s", anomalies)
    return {"records": {split: s["records"] for split, s in stats.items()},
            "anomalies": len(anomalies)}

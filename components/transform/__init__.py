"""transform: raw TFRecords -> encoded TFRecords + vocab files + manifest.json.

Reads `ctx.inputs["example_gen"]`, normalizes and tokenizes with the shared
`serving.text_processor` code, builds source and target vocabularies from the
train split, encodes every split and writes, inside `ctx.output_dir`:

    <split>/data-XXXXX-of-YYYYY.tfrecord.gz   int64 source_ids/target_ids + raw bytes source/target
    vocab/source.txt, vocab/target.txt        one token per line, line number = id
    manifest.json                             the contract read by trainer and serving

See `graph.py` for the (single) Beam pipeline.

Example:

>>> outputs = run(ctx)  # doctest: +SKIP
>>> outputs["vocab_sizes"]
{'source': 52, 'target': 15}
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import tensorflow as tf

from components import schema
from components.beam_utils import make_pipeline
from components.transform.graph import STATS_JSON, VOCAB_JSON, build_transform
from components.transform.vocab import SIDES, build_vocabulary, fingerprint, write_vocab_file
from pipeline.config import Config
from pipeline.step import StepContext
from serving.text_processor import TokenizerSpec

logger = logging.getLogger(__name__)

UPSTREAM = "example_gen"
WORK_DIR = "_work"
FEATURES: dict[str, str] = {
    schema.SOURCE_IDS: "int64 list: source token ids, truncated to max_source_length, no [START]/[END]",
    schema.TARGET_IDS: "int64 list: target token ids (at most max_target_length - 1) followed by [END]",
    schema.RAW_SOURCE: "bytes: the raw source string as example_gen wrote it",
    schema.RAW_TARGET: "bytes: the raw target string as example_gen wrote it",
}

__all__ = ["FEATURES", "build_vocabulary", "run", "spec_from_config"]


def spec_from_config(config: Config) -> TokenizerSpec:
    t = config.transform
    return TokenizerSpec(kind=t.tokenizer, lowercase=t.lowercase, normalization=t.normalization)


def find_split_globs(raw_dir: Path) -> dict[str, str]:
    """{split: glob} for the splits of `raw_dir` that have shards; train is required."""
    globs = {s: schema.split_glob(raw_dir, s) for s in schema.SPLITS if tf.io.gfile.glob(schema.split_glob(raw_dir, s))}
    if "train" not in globs:
        raise ValueError(f"No train records found. Received: {schema.split_glob(raw_dir, 'train')!r} matches nothing")
    return globs


def build_manifest(config: Config, spec: TokenizerSpec, vocabs: dict[str, list[str]], stats: dict) -> dict[str, Any]:
    """The manifest.json contents (exactly the documented keys)."""
    splits = {}
    for split in schema.SPLITS:
        count, tokens, oov = stats.get(split, (0, 0, 0))
        splits[split] = {
            "pattern": f"{split}/{schema.RECORD_PATTERN}",
            "count": count,
            "oov_rate": oov / tokens if tokens else 0.0,
        }
    return {
        "task": config.task,
        "tokenizer": spec.to_dict(),
        "vocab": {
            side: {"file": f"{schema.VOCAB_DIR}/{side}.txt", "size": len(vocabs[side])} for side in SIDES
        },
        "reserved": dict(schema.RESERVED_IDS),
        "features": FEATURES,
        "max_source_length": config.transform.max_source_length,
        "max_target_length": config.transform.max_target_length,
        "splits": splits,
        "fingerprint": fingerprint(vocabs, spec.to_dict()),
    }


def run(ctx: StepContext) -> dict[str, Any]:
    """Runs the transform (see module docstring) and returns vocab sizes and split counts."""
    start = time.perf_counter()
    if UPSTREAM not in ctx.inputs:
        raise ValueError(f"transform needs the '{UPSTREAM}' artifact. Received inputs: {sorted(ctx.inputs)}")
    spec = spec_from_config(ctx.config)
    globs = find_split_globs(Path(ctx.inputs[UPSTREAM]))
    output_dir, work_dir = Path(ctx.output_dir), Path(ctx.output_dir) / WORK_DIR
    with make_pipeline(ctx.beam_args) as pipeline:
        build_transform(pipeline, globs, output_dir, work_dir, ctx.config.transform, spec)
    vocabs = json.loads((work_dir / VOCAB_JSON).read_text())
    stats = json.loads((work_dir / STATS_JSON).read_text())
    shutil.rmtree(work_dir)
    (output_dir / schema.VOCAB_DIR).mkdir(exist_ok=True)
    for side in SIDES:
        write_vocab_file(output_dir / schema.VOCAB_DIR / f"{side}.txt", vocabs[side])
    manifest = build_manifest(ctx.config, spec, vocabs, stats)
    (output_dir / schema.MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
    counts = {split: info["count"] for split, info in manifest["splits"].items()}
    vocab_sizes = {side: manifest["vocab"][side]["size"] for side in SIDES}
    logger.info(
        "transform: counts %s, vocab sizes %s, oov %s, in %.1fs",
        counts, vocab_sizes, {s: round(i["oov_rate"], 4) for s, i in manifest["splits"].items()},
        time.perf_counter() - start,
    )
    return {"vocab_sizes": vocab_sizes, "counts": counts}

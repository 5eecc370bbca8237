"""transform: raw TFRecords -> encoded TFRecords + vocab files + manifest.json.

Reads `ctx.inputs["example_gen"]`, normalizes and tokenizes with the shared
`serving.text_processor` code, builds the task's vocabularies from the train
split, encodes every split and writes, inside `ctx.output_dir`:

    <split>/data-XXXXX-of-YYYYY.tfrecord.gz   encoded ids + the raw features (below)
    vocab/<name>.txt                          one token per line, line number = id
    manifest.json                             the contract read by trainer and serving

Each task's encoded features are its `Task.encoded_features` (components/tasks/, copied into the
manifest); a vocabulary per text field (`Task.text_fields`) and per label field (`Task.label_fields`).

See `task_graph.py` for the (single) Beam pipeline.

Example:

>>> outputs = run(ctx)  # doctest: +SKIP
>>> outputs["vocab_sizes"]  # doctest: +SKIP
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

from components.beam_utils import make_pipeline
from components.config import Config
from components.example_gen import COUNTS_FILE
from components.record_audit import check_counts, check_written
from components.registry import get_task
from components.step import StepContext
from components.transform.task_graph import STATS_JSON, VOCAB_JSON, build_task_transform
from components.transform.vocab import build_vocabulary, fingerprint, write_vocab_file
from serving import schema
from serving.text_processor import TokenizerSpec

logger = logging.getLogger(__name__)

UPSTREAM = "example_gen"
WORK_DIR = "_work"
__all__ = ["build_vocabulary", "run", "spec_from_config"]


def spec_from_config(config: Config) -> TokenizerSpec:
    t = config.transform
    return TokenizerSpec(
        kind=t.tokenizer, lowercase=t.lowercase, normalization=t.normalization, word_split=t.word_split,
        whitespace=t.whitespace, digits_to_zero=t.digits_to_zero,
    )


def vocab_names(task: str) -> list[str]:
    """Vocabulary names of a task, token vocabularies first: vocab/<name>.txt."""
    fields = get_task(task)
    return [f.side for f in fields.text_fields] + [f.vocab for f in fields.label_fields]


def encoded_length(field, transform_config) -> int | None:
    """Tokens of raw text that a text field keeps (None: all): its max length, less one for an appended [END].

    The manifest records it per vocabulary (`vocab.<side>.max_length`), so serving truncates the same way.
    """
    if field.max_length is None:
        return None
    limit = getattr(transform_config, field.max_length)
    return limit - 1 if field.append_end else limit


def find_split_globs(raw_dir: Path) -> dict[str, str]:
    """{split: glob} for the splits of `raw_dir` that have shards; train is required."""
    globs = {s: schema.split_glob(raw_dir, s) for s in schema.SPLITS if tf.io.gfile.glob(schema.split_glob(raw_dir, s))}
    if "train" not in globs:
        raise ValueError(f"No train records found. Received: {schema.split_glob(raw_dir, 'train')!r} matches nothing")
    return globs


def check_encoded(raw_dir: Path, stats: dict, splits) -> None:
    """Raises when the job encoded other than the records example_gen counted in `raw_dir`'s counts.json."""
    counts_file = raw_dir / COUNTS_FILE
    if not counts_file.exists():  # an example_gen artifact of a run before counts.json: nothing to compare
        return
    counts = json.loads(counts_file.read_text())
    check_counts(encoded_counts(stats, splits), {s: counts.get(s, 0) for s in splits},
                 "transform encoded other than the records example_gen wrote", "encoded", "in example_gen's counts")


def encoded_counts(stats: dict, splits) -> dict[str, int]:
    """{split: records encoded} from the job's per-split (examples, tokens, oov, unseen) stats."""
    return {split: stats.get(split, [0])[0] for split in splits}


def build_manifest(config: Config, spec: TokenizerSpec, vocabs: dict[str, list[str]], stats: dict) -> dict[str, Any]:
    """The manifest.json contents (exactly the documented keys)."""
    task = get_task(config.task)
    label_fields = task.label_fields
    lengths = {field.side: {"max_length": encoded_length(field, config.transform)} for field in task.text_fields}
    splits = {}
    for split in schema.SPLITS:
        count, tokens, oov, *unseen = stats.get(split, (0, 0, 0, 0))
        splits[split] = {
            "pattern": f"{split}/{schema.RECORD_PATTERN}",
            "count": count,
            "oov_rate": oov / tokens if tokens else 0.0,
        }
        for field in label_fields:  # one label field per task: the unseen count is its own
            splits[split][f"unseen_{field.vocab}"] = unseen[0] if unseen else 0
    manifest = {
        "task": config.task,
        "tokenizer": spec.to_dict(),
        "vocab": {
            name: {"file": f"{schema.VOCAB_DIR}/{name}.txt", "size": len(vocabs[name]), **lengths.get(name, {})}
            for name in vocab_names(config.task)
        },
        "reserved": dict(schema.RESERVED_IDS),
        "features": dict(task.encoded_features),
        "max_source_length": config.transform.max_source_length,
        "max_target_length": config.transform.max_target_length,
        "splits": splits,
        "fingerprint": fingerprint(vocabs, spec.to_dict()),
    }
    for field in label_fields:
        manifest[field.vocab] = list(vocabs[field.vocab])  # "labels" / "tags": id -> name
    return manifest


def run(ctx: StepContext) -> dict[str, Any]:
    """Runs the transform (see module docstring) and returns vocab sizes and split counts."""
    start = time.perf_counter()
    if UPSTREAM not in ctx.inputs:
        raise ValueError(f"transform needs the '{UPSTREAM}' artifact. Received inputs: {sorted(ctx.inputs)}")
    get_task(ctx.config.task).check_config(ctx.config)  # before any Beam work (`seqlab config` checks it too)
    spec = spec_from_config(ctx.config)
    globs = find_split_globs(Path(ctx.inputs[UPSTREAM]))
    output_dir, work_dir = Path(ctx.output_dir), Path(ctx.output_dir) / WORK_DIR
    with make_pipeline(ctx.beam_args) as pipeline:
        build_task_transform(pipeline, ctx.config.task, globs, output_dir, work_dir, ctx.config.transform, spec)
    vocabs = json.loads((work_dir / VOCAB_JSON).read_text())
    stats = json.loads((work_dir / STATS_JSON).read_text())
    shutil.rmtree(work_dir)
    check_encoded(Path(ctx.inputs[UPSTREAM]), stats, globs)
    check_written(output_dir, encoded_counts(stats, globs), "transform")
    (output_dir / schema.VOCAB_DIR).mkdir(exist_ok=True)
    for name in vocab_names(ctx.config.task):
        write_vocab_file(output_dir / schema.VOCAB_DIR / f"{name}.txt", vocabs[name])
    manifest = build_manifest(ctx.config, spec, vocabs, stats)
    (output_dir / schema.MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
    counts = {split: info["count"] for split, info in manifest["splits"].items()}
    vocab_sizes = {name: info["size"] for name, info in manifest["vocab"].items()}
    oov_rates = {split: info["oov_rate"] for split, info in manifest["splits"].items()}
    outputs = {"vocab_sizes": vocab_sizes, "counts": counts, "oov_rates": oov_rates}
    for field in get_task(ctx.config.task).label_fields:
        key = f"unseen_{field.vocab}"
        outputs[key] = {split: info[key] for split, info in manifest["splits"].items()}
    logger.info(
        "transform: counts %s, vocab sizes %s, oov %s, in %.1fs",
        counts, vocab_sizes, {s: round(r, 4) for s, r in oov_rates.items()}, time.perf_counter() - start,
    )
    return outputs

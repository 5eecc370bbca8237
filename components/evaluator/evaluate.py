"""The evaluator step: predict the eval/test splits, score, plot, bless.

The task evaluates (`Task.evaluate`, components/tasks/): source -> target tasks are decoded here with
`eval.decode` (beam search by default, as served: `evaluate_translation`); classifiers and taggers in their
task modules (confusion matrix PNG, entity-level F1) with the helpers below (`eval_batches`, `write_tsv`),
language models through `evaluate_lm.py` (nats per token, perplexity, bits per character, samples.txt at
several temperatures).

`run(ctx)` reads `model.keras` from `ctx.inputs["trainer"]` and the encoded
splits from `ctx.inputs["transform"]`, and writes into `ctx.output_dir`:

    metrics.json              {split: {metric: value}}
    predictions_<split>.tsv   the predictions beside the references
    attention/<split>_<i>.png attention maps of the first eval examples (attention models)
    blessing.json             {"blessed", "metric", "value", "threshold", "split"}

Predictions are detokenized by the same `TextProcessor` the serving signature
uses; references are the raw target strings after the transform's
normalization (what the model is able to produce).
"""

from __future__ import annotations

import csv
import json
import logging
import math
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from components.evaluator import metrics as metrics_lib
from components.evaluator.evaluate_lm import token_nll
from components.plots import plot_attention
from components.registry import get_task
from components.step import StepContext
from components.trainer.task_input import char_ids_fn_for, make_task_dataset
from serving import schema
from serving.export import load_trained_model
from serving.inplace_writes import with_inplace_cache_writes

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
BLESSING_FILE = "blessing.json"
BLESS_SPLIT = "eval"
EVAL_SPLITS = ("eval", "test")


def strings(values) -> list[str]:
    """A string tensor's values as Python str."""
    return [v.decode("utf-8") for v in values.numpy()]


def eval_batches(transform_dir: Path, task, config, manifest: dict[str, Any], split: str):
    """Batches of one split with raw strings (dicts), bucketed as in training, for a task's evaluation."""
    return make_task_dataset(transform_dir, task, split, config.eval.batch_size,
                             bucket_boundaries=config.train.bucket_boundaries,
                             char_ids_fn=char_ids_fn_for(task.uses_char_ids(config), manifest), with_raw=True)


def write_tsv(path: Path, header: list[str], rows) -> None:
    """A predictions TSV: the header, then one row per example."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter="\t", lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def make_decode_fn(model: keras.Model, target_processor, max_length: int, strategy):
    """A tf.function: padded source ids (batch, S) -> the best hypothesis' tokens, scores, alignments, text."""
    from models.decoding import decode_seq2seq

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32, name="source_ids")])
    @with_inplace_cache_writes
    def decode(source_ids):
        out = decode_seq2seq(model, source_ids, strategy, max_length)
        return {
            "tokens": out["tokens"][:, 0],
            "scores": out["scores"][:, 0],
            "alignments": out["extras"][:, 0],  # (batch, T, S) attention weights of each emitted token
            "text": target_processor.decode(out["tokens"][:, 0]),
        }

    return decode


def _tokens(ids, vocab: list[str], stop_at_end: bool) -> list[str]:
    out = []
    for i in ids:
        i = int(i)
        if i == schema.PAD_ID:
            if stop_at_end:
                break
            continue
        out.append(vocab[i] if i < len(vocab) else schema.UNK)
        if stop_at_end and i == schema.END_ID:
            break
    return out


def decode_split(transform_dir: Path, task, split: str, decode_fn, normalize_fn, batch_size: int,
                 keep_alignments: int = 0) -> dict[str, Any]:
    """Runs the decoder over one split of a source -> target task; returns strings plus the first alignments."""
    sources, references, raw_references, predictions, kept = [], [], [], [], []
    for batch in make_task_dataset(transform_dir, task, split, batch_size, with_raw=True):  # file order
        source_ids = tf.cast(batch[schema.SOURCE_IDS], tf.int32)
        out = decode_fn(source_ids)
        sources += strings(batch[schema.RAW_SOURCE])
        references += strings(normalize_fn(batch[schema.RAW_TARGET]))
        raw_references += strings(batch[schema.RAW_TARGET])
        predictions += strings(out["text"])
        for row in range(min(keep_alignments - len(kept), int(source_ids.shape[0]))):
            kept.append((source_ids[row].numpy(), out["tokens"][row].numpy(),
                         out["alignments"][row].numpy()))
    return {"sources": sources, "references": references, "raw_references": raw_references,
            "predictions": predictions, "alignments": kept}


def teacher_forced_nats(model: keras.Model, transform_dir: Path, task, split: str, batch_size: int) -> float:
    """Mean cross-entropy (nats) per target token, [END] included, of the references fed by teacher forcing."""
    total, count = 0.0, 0.0
    for inputs, target in make_task_dataset(transform_dir, task, split, batch_size):
        nll, real = token_nll(model(inputs, training=False), tf.cast(target, tf.int32))  # (batch, T) each
        total += float(tf.reduce_sum(nll))
        count += float(tf.reduce_sum(real))
    return total / max(count, 1.0)


def run(ctx: StepContext) -> dict[str, Any]:
    """Evaluates the trained model; see the module docstring for what is written."""
    cfg = ctx.config
    task = get_task(cfg.task)
    out = Path(ctx.output_dir)
    transform_dir = Path(ctx.inputs["transform"])
    manifest = schema.read_manifest(transform_dir)
    splits = [s for s in EVAL_SPLITS if s in manifest.get("splits", {}) and
              manifest["splits"][s].get("count", 1) > 0]
    if BLESS_SPLIT not in splits:
        raise ValueError(f"The transform artifact has no '{BLESS_SPLIT}' split. Received: {splits}")
    model = load_trained_model(ctx.inputs["trainer"])
    all_metrics = task.evaluate(cfg, model, transform_dir, manifest, splits, out)
    for split, values in all_metrics.items():
        logger.info("Metrics on %s: %s", split, {k: v for k, v in values.items() if not isinstance(v, (dict, list))})

    (out / METRICS_FILE).write_text(json.dumps(all_metrics, indent=2))
    metric = cfg.eval.bless_metric
    if metric == "auto":
        metric = task.default_bless_metric(all_metrics[BLESS_SPLIT])
    if metric not in all_metrics[BLESS_SPLIT] or not isinstance(all_metrics[BLESS_SPLIT][metric], (int, float)):
        scalars = sorted(k for k, v in all_metrics[BLESS_SPLIT].items() if isinstance(v, (int, float)))
        raise ValueError(f"eval.bless_metric must be one of {['auto'] + scalars} for task={cfg.task!r}. "
                         f"Received: eval.bless_metric={cfg.eval.bless_metric!r}")
    value = all_metrics[BLESS_SPLIT][metric]
    blessed = metrics_lib.is_blessed(metric, value, cfg.eval.bless_threshold)
    blessing = {"blessed": bool(blessed), "metric": metric, "value": value,
                "threshold": cfg.eval.bless_threshold, "split": BLESS_SPLIT}
    (out / BLESSING_FILE).write_text(json.dumps(blessing, indent=2))
    logger.info("Blessing: %s", blessing)
    scalars = {split: {k: v for k, v in values.items() if isinstance(v, (int, float))}  # per-class tables stay
               for split, values in all_metrics.items()}  # in metrics.json; summary.json gets the numbers
    return {"metrics": scalars, "blessed": bool(blessed)}


def evaluate_translation(cfg, model, transform_dir: Path, manifest, splits, out: Path, strategy, task):
    """Decodes each split with `strategy`, scores it, plots the first attention maps: {split: metrics}."""
    from serving.text_processor import TextProcessor, TokenizerSpec, normalize

    spec = TokenizerSpec.from_dict(manifest["tokenizer"])
    target_processor = TextProcessor.from_manifest(transform_dir, "target")
    decode_fn = make_decode_fn(model, target_processor, cfg.eval.max_decode_length, strategy)
    source_vocab = schema.read_vocab_file(transform_dir / manifest["vocab"]["source"]["file"])
    target_vocab = schema.read_vocab_file(transform_dir / manifest["vocab"]["target"]["file"])

    all_metrics: dict[str, dict[str, float]] = {}
    for split in splits:
        keep = cfg.eval.num_attention_plots if split == BLESS_SPLIT else 0
        result = decode_split(transform_dir, task, split, decode_fn, lambda t: normalize(t, spec),
                              cfg.eval.batch_size, keep_alignments=keep)
        all_metrics[split] = metrics_lib.compute_metrics(
            result["predictions"], result["references"], tokenizer=spec.kind,
            raw_references=result["raw_references"])
        nats = teacher_forced_nats(model, transform_dir, task, split, cfg.eval.batch_size)
        all_metrics[split].update(nats_per_token=nats, perplexity=math.exp(nats))  # teacher-forced
        write_tsv(out / f"predictions_{split}.tsv", ["source", "reference", "prediction"],
                  zip(result["sources"], result["references"], result["predictions"]))
        if result["alignments"]:
            (out / "attention").mkdir(exist_ok=True)
        for i, (source_ids, tokens, weights) in enumerate(result["alignments"]):
            plot_attention(
                weights,
                _tokens(source_ids, source_vocab, stop_at_end=False),
                _tokens(tokens, target_vocab, stop_at_end=True),
                out / "attention" / f"{split}_{i}.png",
                title=f"{result['sources'][i]} -> {result['predictions'][i]}",
            )

    return all_metrics

"""Evaluation of classifiers and taggers (called by their tasks, components/tasks/).

Runs the trained model over the encoded eval/test splits (in a tf.function),
maps ids back to names through the manifest's label/tag lists and scores them
against the raw gold strings:

    classification   accuracy, macro-F1, per-class P/R/F1, confusion matrix (+ PNG)
                     predictions_<split>.tsv: text, label, prediction
    tagging          token accuracy; entity P/R/F1 overall and per type when the tags are BIO-like
                     predictions_<split>.tsv: one sentence per line, token/gold/predicted triples

A gold label unseen in train (`label_id` -1) is kept as its own name and
always counts as an error.

Example:

>>> metrics = evaluate_classification_split(model, task, transform_dir, manifest, cfg, "eval", out_dir, True)  # doctest: +SKIP
>>> metrics["accuracy"]  # doctest: +SKIP
0.91
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from serving import schema
from components.evaluator.classification_metrics import compute_classification_metrics
from components.evaluator.plots import plot_confusion_matrix
from components.evaluator.tagging_metrics import compute_tagging_metrics
from components.trainer.task_input import char_ids_fn_for, make_task_dataset

logger = logging.getLogger(__name__)

def _strings(values) -> list:
    return [v.decode("utf-8") for v in values]


def _batches(transform_dir: Path, task, config, manifest: dict[str, Any], split: str):
    return make_task_dataset(transform_dir, task, split, config.eval.batch_size,
                             bucket_boundaries=config.train.bucket_boundaries,
                             char_ids_fn=char_ids_fn_for(task.uses_char_ids(config), manifest), with_raw=True)


def predict_classification(model: keras.Model, task, transform_dir: Path, config, manifest, split: str):
    """(texts, gold labels, predicted labels) of one split."""
    labels = np.array(manifest["labels"], dtype=object)
    logits_fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    texts, gold, pred = [], [], []
    for batch in _batches(transform_dir, task, config, manifest, split):
        x, _ = task.model_inputs(batch)
        ids = np.argmax(logits_fn(x).numpy(), axis=-1)  # (batch,)
        texts += _strings(batch[schema.RAW_TEXT].numpy())
        gold += _strings(batch[schema.RAW_LABEL].numpy())
        pred += labels[ids].tolist()
    return texts, gold, pred


def predict_tagging(model: keras.Model, task, transform_dir: Path, config, manifest, split: str):
    """(token lists, gold tag lists, predicted tag lists) of one split."""
    tags = np.array(manifest["tags"], dtype=object)
    tags_fn = tf.function(model.predict_tags, reduce_retracing=True)
    tokens, gold, pred = [], [], []
    for batch in _batches(transform_dir, task, config, manifest, split):
        x, _ = task.model_inputs(batch)
        predicted = tags_fn(x).numpy()  # (batch, T)
        lengths = np.sum(batch[schema.TOKEN_IDS].numpy() != schema.PAD_ID, axis=1)
        for row, n in enumerate(lengths):
            tokens.append(_strings(batch[schema.RAW_TOKENS][row, :n].numpy()))
            gold.append(_strings(batch[schema.RAW_TAGS][row, :n].numpy()))
            pred.append(tags[predicted[row, :n]].tolist())
    return tokens, gold, pred


def _write_rows(path: Path, header: list[str], rows) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter="\t", lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def evaluate_classification_split(model: keras.Model, task, transform_dir: Path, manifest: dict[str, Any], config,
                                  split: str, out: Path, plots: bool) -> dict[str, Any]:
    """Metrics of one split of a classifier; writes its predictions TSV (and the confusion matrix PNG with `plots`)."""
    texts, gold, pred = predict_classification(model, task, transform_dir, config, manifest, split)
    unseen = sorted(set(gold) - set(manifest["labels"]))
    metrics = compute_classification_metrics(gold, pred, labels=list(manifest["labels"]) + unseen)
    _write_rows(out / f"predictions_{split}.tsv", ["text", "label", "prediction"], zip(texts, gold, pred))
    if plots:
        plot_confusion_matrix(np.array(metrics["confusion_matrix"]), metrics["labels"],
                              out / f"confusion_matrix_{split}.png", title=f"{config.name}: {split}")
    return metrics


def evaluate_tagging_split(model: keras.Model, task, transform_dir: Path, manifest: dict[str, Any], config,
                           split: str, out: Path) -> dict[str, Any]:
    """Metrics of one split of a tagger; writes its predictions TSV (token/gold/predicted triples)."""
    tokens, gold, pred = predict_tagging(model, task, transform_dir, config, manifest, split)
    metrics = compute_tagging_metrics(gold, pred)
    rows = ([" ".join(f"{t}/{g}/{p}" for t, g, p in zip(*sentence))] for sentence in zip(tokens, gold, pred))
    _write_rows(out / f"predictions_{split}.tsv", ["token/gold/predicted"], rows)
    return metrics

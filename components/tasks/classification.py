"""Classification: a text -> one label (pooled sequence states, softmax over the labels seen in train).

Example:

>>> ClassificationTask().bless_metrics
('accuracy', 'macro_f1')
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from components.tasks.base import Task
from components.tasks.fields import LabelField, TextField
from serving import schema


class ClassificationTask(Task):
    name = "classification"
    raw_features = (schema.RAW_TEXT, schema.RAW_LABEL)
    text_fields = (TextField(schema.RAW_TEXT, schema.TOKEN_IDS, "max_source_length"),)
    label_fields = (LabelField(schema.RAW_LABEL, schema.LABEL_ID, "labels", schema.UNSEEN_LABEL_ID),)
    encoded_features = {
        schema.TOKEN_IDS: "int64 list: text token ids, truncated to max_source_length",
        schema.LABEL_ID: f"int64: index into vocab/labels.txt; {schema.UNSEEN_LABEL_ID} for a label unseen in train",
        schema.RAW_TEXT: "bytes: the raw text as example_gen wrote it",
        schema.RAW_LABEL: "bytes: the raw label as example_gen wrote it",
    }
    families = ("rnn_classifier", "transformer_classifier")
    bless_metrics = ("accuracy", "macro_f1")
    distribution_feature = schema.RAW_LABEL
    input_ids = schema.TOKEN_IDS

    def prepare_examples(self, ds, training: bool):
        """Training drops examples whose label was unseen in train (label id -1)."""
        return ds.filter(lambda ex: ex[schema.LABEL_ID] >= 0) if training else ds

    def model_inputs(self, batch):
        import tensorflow as tf

        return tf.cast(batch[schema.TOKEN_IDS], tf.int32), batch[schema.LABEL_ID]

    def compile_args(self, cfg) -> dict[str, Any]:
        import keras

        return {
            "loss": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            "metrics": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        }

    def evaluate(self, cfg, model, transform_dir: Path, manifest: Mapping[str, Any], splits: Sequence[str],
                 out: Path) -> dict[str, dict[str, Any]]:
        """Accuracy, macro-F1, per-class P/R/F1 and the confusion matrix (and its PNG for eval); writes
        predictions_<split>.tsv (text, label, prediction). A gold label unseen in train keeps its own name
        and always counts as an error."""
        import numpy as np
        import tensorflow as tf

        from components.evaluator.classification_metrics import compute_classification_metrics
        from components.evaluator.evaluate import eval_batches, strings, write_tsv
        from components.plots import plot_confusion_matrix

        labels = np.array(manifest["labels"], dtype=object)
        logits_fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        all_metrics = {}
        for split in splits:
            texts, gold, pred = [], [], []
            for batch in eval_batches(transform_dir, self, cfg, manifest, split):
                x, _ = self.model_inputs(batch)
                ids = np.argmax(logits_fn(x).numpy(), axis=-1)  # (batch,)
                texts += strings(batch[schema.RAW_TEXT])
                gold += strings(batch[schema.RAW_LABEL])
                pred += labels[ids].tolist()
            unseen = sorted(set(gold) - set(manifest["labels"]))
            metrics = compute_classification_metrics(gold, pred, labels=list(manifest["labels"]) + unseen)
            write_tsv(out / f"predictions_{split}.tsv", ["text", "label", "prediction"], zip(texts, gold, pred))
            if split == "eval":
                plot_confusion_matrix(np.array(metrics["confusion_matrix"]), metrics["labels"],
                                      out / f"confusion_matrix_{split}.png", title=f"{cfg.name}: {split}")
            all_metrics[split] = metrics
        return all_metrics

    def export(self, cfg, model, transform_dir: Path, export_dir: Path, model_name: str = "") -> Path:
        from serving.export import export_classifier

        return export_classifier(model, transform_dir, export_dir, model_name=model_name)

    # ---- example_gen ----
    def source_fields(self, data) -> tuple[str, ...]:
        return (data.text_field, data.label_field)

    def make_record(self, values):
        """A non-empty text and a non-empty label."""
        from components.example_gen import common

        record, reason = super().make_record(values)
        if record is not None and not record[schema.RAW_LABEL].strip():
            return None, common.MISSING_LABEL
        return record, reason

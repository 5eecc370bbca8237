"""Translation: a source string -> a target string (encoder-decoder, teacher forcing, decoded by `eval.decode`).

Example:

>>> TranslationTask().families
('rnn_attention', 'transformer_seq2seq')
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from components.tasks.base import Task
from components.tasks.fields import TextField
from serving import schema


class TranslationTask(Task):
    name = "translation"
    raw_features = (schema.RAW_SOURCE, schema.RAW_TARGET)
    text_fields = (
        TextField(schema.RAW_SOURCE, schema.SOURCE_IDS, "max_source_length"),
        TextField(schema.RAW_TARGET, schema.TARGET_IDS, "max_target_length", append_end=True),
    )
    encoded_features = {
        schema.SOURCE_IDS: "int64 list: source token ids, truncated to max_source_length, no [START]/[END]",
        schema.TARGET_IDS: "int64 list: target token ids (at most max_target_length - 1) followed by [END]",
        schema.RAW_SOURCE: "bytes: the raw source string as example_gen wrote it",
        schema.RAW_TARGET: "bytes: the raw target string as example_gen wrote it",
    }
    families = ("rnn_attention", "transformer_seq2seq")
    bless_metrics = ("exact_match", "cer", "bleu", "chrf")
    decoding = "beam"
    label_smoothing = True
    input_ids = schema.SOURCE_IDS

    def model_inputs(self, batch):
        from components.trainer.task_input import teacher_forcing

        return teacher_forcing(batch[schema.SOURCE_IDS], batch[schema.TARGET_IDS])

    def dummy_inputs(self, cfg):
        from keras import ops

        ids = ops.ones((1, 2), dtype="int32")
        return (ids, ids)

    def compile_args(self, cfg) -> dict[str, Any]:
        from components.trainer.model_builder import make_loss
        from models.metrics import MaskedAccuracy, SmoothedSparseCrossEntropy

        smoothing = cfg.train.label_smoothing
        return {"loss": SmoothedSparseCrossEntropy(smoothing) if smoothing else make_loss(), "metrics": [MaskedAccuracy()]}

    def evaluate(self, cfg, model, transform_dir: Path, manifest: Mapping[str, Any], splits: Sequence[str],
                 out: Path) -> dict[str, dict[str, Any]]:
        from components.evaluator.evaluate import evaluate_translation

        return evaluate_translation(cfg, model, transform_dir, manifest, splits, out,
                                    self.decode_strategy(cfg.eval.decode), self)

    def export(self, cfg, model, transform_dir: Path, export_dir: Path, model_name: str = "") -> Path:
        from serving.export import export_translation

        return export_translation(model, transform_dir, export_dir, cfg.eval.max_decode_length,
                                  self.decode_strategy(cfg.push.decode), model_name=model_name)

    # ---- example_gen ----
    formats = ("parallel", "tsv", "csv", "jsonl")

    def source_fields(self, data) -> tuple[str, ...]:
        return (data.source_field, data.target_field)

    def make_record(self, values):
        """Both sides must be non-empty ("empty source" / "empty target", the TSV reader's reasons)."""
        from components.example_gen import tabular

        texts = [tabular.as_text(v) for v in values]
        for name, text in zip(self.raw_features, texts):
            if not text.strip():
                return None, f"empty {name}"
        return dict(zip(self.raw_features, texts)), None

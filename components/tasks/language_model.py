"""Language modelling: one stream of text, next-token prediction (windows or carried states), generation.

Example:

>>> LanguageModelTask().decoding
'sampling'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from components.config import ConfigError
from components.tasks.base import Task, Training
from components.tasks.fields import TextField
from serving import schema


class LanguageModelTask(Task):
    name = "language_model"
    raw_features = (schema.RAW_TEXT,)
    text_fields = (TextField(schema.RAW_TEXT, schema.TOKEN_IDS),)
    encoded_features = {
        schema.TOKEN_IDS: "int64 list: token ids of the whole text, not truncated (the trainer windows it)",
        schema.RAW_TEXT: "bytes: the raw text as example_gen wrote it",
    }
    families = ("rnn_language_model", "transformer_language_model")
    bless_metrics = ("nats_per_token", "perplexity")  # lower is better: bless_threshold is a ceiling
    decoding = "sampling"
    input_ids = schema.TOKEN_IDS

    def check_config(self, cfg) -> None:
        if cfg.train.lm_input == "stateful" and not cfg.model.family.startswith("rnn"):
            raise ConfigError(
                f"train.lm_input='stateful' carries recurrent states; model.family={cfg.model.family!r} has none. "
                "Use train.lm_input='windows'")
        if cfg.train.monitor != "val_loss":
            raise ConfigError(
                "A language model is monitored by its loss (nats per token; perplexity = exp(loss)): set "
                f"train.monitor='val_loss'. Received: train.monitor={cfg.train.monitor!r}")

    def compile_args(self, cfg) -> dict[str, Any]:
        """Cross-entropy per token (nats) ignoring [PAD], no per-batch metric: the trainer logs perplexity =
        exp(loss) per epoch (`EpochPerplexity`). A token-accuracy metric runs beside the backward pass and cost
        11 % of a char-GRU 1024 step on 2 cores."""
        from components.trainer.model_builder import make_loss

        return {"loss": make_loss()}

    def training(self, cfg, transform_dir: Path, manifest: Mapping[str, Any]) -> Training:
        from components.trainer.train import make_lm_training

        return Training(*make_lm_training(cfg, transform_dir, manifest))

    def training_outputs(self, cfg, steps_per_second: float | None) -> dict[str, Any]:
        if not steps_per_second:
            return {}
        return {"train_tokens_per_second": steps_per_second * cfg.train.batch_size * cfg.train.sequence_length}

    def evaluate(self, cfg, model, transform_dir: Path, manifest: Mapping[str, Any], splits: Sequence[str],
                 out: Path) -> dict[str, dict[str, Any]]:
        from components.evaluator.evaluate_lm import evaluate_language_model

        return evaluate_language_model(model, transform_dir, manifest, cfg, splits, out)

    def export(self, cfg, model, transform_dir: Path, export_dir: Path, model_name: str = "") -> Path:
        from serving.lm_export import export_language_model

        return export_language_model(model, transform_dir, export_dir, cfg.push.max_new_tokens,
                                     self.decode_settings(cfg.push.decode), model_name=model_name)

    # ---- example_gen ----
    formats = ("text", "tsv", "csv", "jsonl")
    size_key = "characters"

    def record_size(self, record) -> int:
        return len(record[schema.RAW_TEXT])

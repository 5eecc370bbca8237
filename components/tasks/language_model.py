"""Language modelling: one stream of text, next-token prediction (windows or carried states), generation.

Example:

>>> LanguageModelTask().decoding
'sampling'
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

from components.config import ConfigError
from components.tasks.base import Task, Training
from components.tasks.fields import TextField
from serving import schema

logger = logging.getLogger(__name__)


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
    monitors = ("val_loss",)  # nats per token (perplexity = exp(loss)); its accuracy is no model-selection figure
    input_ids = schema.TOKEN_IDS

    def check_config(self, cfg) -> None:
        if cfg.train.lm_input == "stateful" and not cfg.model.family.startswith("rnn"):
            raise ConfigError(
                f"train.lm_input='stateful' carries recurrent states; model.family={cfg.model.family!r} has none. "
                "Use train.lm_input='windows'")
        if cfg.train.lm_input == "stateful" and cfg.train.strategy in ("mirrored", "multi_worker"):
            # Row i of batch k+1 continues row i of batch k, and the carried states are variables of
            # (train.batch_size, units); a strategy splits each global batch over replicas (and shards the
            # batches over workers), so no replica would see its rows' previous chunk.
            raise ConfigError(
                f"train.lm_input='stateful' carries each batch row's recurrent state into the same row of the next "
                f"batch, in states sized by the global batch; train.strategy={cfg.train.strategy!r} splits every "
                "batch over replicas (and workers), which breaks that continuity. Received: "
                f"train.strategy={cfg.train.strategy!r}, train.lm_input='stateful'. Use train.lm_input='windows' "
                "to train on several devices, or train.strategy='default'")

    def compile_args(self, cfg) -> dict[str, Any]:
        """Cross-entropy per token (nats) ignoring [PAD], no per-batch metric: the trainer logs perplexity =
        exp(loss) per epoch (`EpochPerplexity`). A token-accuracy metric runs beside the backward pass and cost
        11 % of a char-GRU 1024 step on 2 cores."""
        from components.trainer.model_builder import make_loss

        return {"loss": make_loss()}

    def training(self, cfg, transform_dir: Path, manifest: Mapping[str, Any]) -> Training:
        """`train.lm_input`: "windows" fits the model itself (`lm_input.windows_dataset`); "stateful" fits a
        `StatefulLanguageModel` around it (states carried between batches) and saves the plain model inside."""
        from keras import ops

        from components.trainer import lm_input
        from components.trainer.model_builder import build_model_for, compile_model
        from components.trainer.stateful import ResetStates, StatefulLanguageModel
        from components.trainer.train import EpochPerplexity

        t = cfg.train
        train_stream = lm_input.read_stream(transform_dir, "train")
        eval_stream = lm_input.read_stream(transform_dir, "eval")
        logger.info("Language-model streams: train %d tokens, eval %d tokens; input %s, length %d",
                    len(train_stream), len(eval_stream), t.lm_input, t.sequence_length)
        lm = build_model_for(cfg, manifest)
        if t.lm_input == "stateful":
            rows = lm_input.carried_rows(len(eval_stream), t.sequence_length, t.batch_size)
            wrapper = StatefulLanguageModel(lm, t.batch_size, rows, name="stateful_lm")
            wrapper(ops.ones((t.batch_size, t.sequence_length), dtype="int32"), training=True)  # its state vars
            return Training(compile_model(wrapper, cfg), lm,
                            lm_input.stateful_dataset(train_stream, t.sequence_length, t.batch_size),
                            lm_input.stateful_dataset(eval_stream, t.sequence_length, rows),
                            [ResetStates(), EpochPerplexity()])
        train_ds = lm_input.windows_dataset(train_stream, t.sequence_length, t.batch_size, t.stride,
                                            training=True, seed=t.seed)
        eval_ds = lm_input.windows_dataset(eval_stream, t.sequence_length, t.batch_size)
        return Training(compile_model(lm, cfg), lm, train_ds, eval_ds, [EpochPerplexity()])

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

"""Tagging: one tag per pre-tokenized word (softmax or CRF output; entity F1 when the tags are BIO-like).

Example:

>>> TaggingTask().input_ids
'token_ids'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from components.config import ConfigError
from components.tasks.base import Task
from components.tasks.fields import LabelField, TextField
from serving import schema


class TaggingTask(Task):
    name = "tagging"
    raw_features = (schema.RAW_TOKENS, schema.RAW_TAGS)
    text_fields = (TextField(schema.RAW_TOKENS, schema.TOKEN_IDS, pretokenized=True),)
    label_fields = (LabelField(schema.RAW_TAGS, schema.TAG_IDS, "tags", schema.UNK_ID, is_list=True),)
    encoded_features = {
        schema.TOKEN_IDS: "int64 list: one id per word (each word normalized, never split)",
        schema.TAG_IDS: "int64 list: one per word, index into vocab/tags.txt ([PAD]=0, [UNK]=1 for unseen tags)",
        schema.RAW_TOKENS: "bytes list: the raw words as example_gen wrote them",
        schema.RAW_TAGS: "bytes list: the raw tags as example_gen wrote them",
    }
    families = ("rnn_tagger", "transformer_tagger")
    bless_metrics = ("token_accuracy", "entity_f1", "entity_precision", "entity_recall")
    distribution_feature = schema.RAW_TAGS
    input_ids = schema.TOKEN_IDS
    monitors = (*Task.monitors, "val_entity_f1")

    def check_config(self, cfg) -> None:
        if cfg.transform.tokenizer != "word":
            raise ConfigError(
                "tagging keeps one token per pre-tokenized word, so it needs transform.tokenizer=word. "
                f"Received: transform.tokenizer={cfg.transform.tokenizer!r}")
        if cfg.model.char_encoder == "bilstm" and cfg.model.char_filters % 2:
            raise ConfigError(
                "model.char_filters is the character BiLSTM's output, two directions of model.char_filters // 2 "
                f"units, so it must be even with model.char_encoder='bilstm'. Received: model.char_filters="
                f"{cfg.model.char_filters}; use {cfg.model.char_filters - 1} or {cfg.model.char_filters + 1}")

    def prepare_examples(self, ds, training: bool):
        """Sentences are cut at `schema.MAX_TAGGING_LENGTH` words (the Transformer tagger's position table)."""
        return ds.map(lambda ex: {k: v[:schema.MAX_TAGGING_LENGTH] if v.shape.rank == 1 else v for k, v in ex.items()})

    def model_inputs(self, batch):
        import tensorflow as tf

        token_ids = tf.cast(batch[schema.TOKEN_IDS], tf.int32)
        x = (token_ids, batch["char_ids"]) if "char_ids" in batch else token_ids
        return x, tf.cast(batch[schema.TAG_IDS], tf.int32)

    def uses_char_ids(self, cfg) -> bool:
        return cfg.model.char_filters > 0

    def dummy_inputs(self, cfg):
        from keras import ops

        from serving.text_processor import MAX_WORD_CHARS

        ids = ops.ones((1, 2), dtype="int32")
        return (ids, ops.ones((1, 2, MAX_WORD_CHARS), dtype="int32")) if self.uses_char_ids(cfg) else ids

    def compile_args(self, cfg) -> dict[str, Any]:
        """The model's own loss (softmax CE or CRF NLL per real token); MaskedAccuracy of the argmax of the
        scores (for a CRF these are the emissions, not Viterbi)."""
        from models.metrics import MaskedAccuracy

        return {"loss": None, "metrics": [MaskedAccuracy()]}  # the taggers' compute_loss supplies the loss

    def training(self, cfg, transform_dir: Path, manifest: Mapping[str, Any]):
        """The default training, plus the dev entity F1 of every epoch when `train.monitor=val_entity_f1`."""
        import dataclasses

        if cfg.train.monitor != "val_entity_f1":
            return super().training(cfg, transform_dir, manifest)
        from components.evaluator.tagging_metrics import looks_like_bio

        if not looks_like_bio([manifest["tags"]]):  # the tags are known once the transform has run
            raise ConfigError(
                "train.monitor='val_entity_f1' needs BIO-style tags (O, B-X, I-X, ...); this data's tags are "
                f"{manifest['tags'][2:8]}... Allowed here: ['val_loss', 'val_accuracy']")
        training = super().training(cfg, transform_dir, manifest)
        monitor = entity_f1_monitor(training.model, training.eval, manifest["tags"])
        return dataclasses.replace(training, callbacks=[*training.callbacks, monitor])

    def default_bless_metric(self, metrics: Mapping[str, Any]) -> str:
        """Entity F1 when the tags are BIO-like (the evaluator reports it), else token accuracy."""
        return "entity_f1" if "entity_f1" in metrics else "token_accuracy"

    def evaluate(self, cfg, model, transform_dir: Path, manifest: Mapping[str, Any], splits: Sequence[str],
                 out: Path) -> dict[str, dict[str, Any]]:
        """Token accuracy (overall, on in-vocabulary and on [UNK] words, and of each part of joint CoNLL-U tags),
        and entity P/R/F1 overall and per type when the tags are BIO-like; writes predictions_<split>.tsv, one
        sentence a line as token/gold/predicted triples."""
        import numpy as np
        import tensorflow as tf

        from components.evaluator.evaluate import eval_batches, strings, write_tsv
        from components.evaluator.tagging_metrics import compute_tagging_metrics
        from components.example_gen.conllu import JOINT_TAG_SEPARATOR

        tags = np.array(manifest["tags"], dtype=object)
        joint_parts = _joint_tag_parts(cfg.data)
        tags_fn = tf.function(model.predict_tags, reduce_retracing=True)
        all_metrics = {}
        for split in splits:
            tokens, gold, pred, unknown = [], [], [], []
            for batch in eval_batches(transform_dir, self, cfg, manifest, split):
                x, _ = self.model_inputs(batch)
                predicted = tags_fn(x).numpy()  # (batch, T)
                token_ids = batch[schema.TOKEN_IDS].numpy()
                lengths = np.sum(token_ids != schema.PAD_ID, axis=1)
                for row, n in enumerate(lengths):
                    unknown.append((token_ids[row, :n] == schema.UNK_ID).tolist())
                    tokens.append(strings(batch[schema.RAW_TOKENS][row, :n]))
                    gold.append(strings(batch[schema.RAW_TAGS][row, :n]))
                    pred.append(tags[predicted[row, :n]].tolist())
            all_metrics[split] = compute_tagging_metrics(gold, pred, unknown=unknown, joint_parts=joint_parts,
                                                         separator=JOINT_TAG_SEPARATOR)
            rows = ([" ".join(f"{t}/{g}/{p}" for t, g, p in zip(*sentence))] for sentence in zip(tokens, gold, pred))
            write_tsv(out / f"predictions_{split}.tsv", ["token/gold/predicted"], rows)
        return all_metrics

    def export(self, cfg, model, transform_dir: Path, export_dir: Path, model_name: str = "") -> Path:
        from serving.export import export_tagger

        return export_tagger(model, transform_dir, export_dir, char_ids=self.uses_char_ids(cfg),
                             model_name=model_name)

    # ---- example_gen ----
    formats = ("conll", "conllu", "tsv", "csv", "jsonl")
    list_values = True
    size_key = "tokens"

    def source_fields(self, data) -> tuple[str, ...]:
        return (data.text_field, data.label_field)  # tokens, tags

    def make_record(self, values):
        """Words and tags (JSON lists, or strings split on whitespace), one tag per word."""
        from components.example_gen import common, tabular

        tokens, tags = tabular.as_list(values[0]), tabular.as_list(values[1])
        if not tokens:
            return None, common.EMPTY_TEXT
        if len(tokens) != len(tags):
            return None, common.TAG_MISMATCH
        return {schema.RAW_TOKENS: tokens, schema.RAW_TAGS: tags}, None

    def record_size(self, record) -> int:
        return len(record[schema.RAW_TOKENS])


def entity_f1_monitor(model, eval_ds, tags: Sequence[str]):
    """A Keras callback that puts the entity F1 of `model.predict_tags` (Viterbi for a CRF) on `eval_ds`
    into the epoch's logs as `val_entity_f1`, for early stopping and the kept weights.

    The validation loss is a poor proxy for it: on CoNLL-2003 the CRF's dev loss is lowest around epoch 8
    while dev F1 still rises for several epochs (the loss punishes confident mistakes, F1 counts entities).
    """
    import keras
    import numpy as np
    import tensorflow as tf

    from components.evaluator.tagging_metrics import compute_tagging_metrics

    names = np.array(tags, dtype=object)
    predict = tf.function(model.predict_tags, reduce_retracing=True)

    class EntityF1(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            gold, pred = [], []
            for x, y in eval_ds:
                y, predicted = y.numpy(), predict(x).numpy()  # (batch, T) tag ids, 0 at padding
                for row in range(len(y)):
                    real = y[row] != schema.PAD_ID
                    gold.append(names[y[row][real]].tolist())
                    pred.append(names[predicted[row][real]].tolist())
            metrics = compute_tagging_metrics(gold, pred, entity_level=True)
            if logs is not None:
                logs["val_entity_f1"] = metrics["entity_f1"]

    return EntityF1()


def _joint_tag_parts(data) -> list[str]:
    """The parts of joint tags (`data.conllu_tag` "upos+xpos": ["upos", "xpos"]) when the training and eval
    sources are all CoNLL-U files, else [] (no other reader writes joint tags)."""
    import dataclasses

    from components.example_gen.conllu import tag_columns
    from components.example_gen.sources import file_format, is_file_source

    parts = tag_columns(data.conllu_tag)
    sources = [s for s in (data.source, data.eval_source) if s]
    if len(parts) < 2 or not all(is_file_source(s) for s in sources):
        return []
    if any(file_format(dataclasses.replace(data, source=s), "tagging") != "conllu" for s in sources):
        return []
    return parts

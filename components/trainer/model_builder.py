"""config.model + the transform manifest -> a built, compiled Keras model of the configured family.

Each family reads the `ModelConfig` keys that apply to it (`model_kwargs`): exactly
those `pipeline.config.FAMILY_KEYS` lists, the keys a config may set for that family
(tests/components/test_model_builder_keys.py checks it). Vocabulary, label and tag sizes
come from the manifest, so a model always fits the artifact it trains on. The task gives the dummy
inputs that build the variables and the loss and metrics (`Task.compile_args`, components/tasks/).

Example:

>>> model = build_compiled_model(load_config(["temporal_order"]), manifest)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import keras

from components.registry import get_task, model_family
from serving import schema
from serving.text_processor import CHAR_VOCAB_SIZE


def _vocab_size(manifest: dict[str, Any], name: str) -> int:
    return int(manifest["vocab"][name]["size"])


def model_kwargs(config, manifest: dict[str, Any]) -> dict[str, Any]:
    """Constructor arguments of `config.model.family` for this manifest."""
    m = config.model
    family = model_family(config)
    if family == "rnn_attention":
        return dict(
            source_vocab_size=_vocab_size(manifest, "source"), target_vocab_size=_vocab_size(manifest, "target"),
            embed_dim=m.embed_dim, units=m.units, cell=m.cell, encoder_layers=m.encoder_layers,
            bidirectional=m.bidirectional, attention_units=m.attention_units, dropout=m.dropout,
            attention=m.attention,
        )
    if family == "transformer_seq2seq":
        return dict(
            source_vocab_size=_vocab_size(manifest, "source"), target_vocab_size=_vocab_size(manifest, "target"),
            embed_dim=m.embed_dim, num_heads=m.num_heads, ff_dim=m.ff_dim, encoder_layers=m.encoder_layers,
            decoder_layers=m.decoder_layers, max_length=m.max_length, positions=m.positions, dropout=m.dropout,
            share_embeddings=m.share_embeddings, tie_output=m.tie_output,
        )
    if family == "rnn_classifier":
        pooling = m.pooling if m.pooling != "auto" else ("bidirectional_last" if m.bidirectional else "last")
        return dict(
            vocab_size=_vocab_size(manifest, "text"), num_classes=len(manifest["labels"]),
            embed_dim=m.embed_dim, units=m.units, cell=m.cell, num_layers=m.encoder_layers,
            bidirectional=m.bidirectional, pooling=pooling, dropout=m.dropout, attention_units=m.attention_units,
        )
    if family == "transformer_classifier":
        vocab = _vocab_size(manifest, "text")
        return dict(  # [CLS] is an extra embedding row owned by the model, prepended in call()
            vocab_size=vocab + 1, num_classes=len(manifest["labels"]), embed_dim=m.embed_dim,
            num_heads=m.num_heads, ff_dim=m.ff_dim, num_layers=m.encoder_layers,
            max_length=int(manifest["max_source_length"]) + 1, positions=m.positions,
            pooling="cls" if m.pooling == "auto" else m.pooling, dropout=m.dropout, cls_id=vocab, add_cls=True,
        )
    if family in ("rnn_tagger", "transformer_tagger"):
        tags = list(manifest["tags"])
        common = dict(
            vocab_size=_vocab_size(manifest, "tokens"), num_tags=len(tags), embed_dim=m.embed_dim,
            dropout=m.dropout, output=m.output, tag_names=tags, bio_constraints=m.bio_constraints,
            char_vocab_size=CHAR_VOCAB_SIZE if m.char_filters > 0 else 0,
            char_embed_dim=m.char_embed_dim, char_filters=max(m.char_filters, 1), word_dropout=m.word_dropout,
            char_encoder=m.char_encoder,
        )
        if family == "rnn_tagger":
            return dict(common, units=m.units, cell=m.cell, num_layers=m.encoder_layers, bidirectional=m.bidirectional)
        return dict(common, num_heads=m.num_heads, ff_dim=m.ff_dim, num_layers=m.encoder_layers,
                    max_length=schema.MAX_TAGGING_LENGTH, positions=m.positions)
    if family == "rnn_language_model":
        return dict(vocab_size=_vocab_size(manifest, "text"), embed_dim=m.embed_dim, units=m.units, cell=m.cell,
                    num_layers=m.encoder_layers, dropout=m.dropout)
    if family == "transformer_language_model":
        return dict(vocab_size=_vocab_size(manifest, "text"), embed_dim=m.embed_dim, num_heads=m.num_heads,
                    ff_dim=m.ff_dim, num_layers=m.encoder_layers, max_length=m.max_length,
                    positions=m.positions, dropout=m.dropout)
    raise ValueError(f"No model builder for model.family={family!r}")


def make_loss() -> keras.losses.Loss:
    """Cross-entropy on logits where [PAD] targets contribute nothing."""
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=schema.PAD_ID)


def build_model_for(config, manifest: dict[str, Any]) -> keras.Model:
    """The registry model for `config.model`, built (not compiled)."""
    from models.registry import build_model

    model = build_model(model_family(config), **model_kwargs(config, manifest))
    model(get_task(config.task).dummy_inputs(config))  # BackupAndRestore needs the variables to restore into
    return model


def compile_model(model: keras.Model, config) -> keras.Model:
    """Adam with `train.learning_rate` (warmed up and decayed by `InverseSqrtSchedule` when `train.warmup_steps`
    > 0) and gradient clipping by norm (`train.clipnorm`), task loss/metrics."""
    from models.schedules import InverseSqrtSchedule

    rate = config.train.learning_rate
    if config.train.warmup_steps:
        rate = InverseSqrtSchedule(rate, config.train.warmup_steps)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=rate, clipnorm=config.train.clipnorm),
        **get_task(config.task).compile_args(config),
    )
    return model


def build_compiled_model(config, manifest: dict[str, Any]) -> keras.Model:
    """The registry model for `config.model`, built and compiled with `config.train`."""
    return compile_model(build_model_for(config, manifest), config)

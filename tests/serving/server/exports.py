"""Tiny, untrained exports of every task family, published as `serving/<model>/<version>` for the server tests.

The server is task-agnostic: what matters is each family's signatures (inputs, outputs, dtypes, shapes),
and those are the real export functions' (serving/export.py, serving/lm_export.py) at tiny sizes.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np

from serving import schema

LETTERS = list("abcdefghijklmnopqrstuvwxyz ")
WORDS = ["march", "3", "1998", "tuesday", ","]
LABELS = ["valid", "invalid"]
TAGS = [schema.PAD, schema.UNK, "O", "B-DAY", "B-MONTH"]
FAMILIES = ("translation", "classification", "tagging", "language_model")


def _vocab(path: Path, tokens: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(t + "\n" for t in tokens), encoding="utf-8")


def _transform(root: Path, task: str) -> Path:
    """A transform artifact with just what the exports read: manifest.json and vocabularies."""
    reserved = list(schema.RESERVED_TOKENS)
    char = {"kind": "char", "lowercase": True, "normalization": "NFKC"}
    if task == "translation":
        sides = {"source": reserved + LETTERS, "target": reserved + LETTERS}
        tokenizer = char
    elif task == "tagging":
        sides = {"tokens": reserved + WORDS}
        tokenizer = {"kind": "word", "lowercase": True, "normalization": "NFKC"}
    else:
        sides = {"text": reserved + LETTERS}
        tokenizer = char
    manifest: dict = {"task": task, "tokenizer": tokenizer, "reserved": dict(schema.RESERVED_IDS), "vocab": {}}
    for side, tokens in sides.items():
        _vocab(root / "vocab" / f"{side}.txt", tokens)
        manifest["vocab"][side] = {"file": f"vocab/{side}.txt", "size": len(tokens), "max_length": 16}
    if task == "classification":
        manifest["labels"] = LABELS
    if task == "tagging":
        manifest["tags"] = TAGS
    (root / schema.MANIFEST).write_text(json.dumps(manifest))
    return root


def export_family(task: str, work: Path, export_dir: Path, model_name: str, seed: int = 0) -> Path:
    """Exports one untrained tiny model of `task` to `export_dir` (with its warmup file)."""
    from models import registry
    from serving import export, lm_export

    keras.utils.set_random_seed(seed)
    transform = _transform(work / f"transform-{task}", task)
    vocab = len(schema.RESERVED_TOKENS) + len(LETTERS)
    if task == "translation":
        from models.decoding import Greedy

        model = registry.build_model("rnn_attention", source_vocab_size=vocab, target_vocab_size=vocab, embed_dim=8,
                                     units=8, cell="gru", encoder_layers=1, bidirectional=False, attention_units=8,
                                     dropout=0.0)
        model((np.array([[4, 5]]), np.array([[2, 4]])))
        return export.export_translation(model, transform, export_dir, 6, Greedy(), model_name=model_name)
    if task == "classification":
        model = registry.build_model("rnn_classifier", vocab_size=vocab, num_classes=len(LABELS), embed_dim=8,
                                     units=8, cell="gru")
        model(np.array([[4, 5]]))
        return export.export_classifier(model, transform, export_dir, model_name=model_name)
    if task == "tagging":
        model = registry.build_model("rnn_tagger", vocab_size=len(schema.RESERVED_TOKENS) + len(WORDS),
                                     num_tags=len(TAGS), embed_dim=8, units=8, cell="gru")
        model(np.array([[4, 5]]))
        return export.export_tagger(model, transform, export_dir, char_ids=False, model_name=model_name)
    model = registry.build_model("rnn_language_model", vocab_size=vocab, embed_dim=8, units=8, cell="gru",
                                 num_layers=1)
    model(np.array([[4, 5]]))
    return lm_export.export_language_model(model, transform, export_dir, max_new_tokens=4, model_name=model_name)

"""Feature names, reserved tokens and their ids: the one place every step imports.

Example:

>>> RESERVED_TOKENS[:4]
('[PAD]', '[UNK]', '[START]', '[END]')
>>> PAD_ID, UNK_ID, START_ID, END_ID
(0, 1, 2, 3)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PAD, UNK, START, END = "[PAD]", "[UNK]", "[START]", "[END]"
RESERVED_TOKENS: tuple[str, ...] = (PAD, UNK, START, END)
PAD_ID, UNK_ID, START_ID, END_ID = 0, 1, 2, 3
RESERVED_IDS: dict[str, int] = {tok: i for i, tok in enumerate(RESERVED_TOKENS)}

SPLITS: tuple[str, ...] = ("train", "eval", "test")

# Raw examples written by example_gen (tf.Example, bytes features). In Python
# a raw record is a dict {feature name: str | list[str]} with the names below
# (each task lists its own: `Task.raw_features`, components/tasks/).
RAW_SOURCE = "source"  # translation: str
RAW_TARGET = "target"  # translation: str
RAW_TEXT = "text"  # classification, language_model: str
RAW_LABEL = "label"  # classification: str
RAW_TOKENS = "tokens"  # tagging: list[str] (pre-tokenized words)
RAW_TAGS = "tags"  # tagging: list[str], one tag per token

LIST_FEATURES: frozenset[str] = frozenset({RAW_TOKENS, RAW_TAGS})  # bytes lists, not scalars

# Encoded examples written by transform (tf.Example). The raw strings are kept
# beside the ids so that the evaluator can report on the original text.
SOURCE_IDS = "source_ids"  # int64 list: source tokens, no [START]/[END]
TARGET_IDS = "target_ids"  # int64 list: target tokens followed by [END]

# File layout inside artifacts.
RECORD_PATTERN = "data-*.tfrecord.gz"  # inside <artifact>/<split>/
DEAD_LETTER_DIR = "dead_letter"
MANIFEST = "manifest.json"
VOCAB_DIR = "vocab"


def split_glob(artifact_dir, split: str) -> str:
    """Glob of the gzip TFRecord shards of one split inside an artifact."""
    return f"{artifact_dir}/{split}/{RECORD_PATTERN}"


def read_manifest(transform_dir) -> dict[str, Any]:
    """The manifest of a transform artifact (vocabularies, splits, tokenizer), as the transform wrote it."""
    path = Path(transform_dir) / MANIFEST
    if not path.exists():
        raise ValueError(f"Transform manifest not found. Received: {path}. Run the transform step first.")
    return json.loads(path.read_text())


def read_vocab_file(path) -> list[str]:
    """The tokens of a vocab file (one token per line, line number = id), by id."""
    with open(path, encoding="utf-8", newline="") as f:
        return f.read().split("\n")[:-1]

# Encoded features of the other tasks (written by transform beside the raw features).
TOKEN_IDS = "token_ids"  # int64 list: classification/language_model text tokens, tagging one id per word
LABEL_ID = "label_id"  # int64: classification label, index into vocab/labels.txt
TAG_IDS = "tag_ids"  # int64 list: tagging, one per token, index into vocab/tags.txt ([PAD]=0, [UNK]=1)
UNSEEN_LABEL_ID = -1  # label_id of an eval/test label never seen in train (not a class: filter or count wrong)
TAG_RESERVED_TOKENS: tuple[str, ...] = (PAD, UNK)  # head vocab/tags.txt; unseen tags map to UNK_ID
MAX_TAGGING_LENGTH = 512  # tagging: words per sentence seen by trainer, evaluator and serving (Transformer positions)

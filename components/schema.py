"""Feature names, reserved tokens and their ids: the one place every step imports.

Example:

>>> RESERVED_TOKENS[:4]
('[PAD]', '[UNK]', '[START]', '[END]')
>>> PAD_ID, UNK_ID, START_ID, END_ID
(0, 1, 2, 3)
"""

from __future__ import annotations

PAD, UNK, START, END = "[PAD]", "[UNK]", "[START]", "[END]"
RESERVED_TOKENS: tuple[str, ...] = (PAD, UNK, START, END)
PAD_ID, UNK_ID, START_ID, END_ID = 0, 1, 2, 3
RESERVED_IDS: dict[str, int] = {tok: i for i, tok in enumerate(RESERVED_TOKENS)}

SPLITS: tuple[str, ...] = ("train", "eval", "test")

# Raw examples written by example_gen (tf.Example, bytes features).
RAW_SOURCE = "source"
RAW_TARGET = "target"

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

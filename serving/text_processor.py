"""The one normalize / tokenize / detokenize implementation, in TensorFlow ops.

The Beam transform, the tf.data path and the serving graph all call these
functions, so training and serving cannot drift apart. Only core TensorFlow
string ops plus `tensorflow_text.normalize_utf8` (a long-standing op) are used,
because the stock TF Serving image may lag the tensorflow-text used at export.

Example:

>>> spec = TokenizerSpec(kind="char", lowercase=True, normalization="NFKC")
>>> tokens = tokenize(tf.constant(["  Mar   3 "]), spec)
>>> detokenize(tokens, spec).numpy().tolist()
[b'mar 3']
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any, Mapping

import tensorflow as tf
import tensorflow_text as tf_text

from components import schema

logger = logging.getLogger(__name__)

TOKENIZER_KINDS: tuple[str, ...] = ("char", "word")
NORMALIZATIONS: tuple[str, ...] = ("NFC", "NFKC", "NFD", "NFKD", "none")
SIDES: tuple[str, ...] = ("source", "target")

# ASCII whitespace (RE2's \s), vertical tab, NEL and every Unicode separator
# (no-break space, line/paragraph separators, ...). Collapsed to one space, so
# no token can ever hold a newline and vocab files stay one token per line.
_WHITESPACE_RE = r"[\s\v\x{85}\p{Z}]+"


@dataclasses.dataclass(frozen=True)
class TokenizerSpec:
    """How raw text becomes tokens.

    Args:
        kind: "char" (Unicode code points, spaces kept) or "word" (whitespace).
        lowercase: lowercase after Unicode normalization.
        normalization: a Unicode normal form ("NFC", "NFKC", ...) or "none".

    Example:

    >>> TokenizerSpec.from_dict({"kind": "word"}).to_dict()
    {'kind': 'word', 'lowercase': True, 'normalization': 'NFKC'}
    """

    kind: str = "char"
    lowercase: bool = True
    normalization: str = "NFKC"

    def __post_init__(self) -> None:
        if self.kind not in TOKENIZER_KINDS:
            raise ValueError(
                f"TokenizerSpec.kind must be one of {list(TOKENIZER_KINDS)}. Received: kind={self.kind!r}"
            )
        if self.normalization not in NORMALIZATIONS:
            raise ValueError(
                f"TokenizerSpec.normalization must be one of {list(NORMALIZATIONS)}. "
                f"Received: normalization={self.normalization!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "TokenizerSpec":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"Unknown TokenizerSpec keys {unknown}. Valid keys: {sorted(names)}")
        return cls(**dict(values))


def normalize(texts: tf.Tensor, spec: TokenizerSpec) -> tf.Tensor:
    """Unicode-normalizes, optionally lowercases, collapses and strips whitespace.

    Example:

    >>> normalize(tf.constant(["  Ｍar\u00a0 3 "]), TokenizerSpec()).numpy().tolist()
    [b'mar 3']
    """
    texts = tf.convert_to_tensor(texts, dtype=tf.string)
    if spec.normalization != "none":
        texts = tf_text.normalize_utf8(texts, spec.normalization)
    if spec.lowercase:
        texts = tf.strings.lower(texts, encoding="utf-8")
    texts = tf.strings.regex_replace(texts, _WHITESPACE_RE, " ")
    return tf.strings.strip(texts)


def tokenize(texts: tf.Tensor, spec: TokenizerSpec) -> tf.RaggedTensor:
    """Normalizes, then splits into tokens: (batch,) -> ragged (batch, tokens).

    Example:

    >>> tokenize(tf.constant(["Mar 3"]), TokenizerSpec(kind="word")).to_list()
    [[b'mar', b'3']]
    """
    texts = normalize(texts, spec)
    if spec.kind == "char":
        return tf.strings.unicode_split(texts, "UTF-8", errors="replace")
    return tf.strings.split(texts)


def detokenize(tokens: tf.RaggedTensor, spec: TokenizerSpec) -> tf.Tensor:
    """Joins tokens back into strings: "" for char, " " for word.

    Example:

    >>> detokenize(tf.ragged.constant([[b"a", b" ", b"b"]]), TokenizerSpec()).numpy().tolist()
    [b'a b']
    """
    separator = "" if spec.kind == "char" else " "
    return tf.strings.reduce_join(tokens, axis=-1, separator=separator)


def _token_to_id_table(vocab_file: str) -> tf.lookup.StaticHashTable:
    initializer = tf.lookup.TextFileInitializer(
        vocab_file,
        key_dtype=tf.string,
        key_index=tf.lookup.TextFileIndex.WHOLE_LINE,
        value_dtype=tf.int64,
        value_index=tf.lookup.TextFileIndex.LINE_NUMBER,
    )
    return tf.lookup.StaticHashTable(initializer, default_value=schema.UNK_ID)


def _id_to_token_table(vocab_file: str) -> tf.lookup.StaticHashTable:
    initializer = tf.lookup.TextFileInitializer(
        vocab_file,
        key_dtype=tf.int64,
        key_index=tf.lookup.TextFileIndex.LINE_NUMBER,
        value_dtype=tf.string,
        value_index=tf.lookup.TextFileIndex.WHOLE_LINE,
    )
    return tf.lookup.StaticHashTable(initializer, default_value=schema.UNK)


class TextProcessor(tf.Module):
    """Raw strings <-> token ids, with the vocab file tracked as a SavedModel asset.

    Args:
        spec: the tokenizer spec the transform used.
        vocab_file: one token per line, line number = id, reserved tokens first.
        max_length: encode truncates to this many tokens (None: no limit).

    Example:

    >>> proc = TextProcessor.from_manifest("artifacts/transform/abc", "source")  # doctest: +SKIP
    >>> proc.decode(proc.encode(tf.constant(["Mar 3"])).to_tensor())  # doctest: +SKIP
    <tf.Tensor: ... numpy=array([b'mar 3'], dtype=object)>
    """

    def __init__(self, spec: TokenizerSpec, vocab_file: str, max_length: int | None = None) -> None:
        super().__init__(name="text_processor")
        if max_length is not None and max_length <= 0:
            raise ValueError(f"max_length must be positive or None. Received: max_length={max_length}")
        self.spec = spec
        self.max_length = max_length
        self.token_to_id = _token_to_id_table(str(vocab_file))
        self.id_to_token = _id_to_token_table(str(vocab_file))

    def encode(self, texts: tf.Tensor) -> tf.RaggedTensor:
        """(batch,) strings -> ragged int64 ids (batch, tokens); OOV -> [UNK]."""
        tokens = tokenize(texts, self.spec)
        ids = tf.ragged.map_flat_values(self.token_to_id.lookup, tokens)
        if self.max_length is not None:
            ids = ids[:, : self.max_length]
        return ids

    def decode(self, ids: tf.Tensor) -> tf.Tensor:
        """Dense, right-padded ids (batch, len) -> strings (batch,).

        Stops at the first [END]; drops [PAD] and [START]; [UNK] stays visible.
        """
        ids = tf.cast(ids, tf.int64)
        ended = tf.math.cumsum(tf.cast(tf.equal(ids, schema.END_ID), tf.int32), axis=1)
        keep = (ended == 0) & tf.not_equal(ids, schema.PAD_ID) & tf.not_equal(ids, schema.START_ID)
        tokens = tf.ragged.boolean_mask(self.id_to_token.lookup(ids), keep)
        return detokenize(tokens, self.spec)

    @classmethod
    def from_manifest(cls, transform_dir: str | Path, side: str) -> "TextProcessor":
        """Builds the processor of one side ("source" | "target") of a transform artifact.

        The target side truncates to `max_target_length - 1`, leaving room for [END].
        """
        if side not in SIDES:
            raise ValueError(f"side must be one of {list(SIDES)}. Received: side={side!r}")
        transform_dir = Path(transform_dir)
        manifest = json.loads((transform_dir / schema.MANIFEST).read_text())
        spec = TokenizerSpec.from_dict(manifest["tokenizer"])
        vocab_file = transform_dir / manifest["vocab"][side]["file"]
        if side == "source":
            max_length = manifest["max_source_length"]
        else:
            max_length = manifest["max_target_length"] - 1
        logger.info("TextProcessor(%s): %s, vocab %s", side, spec, vocab_file)
        return cls(spec, str(vocab_file), max_length)

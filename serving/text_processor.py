"""The one normalize / tokenize / detokenize implementation, in TensorFlow ops.

The Beam transform, the tf.data path and the serving graph all call these
functions, so training and serving cannot drift apart. Only core TensorFlow
string ops plus long-standing tensorflow-text ops (`normalize_utf8`,
`UnicodeScriptTokenizer`, `WordpieceTokenizer`) are used, because the stock TF
Serving image may lag the tensorflow-text used at export.

Tokenizers: "char" (Unicode code points), "word" (whitespace or Unicode-script
splitting, `word_split`) and "wordpiece" (words split into subwords over a
vocabulary learned by the transform; needs that vocabulary, so it goes through
the `Tokenizer` module rather than the stateless `tokenize` function).

Example:

>>> spec = TokenizerSpec(kind="char", lowercase=True, normalization="NFKC")
>>> tokens = tokenize(tf.constant(["  Mar   3 "]), spec)
>>> detokenize(tokens, spec).numpy().tolist()
[b'mar 3']
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

import tensorflow as tf
import tensorflow_text as tf_text

from serving import schema

logger = logging.getLogger(__name__)

TOKENIZER_KINDS: tuple[str, ...] = ("char", "word", "wordpiece")
WORD_SPLITS: tuple[str, ...] = ("whitespace", "unicode_script", "punctuation")
_PUNCTUATION_RE = r"[\p{P}]"  # "punctuation" split: every punctuation mark is a word of its own
SUFFIX_INDICATOR = "##"  # WordPiece marks a subword that continues the previous one
MAX_BYTES_PER_WORD = 100  # WordPiece maps longer words to [UNK]
NORMALIZATIONS: tuple[str, ...] = ("NFC", "NFKC", "NFD", "NFKD", "none")
CHAR_VOCAB_SIZE = 256  # taggers' character encoder: ids 1..255 (see word_char_ids), 0 = padding
MAX_WORD_CHARS = 16  # characters per word seen by the character encoder
LABEL_VOCABS: tuple[str, ...] = ("labels", "tags")  # manifest vocab entries that are not token vocabularies
WHITESPACE_MODES: tuple[str, ...] = ("collapse", "keep")
# whitespace="keep" (char LMs): a line break is the token NEWLINE_TOKEN, so vocab files stay one token per
# line; detokenize turns it back into "\n". (A literal U+2424 in the input text is read as a line break.)
NEWLINE_TOKEN = "\u2424"  # ␤ SYMBOL FOR NEWLINE

# ASCII whitespace (RE2's \s), vertical tab, NEL and every Unicode separator
# (no-break space, line/paragraph separators, ...). Collapsed to one space, so
# no token can ever hold a newline and vocab files stay one token per line.
_WHITESPACE_RE = r"[\s\v\x{85}\p{Z}]+"


@dataclasses.dataclass(frozen=True)
class TokenizerSpec:
    """How raw text becomes tokens.

    Args:
        kind: "char" (Unicode code points, spaces kept), "word" or "wordpiece".
        lowercase: lowercase after Unicode normalization.
        normalization: a Unicode normal form ("NFC", "NFKC", ...) or "none".
        word_split: how "word" and "wordpiece" find words: "whitespace",
            "unicode_script" (splits where the Unicode script changes and
            around punctuation; drops whitespace) or "punctuation" (whitespace,
            and every punctuation mark is a word of its own: "3," -> "3", ","). Left out of `to_dict()`
            while it is the default, so older specs read back unchanged.
        whitespace: "collapse" (every whitespace run becomes one space, ends
            stripped) or "keep" ("char" only: spaces, tabs and line breaks stay
            as written, "\r\n" and "\r" become "\n", and a line break is the
            token `NEWLINE_TOKEN`; what character language models need to
            learn line structure). Left out of `to_dict()` while "collapse".
        digits_to_zero: every ASCII digit 0-9 becomes "0" (Lample et al.'s
            "zeros": "1999" and "2024" are one word, "0000"), after Unicode
            normalization, so NFKC's fullwidth and superscript digits are
            zeroed too; digits of other scripts (Arabic-Indic, Devanagari, ...)
            are kept, as by Lample et al.'s `re.sub('\\d', '0', s)` (Python 2,
            no `re.UNICODE`: ASCII digits only). Applied in `normalize`, so the
            vocabulary, the word ids and the character ids all see it, at
            transform and serving time alike. Left out of `to_dict()` while
            False.

    Example:

    >>> TokenizerSpec.from_dict({"kind": "word"}).to_dict()
    {'kind': 'word', 'lowercase': True, 'normalization': 'NFKC'}
    """

    kind: str = "char"
    lowercase: bool = True
    normalization: str = "NFKC"
    word_split: str = "whitespace"
    whitespace: str = "collapse"
    digits_to_zero: bool = False

    def __post_init__(self) -> None:
        for name, allowed in (("kind", TOKENIZER_KINDS), ("normalization", NORMALIZATIONS),
                              ("word_split", WORD_SPLITS), ("whitespace", WHITESPACE_MODES)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"TokenizerSpec.{name} must be one of {list(allowed)}. "
                                 f"Received: {name}={getattr(self, name)!r}")
        if self.whitespace == "keep" and self.kind != "char":
            raise ValueError(
                "TokenizerSpec.whitespace='keep' applies to kind='char' only (words never hold whitespace). "
                f"Received: kind={self.kind!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        if values["word_split"] == "whitespace":
            del values["word_split"]
        if values["whitespace"] == "collapse":
            del values["whitespace"]
        if not values["digits_to_zero"]:
            del values["digits_to_zero"]
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "TokenizerSpec":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"Unknown TokenizerSpec keys {unknown}. Valid keys: {sorted(names)}")
        return cls(**dict(values))


def normalize(texts: tf.Tensor, spec: TokenizerSpec) -> tf.Tensor:
    """Unicode-normalizes, optionally lowercases and zeroes digits, collapses and strips whitespace.

    With `spec.whitespace == "keep"` whitespace stays as written (line breaks
    unified to "\n").

    Example:

    >>> normalize(tf.constant(["  Ｍar\u00a0 3 "]), TokenizerSpec()).numpy().tolist()
    [b'mar 3']
    >>> normalize(tf.constant(["A:\\r\\n  b"]), TokenizerSpec(lowercase=False, whitespace="keep")).numpy().tolist()
    [b'A:\\n  b']
    >>> normalize(tf.constant(["Mar 31, 1999"]), TokenizerSpec(digits_to_zero=True)).numpy().tolist()
    [b'mar 00, 0000']
    """
    texts = tf.convert_to_tensor(texts, dtype=tf.string)
    if spec.normalization != "none":
        texts = tf_text.normalize_utf8(texts, spec.normalization)
    if spec.lowercase:
        texts = tf.strings.lower(texts, encoding="utf-8")
    if spec.digits_to_zero:
        texts = tf.strings.regex_replace(texts, "[0-9]", "0")
    if spec.whitespace == "keep":
        return tf.strings.regex_replace(texts, "\r\n?", "\n")
    texts = tf.strings.regex_replace(texts, _WHITESPACE_RE, " ")
    return tf.strings.strip(texts)


def split_words(texts: tf.Tensor, spec: TokenizerSpec) -> tf.RaggedTensor:
    """Normalizes, then splits into words by `spec.word_split`: (batch,) -> ragged (batch, words).

    Example:

    >>> split_words(tf.constant(["Hi, you!"]), TokenizerSpec(word_split="unicode_script")).to_list()
    [[b'hi', b',', b'you', b'!']]
    """
    return _split(normalize(texts, spec), spec.word_split)


def _split(texts: tf.Tensor, word_split: str) -> tf.RaggedTensor:
    """Whitespace-collapsed strings -> words by `word_split`."""
    if word_split == "unicode_script":
        return tf_text.UnicodeScriptTokenizer().tokenize(texts)
    if word_split == "punctuation":
        return tf_text.regex_split(texts, r"\s+|" + _PUNCTUATION_RE, keep_delim_regex_pattern=_PUNCTUATION_RE)
    return tf.strings.split(texts)


def normalize_words(words: tf.RaggedTensor, spec: TokenizerSpec) -> tf.RaggedTensor:
    """Pre-tokenized words (ragged (batch, words)) -> each word normalized; one token per word."""
    return tf.ragged.map_flat_values(normalize, words, spec)


def split_raw_words(texts: tf.Tensor, spec: TokenizerSpec) -> tf.RaggedTensor:
    """Raw strings -> their words, NOT normalized: (batch,) -> ragged (batch, words).

    The tagging serving path: users see their own words back next to the tags;
    each word is then normalized alone (`normalize_words`), as the transform
    normalized the pre-tokenized training words.

    Example:

    >>> split_raw_words(tf.constant(["EU rejects  German"]), TokenizerSpec(kind="word")).to_list()
    [[b'EU', b'rejects', b'German']]
    """
    texts = tf.strings.regex_replace(tf.convert_to_tensor(texts, dtype=tf.string), _WHITESPACE_RE, " ")
    return _split(tf.strings.strip(texts), spec.word_split)


def word_char_ids(words: tf.Tensor, spec: TokenizerSpec, max_chars: int = MAX_WORD_CHARS) -> tf.Tensor:
    """Dense words (batch, time) -> character ids (batch, time, max_chars) int32, 0 = padding.

    Each word is Unicode-normalized as `spec` says but keeps its case, even when
    the word ids are lowercased: the characters carry the capitalization that a
    lowercased word vocabulary drops (the cue that matters most for names). Its
    code points are then mapped without a vocabulary: code point c -> min(c, CHAR_VOCAB_SIZE - 2) + 1
    (so Latin-1 keeps distinct ids and everything above shares the last one).
    Words longer than `max_chars` are cut; "" (padding) gives all zeros.

    Example:

    >>> word_char_ids(tf.constant([["Ab", ""]]), TokenizerSpec(kind="word"), 3).numpy().tolist()
    [[[66, 99, 0], [0, 0, 0]]]
    """
    words = tf.convert_to_tensor(words, dtype=tf.string)
    cased = dataclasses.replace(spec, lowercase=False)
    flat = normalize(tf.reshape(words, [-1]), cased)  # (batch * time,)
    points = tf.strings.unicode_decode(flat, "UTF-8", errors="replace")
    points = points.to_tensor(default_value=-1, shape=[None, max_chars])  # (batch * time, max_chars)
    ids = tf.where(points < 0, 0, tf.minimum(points, CHAR_VOCAB_SIZE - 2) + 1)
    return tf.reshape(ids, tf.concat([tf.shape(words), [max_chars]], axis=0))


def tokenize(texts: tf.Tensor, spec: TokenizerSpec) -> tf.RaggedTensor:
    """Normalizes, then splits into tokens: (batch,) -> ragged (batch, tokens).

    "wordpiece" needs its vocabulary: use `Tokenizer(spec, vocab)` instead.

    Example:

    >>> tokenize(tf.constant(["Mar 3"]), TokenizerSpec(kind="word")).to_list()
    [[b'mar', b'3']]
    """
    if spec.kind == "wordpiece":
        raise ValueError("kind='wordpiece' needs a vocabulary. Use Tokenizer(spec, vocab).tokenize(texts) instead.")
    if spec.kind == "char":
        texts = normalize(texts, spec)
        if spec.whitespace == "keep":
            texts = tf.strings.regex_replace(texts, "\n", NEWLINE_TOKEN)
        return tf.strings.unicode_split(texts, "UTF-8", errors="replace")
    return split_words(texts, spec)


def detokenize(tokens: tf.RaggedTensor, spec: TokenizerSpec) -> tf.Tensor:
    """Joins tokens back into strings: "" for char, " " for word; wordpiece glues "##" pieces.

    Example:

    >>> detokenize(tf.ragged.constant([[b"a", b" ", b"b"]]), TokenizerSpec()).numpy().tolist()
    [b'a b']
    >>> detokenize(tf.ragged.constant([[b"play", b"##ed", b"it"]]), TokenizerSpec("wordpiece")).numpy().tolist()
    [b'played it']
    """
    separator = "" if spec.kind == "char" else " "
    texts = tf.strings.reduce_join(tokens, axis=-1, separator=separator)
    if spec.whitespace == "keep":
        texts = tf.strings.regex_replace(texts, NEWLINE_TOKEN, "\n")
    if spec.kind == "wordpiece":
        texts = tf.strings.regex_replace(texts, " " + SUFFIX_INDICATOR, "")
    if spec.kind != "char" and spec.word_split != "whitespace":  # punctuation was split off: glue it back
        for pattern, rewrite in GLUE:
            texts = tf.strings.regex_replace(texts, pattern, rewrite)
    return texts


# Where a word split that cuts punctuation off its words ("unicode_script", "punctuation") put spaces the text
# did not have, for readable output (a heuristic inverse, as Moses' detokenizer): none before closing marks,
# after opening ones, around an apostrophe or hyphen inside a word. "a man 's t - shirt ( red ) ." ->
# "a man's t-shirt (red)." BLEU's own 13a tokenization splits them again.
GLUE = ((r" ([.,!?;:%)\]}»])", r"\1"), (r"([(\[{«¿¡]) ", r"\1"), (r"(\w) ?(['’-]) ?(\w)", r"\1\2\3"))


_COLUMNS = {"token": (tf.string, tf.lookup.TextFileIndex.WHOLE_LINE),
            "id": (tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER)}


def _vocab_table(vocab: str | Sequence[str], key: str = "token", value: str = "id",
                 default: int | str = -1) -> tf.lookup.StaticHashTable:
    """A vocab file (line number = id) or token list as a table `key` -> `value` ("token" / "id"); `default`
    when absent."""
    if isinstance(vocab, (str, Path)):
        initializer = tf.lookup.TextFileInitializer(str(vocab), *_COLUMNS[key], *_COLUMNS[value])
    else:
        initializer = tf.lookup.KeyValueTensorInitializer(
            tf.constant(list(vocab), tf.string), tf.range(len(vocab), dtype=tf.int64)
        )
    return tf.lookup.StaticHashTable(initializer, default_value=default)


class Tokenizer(tf.Module):
    """`tokenize` / `detokenize` for every kind, holding the WordPiece vocabulary when there is one.

    The Beam transform and the serving graph both use this module.

    Args:
        spec: the tokenizer spec.
        vocab: for "wordpiece" only: a vocab file (one token per line) or a
            list of tokens, reserved tokens first, "##" marking suffix pieces.

    Example:

    >>> tok = Tokenizer(TokenizerSpec("wordpiece"), ["[PAD]", "[UNK]", "play", "##ed", "##s"])
    >>> tok.tokenize(tf.constant(["Played plays x"])).to_list()
    [[b'play', b'##ed', b'play', b'##s', b'[UNK]']]
    """

    def __init__(self, spec: TokenizerSpec, vocab: str | Sequence[str] | None = None) -> None:
        super().__init__(name="tokenizer")
        self.spec = spec
        self.wordpiece = None
        if spec.kind == "wordpiece":
            if vocab is None:
                raise ValueError("kind='wordpiece' needs its vocabulary. Received: vocab=None")
            self.wordpiece = tf_text.WordpieceTokenizer(
                _vocab_table(vocab),
                suffix_indicator=SUFFIX_INDICATOR,
                max_bytes_per_word=MAX_BYTES_PER_WORD,
                token_out_type=tf.string,
                unknown_token=schema.UNK,
            )

    def tokenize(self, texts: tf.Tensor) -> tf.RaggedTensor:
        """(batch,) raw strings -> ragged string tokens (batch, tokens)."""
        if self.wordpiece is None:
            return tokenize(texts, self.spec)
        return self.split_pieces(split_words(texts, self.spec))

    def split_pieces(self, words: tf.RaggedTensor) -> tf.RaggedTensor:
        """Normalized words (batch, words) -> WordPiece tokens (batch, pieces); identity unless wordpiece."""
        if self.wordpiece is None:
            return words
        return self.wordpiece.tokenize(words).merge_dims(-2, -1)

    def detokenize(self, tokens: tf.RaggedTensor) -> tf.Tensor:
        return detokenize(tokens, self.spec)


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
        self.token_to_id = _vocab_table(str(vocab_file), default=schema.UNK_ID)
        self.id_to_token = _vocab_table(str(vocab_file), "id", "token", default=schema.UNK)
        self.tokenizer = Tokenizer(spec, str(vocab_file) if spec.kind == "wordpiece" else None)

    def encode(self, texts: tf.Tensor) -> tf.RaggedTensor:
        """(batch,) strings -> ragged int64 ids (batch, tokens); OOV -> [UNK]."""
        return self.lookup(self.tokenizer.tokenize(texts))

    def encode_words(self, words: tf.RaggedTensor) -> tf.RaggedTensor:
        """Pre-tokenized words (batch, words) -> ids (batch, words): one id per word, each word normalized.

        The tagging path: a tagger needs exactly one id per word, whatever the tokenizer kind.
        """
        return self.lookup(normalize_words(words, self.spec))

    def lookup(self, tokens: tf.RaggedTensor) -> tf.RaggedTensor:
        """String tokens (batch, tokens) -> int64 ids, OOV -> [UNK], truncated to `max_length`."""
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
        """Builds the processor of one token vocabulary of a transform artifact.

        `side` names a token vocabulary of the manifest ("source", "target", "text", "tokens", ...). It
        truncates as the transform did: to the vocabulary's `max_length` (a target keeps one token less,
        leaving room for [END]; None: no limit).
        """
        transform_dir = Path(transform_dir)
        manifest = schema.read_manifest(transform_dir)
        sides = [name for name in manifest["vocab"] if name not in LABEL_VOCABS]
        if side not in sides:
            raise ValueError(f"side must be one of {sides} for this artifact. Received: side={side!r}")
        spec = TokenizerSpec.from_dict(manifest["tokenizer"])
        entry = manifest["vocab"][side]
        if "max_length" not in entry:
            raise ValueError(f"{transform_dir / schema.MANIFEST} does not say how long vocab.{side} is encoded "
                             "(an artifact of an older transform); run the transform step again.")
        vocab_file = transform_dir / entry["file"]
        max_length = entry["max_length"]
        logger.info("TextProcessor(%s): %s, vocab %s", side, spec, vocab_file)
        return cls(spec, str(vocab_file), max_length)

"""Pretrained word vectors (word2vec text or binary, GloVe text; each optionally .gz) aligned to a vocabulary.

The file is streamed (text: line by line; binary: record by record) and only the rows of vocabulary words
are kept, so GloVe 840B (5.6 GB) needs memory for the vocabulary's rows only. A vocabulary word takes, in
order of preference: the file's vector of the same word (exact), of its lowercased form (Lample et al.'s
second try), or of the first file word whose lowercased form equals the word's (the GloVe-style loaders,
which lowercase the file: first occurrence wins). Words found in none keep the reference init.

Plain Python and NumPy, no TensorFlow at import: `pipeline/config.py` reads the dimension from the first
line/record at `seqlab config` time.

Example:

>>> import pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "v.txt"
>>> _ = path.write_text("2 3\\nthe 1 2 3\\nCat 4 5 6\\n")
>>> rows, report = align_vectors(str(path), ["[PAD]", "[UNK]", "[START]", "[END]", "the", "cat", "dog"], 3)
>>> rows[4].tolist(), rows[5].tolist(), (report.exact, report.case_fallback, report.missing)
([1.0, 2.0, 3.0], [4.0, 5.0, 6.0], (1, 1, 1))
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import itertools
import logging
import math
import os
from typing import Any, BinaryIO, Iterator, Mapping, Sequence

import numpy as np

from components.source_uri import uri_scheme
from serving import schema

logger = logging.getLogger(__name__)

FORMATS = ("auto", "word2vec_text", "word2vec_binary", "glove")
# The model.* keys a family with a word embedding reads besides its own (pipeline.config.FAMILY_KEYS).
MODEL_KEYS = ("pretrained_embeddings", "pretrained_format", "freeze_embeddings")
# model.family -> (the manifest's word vocabulary, the model attribute holding its keras.layers.Embedding).
WORD_EMBEDDINGS: dict[str, tuple[str, str]] = {
    "rnn_tagger": ("tokens", "word_embedding"),
    "transformer_tagger": ("tokens", "word_embedding"),
    "rnn_classifier": ("text", "token_embedding"),
    "transformer_classifier": ("text", "token_embedding"),  # its extra last row, [CLS], keeps the model's init
    "rnn_attention": ("source", "source_embedding"),  # the source side only
}
_CHUNK = 1 << 20
_FLOAT_TEXT = frozenset(b"0123456789.-+eEinfaINFA \t\r")  # the bytes of numbers written out


def _open(path: str) -> BinaryIO:
    """The file's bytes, gunzipped when the name ends in .gz; remote URIs through tf.io.gfile."""
    if uri_scheme(path):
        import tensorflow as tf  # only for remote files: the config loader never gets here

        raw: Any = tf.io.gfile.GFile(path, "rb")
    else:
        raw = open(path, "rb")
    return gzip.GzipFile(fileobj=raw, mode="rb") if path.endswith(".gz") else io.BufferedReader(raw)


@dataclasses.dataclass(frozen=True)
class Header:
    """What the first line (and for word2vec, the first record) says: the format and the vector size."""

    format: str  # word2vec_text | word2vec_binary | glove
    dim: int
    count: int | None  # word2vec: the header's word count; GloVe: not known without reading it all


def read_header(path: str, fmt: str = "auto") -> Header:
    """The file's format and dimension, read from its first line (word2vec: plus a peek at the first record).

    Example: a file starting "400000 100" is word2vec with `dim=100`; one starting "the 0.1 0.2" is GloVe
    with `dim=2`. Raises ValueError naming the file when its start fits no format.
    """
    if fmt not in FORMATS:
        raise ValueError(f"Expected a vectors format in {list(FORMATS)}. Received: format={fmt!r}")
    with _open(path) as f:
        first = f.readline(_CHUNK).decode("utf-8", errors="replace").split()
        header = len(first) == 2 and all(x.isdigit() for x in first)
        if fmt in ("word2vec_text", "word2vec_binary") or (fmt == "auto" and header):
            if not header:
                raise ValueError(f"{path}: a word2vec file starts with 'COUNT DIM'. Received: {' '.join(first)[:80]!r}")
            count, dim = int(first[0]), int(first[1])
            if fmt == "auto":  # text if the first record's line is `dim` numbers written out
                peek = f.read(1024 + 32 * dim)  # a word and `dim` numbers of up to 31 characters
                line = peek[peek.find(b" ") + 1:].split(b"\n", 1)[0]
                text = set(line) <= _FLOAT_TEXT and len(line.split()) == dim
                fmt = "word2vec_binary" if path.endswith((".bin", ".bin.gz")) or not text else "word2vec_text"
            return Header(fmt, dim, count)
    try:
        [float(x) for x in first[1:]]
    except ValueError:
        first = []
    if len(first) < 2:
        raise ValueError(f"{path}: not a vectors file (word2vec 'COUNT DIM' header, or GloVe 'WORD X1 X2 ...' "
                         "lines). Set model.pretrained_format if the format is known.")
    return Header("glove", len(first) - 1, None)


def _text_records(f: BinaryIO, skip_header: bool) -> Iterator[tuple[str, str, int]]:
    """(word, the rest of the line, line number) per line of a text vectors file; nothing is parsed."""
    lines = io.TextIOWrapper(f, encoding="utf-8", errors="replace", newline="\n")
    for number, line in enumerate(lines, start=1):
        if number == 1 and skip_header:
            continue
        word, _, rest = line.partition(" ")
        if word.strip():
            yield word, rest, number


def _binary_records(f: BinaryIO, dim: int, count: int) -> Iterator[tuple[str, bytes, int]]:
    """(word, its 4 * dim float32 bytes, record number) per record of a word2vec binary file."""
    f.readline(_CHUNK)  # the header
    size, buf, pos = 4 * dim, b"", 0
    for number in range(1, count + 1):
        while True:
            end = buf.find(b" ", pos)
            if end >= 0 and len(buf) - end - 1 >= size:
                break
            more = f.read(_CHUNK)
            if not more:
                raise ValueError(f"word2vec binary file ends at record {number}, its header says {count}")
            buf, pos = buf[pos:] + more, 0
        word = buf[pos:end].lstrip(b"\n").decode("utf-8", errors="replace")  # older writers end records with \n
        yield word, buf[end + 1:end + 1 + size], number
        pos = end + 1 + size


def _records(f: BinaryIO, header: Header) -> Iterator[tuple[str, Any, int]]:
    """(word, its vector's payload, record number) per record of the file `header` describes."""
    if header.format == "word2vec_binary":
        return _binary_records(f, header.dim, header.count or 0)
    return _text_records(f, skip_header=header.format == "word2vec_text")


def vector_words(path: str, limit: int, fmt: str = "auto") -> list[str]:
    """The first `limit` words of a vectors file, in its order: word2vec and GloVe files list the most frequent
    words first. Only those records are read.

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "v.txt"
    >>> _ = path.write_text("3 2\\nthe 1 2\\ncat 3 4\\ndog 5 6\\n")
    >>> vector_words(str(path), 2)
    ['the', 'cat']
    """
    header = read_header(path, fmt)
    with _open(path) as f:
        return [word for word, _, _ in itertools.islice(_records(f, header), limit)]


@dataclasses.dataclass(frozen=True)
class Coverage:
    """How many vocabulary words (reserved tokens left out) the file covers."""

    path: str
    format: str
    dim: int
    words: int
    exact: int
    case_fallback: int
    missing: int

    def line(self) -> str:
        """One log line, e.g. "v.txt (glove, 100d): 91.2% of 20000 words: 17000 exact (85.0%), ..."."""
        pct = lambda n: f"{100.0 * n / max(self.words, 1):.1f}%"  # noqa: E731
        return (f"{os.path.basename(self.path)} ({self.format}, {self.dim}d): {pct(self.exact + self.case_fallback)} "
                f"of {self.words} vocabulary words: {self.exact} exact ({pct(self.exact)}), {self.case_fallback} "
                f"by case ({pct(self.case_fallback)}), {self.missing} missing ({pct(self.missing)})")

    def to_dict(self) -> dict[str, Any]:
        n = max(self.words, 1)
        return {**dataclasses.asdict(self), "exact_fraction": self.exact / n,
                "case_fallback_fraction": self.case_fallback / n, "missing_fraction": self.missing / n,
                "coverage": (self.exact + self.case_fallback) / n, "line": self.line()}


def oov_init(shape: tuple[int, int], seed: int) -> np.ndarray:
    """Rows for words the file lacks: uniform in ±sqrt(3 / dim), as Ma & Hovy's (2016) and NCRF++'s loaders
    (variance 1 / dim, near the pretrained vectors' scale). Lample et al.'s (2016) tagger draws the whole
    matrix uniform in ±sqrt(6 / (rows + dim)) instead, small for a large vocabulary."""
    scale = math.sqrt(3.0 / shape[1])
    return np.random.default_rng(seed).uniform(-scale, scale, shape).astype(np.float32)


def align_vectors(path: str, vocab: Sequence[str], embed_dim: int, fmt: str = "auto",
                  seed: int = 0) -> tuple[np.ndarray, Coverage]:
    """(rows, coverage): a `(len(vocab), embed_dim)` float32 matrix with the file's vector of each vocabulary
    word (see the module docstring for the match order), `oov_init` rows for the others and a zero [PAD] row.

    Reserved tokens ([UNK], [START], ...) are not looked up. Only vocabulary rows are kept while streaming.
    """
    header = read_header(path, fmt)
    if header.dim != embed_dim:
        raise ValueError(f"{path} holds {header.dim}-dimensional vectors; the model's embedding has "
                         f"{embed_dim}. Set model.embed_dim={header.dim}.")
    rows = oov_init((len(vocab), embed_dim), seed)
    rows[schema.PAD_ID] = 0.0
    reserved = set(schema.RESERVED_TOKENS)
    exact_ids = {word: i for i, word in enumerate(vocab) if word not in reserved}
    lower_ids: dict[str, list[int]] = {}
    for word, i in exact_ids.items():
        lower_ids.setdefault(word.lower(), []).append(i)
    rank = dict.fromkeys(exact_ids.values(), 3)  # 0 exact, 1 lowercased word, 2 lowercased file word, 3 none
    with _open(path) as f:
        binary = header.format == "word2vec_binary"
        for word, payload, number in _records(f, header):
            lowered = word.lower()
            exact = exact_ids.get(word)
            matches = [] if exact is None else [(exact, 0)]
            matches += [(i, 1 if word == lowered else 2) for i in lower_ids.get(lowered, ()) if i != exact]
            matches = [(i, r) for i, r in matches if r < rank[i]]
            if not matches:
                continue
            if binary:
                vector = np.frombuffer(payload, dtype="<f4")
            else:
                values = payload.split()
                if len(values) > embed_dim:  # a word holding spaces (GloVe 840B has some): not this word
                    continue
                if len(values) != embed_dim:
                    raise ValueError(f"{path}:{number}: expected {embed_dim} values after {word!r}. "
                                     f"Received: {len(values)}")
                vector = np.asarray(values, dtype=np.float32)
            for i, r in matches:
                rows[i], rank[i] = vector, r
    found = {r: sum(1 for v in rank.values() if v == r) for r in range(4)}
    coverage = Coverage(path, header.format, header.dim, len(rank), found[0], found[1] + found[2], found[3])
    return rows, coverage


def vectors_settings(config) -> tuple[str, str, bool] | None:
    """(path, format, freeze) when the config's family has a word embedding and a vectors file is set."""
    from components.registry import model_family

    if model_family(config) not in WORD_EMBEDDINGS:
        return None
    m = config.model
    settings = (m.pretrained_embeddings, m.pretrained_format, m.freeze_embeddings)
    return settings if settings[0] else None


def load_into_model(model, config, transform_dir: str | os.PathLike, manifest: Mapping[str, Any]) -> dict[str, Any]:
    """Fills the model's word embedding from `model.pretrained_embeddings` (freezing it with
    `model.freeze_embeddings`) before `compile`; returns the coverage report ({} when no file is set).

    Example:

    >>> report = load_into_model(model, cfg, transform_dir, manifest)  # doctest: +SKIP
    >>> report["line"]  # doctest: +SKIP
    'glove.6B.100d.txt (glove, 100d): 95.1% of 20000 vocabulary words: ...'
    """
    from components.registry import model_family
    from serving.schema import read_vocab_file

    settings = vectors_settings(config)
    if settings is None:
        return {}
    path, fmt, freeze = settings
    vocab_name, attribute = WORD_EMBEDDINGS[model_family(config)]
    vocab = read_vocab_file(os.path.join(transform_dir, manifest["vocab"][vocab_name]["file"]))
    rows, coverage = align_vectors(path, vocab, config.model.embed_dim, fmt, seed=config.train.seed)
    layer = getattr(model, attribute)
    weights = layer.get_weights()[0]  # (model rows, embed_dim): rows past the vocabulary keep their init
    weights[:len(vocab)] = rows
    layer.set_weights([weights])
    layer.trainable = not freeze
    logger.info("Pretrained vectors %s; %s", coverage.line(), "frozen" if freeze else "fine-tuned")
    return {**coverage.to_dict(), "frozen": bool(freeze)}

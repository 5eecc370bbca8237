"""components/pretrained_vectors.py: the formats, the match order, the OOV init, streaming, coverage, freezing,
the config checks and the trainer's cache key. Every vectors file is written by the test."""

import gzip
import json
import math
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from components import pretrained_vectors as pv
from components.config import ConfigError
from serving import schema

DIM = 4
# The file: exact words, cased forms for the case fallback, and words the vocabulary lacks.
VECTORS = {
    "the": [0.1, 0.2, 0.3, 0.4],
    "Paris": [1.0, -1.0, 0.5, 0.25],  # vocabulary "paris": by case
    "cat": [-0.5, 0.5, -0.25, 2.0],
    "zebra": [9.0, 9.0, 9.0, 9.0],  # not in the vocabulary
    "APPLE": [3.0, 0.0, 0.0, 1.0],  # first of two case variants of "apple": it wins
    "Apple": [7.0, 7.0, 7.0, 7.0],
}
VOCAB = [*schema.RESERVED_TOKENS, "the", "cat", "paris", "apple", "dog"]


def write_vectors(path: Path, fmt: str, vectors=VECTORS, dim=DIM) -> Path:
    """`vectors` as a word2vec text / binary or GloVe file (gzipped when `path` ends in .gz)."""
    if fmt == "word2vec_binary":
        body = f"{len(vectors)} {dim}\n".encode() + b"".join(
            word.encode() + b" " + struct.pack(f"<{dim}f", *vector) + b"\n" for word, vector in vectors.items())
    else:
        lines = [f"{word} {' '.join(repr(float(x)) for x in vector)}" for word, vector in vectors.items()]
        header = [f"{len(vectors)} {dim}"] if fmt == "word2vec_text" else []
        body = ("\n".join(header + lines) + "\n").encode()
    path.write_bytes(gzip.compress(body) if path.name.endswith(".gz") else body)
    return path


@pytest.mark.parametrize("fmt, name", [("word2vec_text", "v.txt"), ("word2vec_binary", "v.bin"),
                                       ("word2vec_binary", "v.vectors"), ("glove", "v.txt"),
                                       ("glove", "v.txt.gz"), ("word2vec_binary", "v.bin.gz")])
def test_each_format_is_detected_and_its_vectors_fill_the_vocabulary_rows(tmp_path, fmt, name):
    path = write_vectors(tmp_path / name, fmt)
    assert pv.read_header(str(path)) == pv.Header(fmt, DIM, None if fmt == "glove" else len(VECTORS))
    rows, coverage = pv.align_vectors(str(path), VOCAB, DIM, seed=3)
    index = {word: i for i, word in enumerate(VOCAB)}
    np.testing.assert_allclose(rows[index["the"]], VECTORS["the"])  # exact
    np.testing.assert_allclose(rows[index["cat"]], VECTORS["cat"])
    np.testing.assert_allclose(rows[index["paris"]], VECTORS["Paris"])  # lowercased file word
    np.testing.assert_allclose(rows[index["apple"]], VECTORS["APPLE"])  # first occurrence wins
    assert (coverage.words, coverage.exact, coverage.case_fallback, coverage.missing) == (5, 2, 2, 1)
    report = coverage.to_dict()
    assert report["coverage"] == 0.8 and report["missing_fraction"] == 0.2
    assert "80.0% of 5 vocabulary words: 2 exact (40.0%), 2 by case (40.0%), 1 missing (20.0%)" in report["line"]
    json.dumps(report)


def test_exact_beats_lowercased_word_beats_lowercased_file_word(tmp_path):
    vectors = {"PARIS": [1.0] * DIM, "paris": [2.0] * DIM, "Paris": [3.0] * DIM, "London": [4.0] * DIM,
               "london": [5.0] * DIM}
    path = write_vectors(tmp_path / "v.txt", "glove", vectors)
    vocab = [*schema.RESERVED_TOKENS, "Paris", "London", "LONDON"]  # a cased (not lowercasing) transform
    rows, coverage = pv.align_vectors(str(path), vocab, DIM)
    assert rows[4].tolist() == [3.0] * DIM  # exact, although case variants come first in the file
    assert rows[5].tolist() == [4.0] * DIM  # exact
    assert rows[6].tolist() == [5.0] * DIM  # "london" (Lample: word.lower()) before "London" (lowercased file word)
    assert (coverage.exact, coverage.case_fallback, coverage.missing) == (2, 1, 0)


def test_rows_not_found_follow_the_documented_init_and_pad_is_zero(tmp_path):
    path = write_vectors(tmp_path / "v.txt", "glove", {"the": [1.0] * 50}, dim=50)
    vocab = [*schema.RESERVED_TOKENS, "the", *(f"w{i}" for i in range(200))]
    rows, _ = pv.align_vectors(str(path), vocab, 50, seed=7)
    assert rows.dtype == np.float32 and rows.shape == (len(vocab), 50)
    assert not rows[schema.PAD_ID].any()
    missing = rows[5:]
    scale = math.sqrt(3.0 / 50)
    assert np.abs(missing).max() <= scale and np.abs(missing).max() > 0.9 * scale
    assert abs(missing.std() - scale / math.sqrt(3)) < 0.01  # uniform(-s, s) has std s / sqrt(3)
    np.testing.assert_array_equal(rows, pv.align_vectors(str(path), vocab, 50, seed=7)[0])  # seeded


def test_a_large_file_is_streamed_keeping_only_vocabulary_rows(tmp_path):
    dim, others = 32, 20000
    path = tmp_path / "big.txt"
    with open(path, "w") as f:
        f.write(f"{others + 1} {dim}\n")
        for i in range(others):  # ~7 MB of words the vocabulary does not hold
            f.write(f"other{i} " + " ".join(["0.123456"] * dim) + "\n")
        f.write("cat " + " ".join(["1.5"] * dim) + "\n")
    size = path.stat().st_size
    tracemalloc.start()
    try:
        rows, coverage = pv.align_vectors(str(path), [*schema.RESERVED_TOKENS, "cat"], dim)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert rows[4].tolist() == [1.5] * dim and coverage.exact == 1
    assert peak < size / 10, (peak, size)  # not the file, not a dict of its rows


def test_malformed_and_mismatched_files_are_errors_naming_the_file(tmp_path):
    path = write_vectors(tmp_path / "v.txt", "glove")
    with pytest.raises(ValueError, match=r"4-dimensional vectors.*model.embed_dim=4"):
        pv.align_vectors(str(path), VOCAB, 8)
    bad = tmp_path / "bad.txt"
    bad.write_text("the 0.1 0.2 0.3 0.4\ncat 0.1 0.2\n")
    with pytest.raises(ValueError, match=r"bad.txt:2: expected 4 values after 'cat'"):
        pv.align_vectors(str(bad), VOCAB, DIM)
    words = tmp_path / "words.txt"
    words.write_text("hello world\n")
    with pytest.raises(ValueError, match="not a vectors file"):
        pv.read_header(str(words))


def _tagging_overrides(path, *extra):
    return ["task=tagging", "data.source=builtin:date_tags?n=20", "transform.tokenizer=word",
            f"model.pretrained_embeddings={path}", f"model.embed_dim={DIM}", *extra]


def test_config_checks_name_the_key_the_value_and_what_is_allowed(tmp_path):
    from pipeline.config import load_config

    path = write_vectors(tmp_path / "v.txt", "word2vec_text")
    cfg = load_config(None, _tagging_overrides(path, "model.freeze_embeddings=true"))
    assert cfg.model.pretrained_embeddings == str(path) and cfg.model.freeze_embeddings
    with pytest.raises(ConfigError, match=r"transform.tokenizer must be 'word'.*transform.tokenizer='char'"):
        load_config(None, _tagging_overrides(path, "task=classification", "data.source=builtin:date_validity",
                                              "transform.tokenizer=char"))
    with pytest.raises(ConfigError, match=r"model.embed_dim must be the dimension of the pretrained vectors \(4, "
                                          r"word2vec_text\).*model.embed_dim=8"):
        load_config(None, _tagging_overrides(path, "model.embed_dim=8"))
    with pytest.raises(ConfigError, match=r"'model.pretrained_embeddings' must name a vectors file.*nope.txt"):
        load_config(None, _tagging_overrides(tmp_path / "nope.txt"))
    with pytest.raises(ConfigError, match=r"model.pretrained_format' must be one of .*'glove'.*Received"):
        load_config(None, _tagging_overrides(path, "model.pretrained_format=fasttext"))
    with pytest.raises(ConfigError, match=r"rnn_language_model family .*does not read it"):
        load_config(None, ["task=language_model", "data.source=builtin:dialogue", "transform.tokenizer=word",
                           f"model.pretrained_embeddings={path}"])
    load_config(None, _tagging_overrides("gs://bucket/glove.txt", "model.embed_dim=100"))  # remote: trainer checks


def test_the_vectors_file_is_part_of_the_trainer_fingerprint(tmp_path):
    from pipeline.config import load_config
    from pipeline.dag import STEPS, fingerprints
    from pipeline.input_digest import digest_sources

    path = write_vectors(tmp_path / "v.txt", "glove")
    cfg = load_config(None, _tagging_overrides(path))

    def fps():
        sources = {s.name: digest_sources(s.sources(cfg)) for s in STEPS if s.source_keys}
        return fingerprints(cfg, STEPS, sources)

    before = fps()
    write_vectors(path, "glove", {**VECTORS, "the": [0.0] * DIM})  # same name, other content
    after = fps()
    assert before["trainer"] != after["trainer"] and before["transform"] == after["transform"]


def test_vocab_vectors_checks_and_fingerprint(tmp_path):
    from pipeline.config import load_config
    from pipeline.dag import STEPS, fingerprints
    from pipeline.input_digest import digest_sources

    path = write_vectors(tmp_path / "v.txt", "glove")
    extend = [f"transform.vocab_vectors={path}", "transform.vocab_vectors_words=5"]
    cfg = load_config(None, _tagging_overrides(path, *extend))
    assert (cfg.transform.vocab_vectors, cfg.transform.vocab_vectors_words) == (str(path), 5)
    for other in ("", str(write_vectors(tmp_path / "w.txt", "glove"))):
        with pytest.raises(ConfigError, match=r"set model.pretrained_embeddings to the same file.*vocab_vectors="):
            load_config(None, [*_tagging_overrides(path, *extend), f"model.pretrained_embeddings={other}"])
    with pytest.raises(ConfigError, match=r"transform.vocab_vectors_words must be >= 1.*vocab_vectors_words=0"):
        load_config(None, _tagging_overrides(path, f"transform.vocab_vectors={path}"))
    with pytest.raises(ConfigError, match=r"needs transform.vocab_vectors.*vocab_vectors_words=5"):
        load_config(None, _tagging_overrides(path, "transform.vocab_vectors_words=5"))
    with pytest.raises(ConfigError, match=r"transform.vocab_vectors must be a local file.*gs://b/v.txt"):
        load_config(None, _tagging_overrides("gs://b/v.txt", "transform.vocab_vectors=gs://b/v.txt",
                                             "transform.vocab_vectors_words=5", "model.embed_dim=100"))

    def fps():
        sources = {s.name: digest_sources(s.sources(cfg)) for s in STEPS if s.source_keys}
        return fingerprints(cfg, STEPS, sources)

    before = fps()
    write_vectors(path, "glove", {**VECTORS, "the": [0.0] * DIM})  # same name, other content
    assert fps()["transform"] != before["transform"]  # the file decides the vocabulary: its content counts


@pytest.mark.parametrize("freeze", [True, False])
def test_frozen_rows_stay_and_fine_tuned_rows_move_in_a_training_step(tmp_path, freeze):
    from components.trainer.model_builder import build_model_for, compile_model
    from pipeline.config import load_config

    path = write_vectors(tmp_path / "v.txt", "word2vec_binary")
    (tmp_path / "vocab").mkdir()
    (tmp_path / "vocab" / "text.txt").write_text("".join(w + "\n" for w in VOCAB))
    manifest = {"vocab": {"text": {"file": "vocab/text.txt", "size": len(VOCAB)}}, "labels": ["a", "b"],
                "max_source_length": 8}
    cfg = load_config(None, ["task=classification", "data.source=builtin:temporal_order?n=20",
                             "transform.tokenizer=word", f"model.pretrained_embeddings={path}", f"model.embed_dim={DIM}",
                             "model.units=4", "train.precision=float32", f"model.freeze_embeddings={freeze}"])
    model = build_model_for(cfg, manifest)
    report = pv.load_into_model(model, cfg, tmp_path, manifest)
    assert report["frozen"] is freeze and report["exact"] == 2
    compile_model(model, cfg).run_eagerly = True  # one step: tracing would cost seconds
    before = model.token_embedding.get_weights()[0].copy()
    np.testing.assert_allclose(before[VOCAB.index("cat")], VECTORS["cat"], rtol=1e-6)
    x = np.array([[4, 5, 6, 7], [5, 6, 0, 0]], dtype="int32")  # the, cat, paris, apple
    model.train_on_batch(x, np.array([0, 1]))
    after = model.token_embedding.get_weights()[0]
    moved = not np.allclose(before[4:8], after[4:8])
    assert moved is not freeze

"""Task-aware transform: the DoFns on a handful of rows, then a tiny end-to-end run per task."""

import dataclasses
import json
from pathlib import Path

import apache_beam as beam
import pytest
import tensorflow as tf
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing import test_pipeline as beam_test_pipeline
from apache_beam.testing.util import assert_that, equal_to

import components.transform as transform
from serving import schema
from components.registry import get_task
from components.transform.task_fns import (
    CountVocabFn, EncodeBatchFn, PreTokenizeBatchFn, WordpieceBatchFn, parse_task_example, row_tokens,
)
from components.transform.task_graph import build_task_vocabularies
from pipeline.config import TransformConfig, load_config
from components.step import StepContext
from serving.text_processor import TextProcessor, TokenizerSpec

RESERVED = list(schema.RESERVED_TOKENS)
WORD = TokenizerSpec(kind="word").to_dict()
RAW = {
    "classification": {
        "train": [{"text": "Good movie", "label": "pos"}, {"text": "bad  MOVIE", "label": "neg"},
                  {"text": "good good", "label": "pos"}],
        "eval": [{"text": "good plot", "label": "pos"}, {"text": "meh", "label": "neutral"}],
    },
    "tagging": {
        "train": [{"tokens": ["John", "lives", "in", "New York"], "tags": ["B-PER", "O", "O", "B-LOC"]},
                  {"tokens": ["ＪＯＨＮ", "runs"], "tags": ["B-PER", "O"]}],
        "test": [{"tokens": ["Mary", "runs"], "tags": ["B-PER", "B-MISC"]}],
    },
    "language_model": {
        "train": [{"text": "the cat sat"}, {"text": "the dog sat on the mat"}],
        "eval": [{"text": "the bird sat"}],
    },
}


def local_pipeline() -> beam_test_pipeline.TestPipeline:
    return beam_test_pipeline.TestPipeline(runner=FnApiRunner())


def raw_example(row: dict) -> bytes:
    feature = {}
    for name, value in row.items():
        values = value if isinstance(value, list) else [value]
        feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[v.encode() for v in values]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def write_raw(root: Path, splits: dict[str, list[dict]]) -> Path:
    for split, rows in splits.items():
        (root / split).mkdir(parents=True)
        with tf.io.TFRecordWriter(str(root / split / "data-00000-of-00001.tfrecord.gz"), "GZIP") as w:
            for row in rows:
                w.write(raw_example(row))
    return root


def read_records(artifact: Path, split: str) -> list[dict]:
    rows = []
    for record in tf.data.TFRecordDataset(tf.io.gfile.glob(schema.split_glob(artifact, split)), "GZIP"):
        f = tf.train.Example.FromString(record.numpy()).features.feature
        rows.append({k: list(v.int64_list.value) or [b.decode() for b in v.bytes_list.value] for k, v in f.items()})
    return rows


def test_parse_task_example_lists_and_scalars():
    row = RAW["tagging"]["train"][0]
    assert parse_task_example(raw_example(row), get_task("tagging").raw_features) == row
    assert parse_task_example(raw_example({"text": "x"}), get_task("classification").raw_features) == {"text": "x", "label": ""}


def test_pretokenize_batch_fn_text_and_pretokenized():
    with local_pipeline() as p:
        cls = (p | "Cls" >> beam.Create([RAW["classification"]["train"][:2]])
               | "TokCls" >> beam.ParDo(PreTokenizeBatchFn(WORD, get_task("classification").text_fields))
               | "ToCls" >> beam.FlatMap(lambda b: map(tuple, row_tokens(b, "text"))))
        assert_that(cls, equal_to([(b"good", b"movie"), (b"bad", b"movie")]), label="cls")
        tag = (p | "Tag" >> beam.Create([RAW["tagging"]["train"]])
               | "TokTag" >> beam.ParDo(PreTokenizeBatchFn(WORD, get_task("tagging").text_fields))
               | "ToTag" >> beam.FlatMap(lambda b: [(tuple(t), tuple(r["tags"]))
                                                    for t, r in zip(row_tokens(b, "tokens"), b["raw"])]))
        assert_that(tag, equal_to([((b"john", b"lives", b"in", b"new york"), ("B-PER", "O", "O", "B-LOC")),
                                   ((b"john", b"runs"), ("B-PER", "O"))]), label="tag")

        counted = (p | "Counted" >> beam.Create([RAW["classification"]["train"]])
                   | "TokCounted" >> beam.ParDo(PreTokenizeBatchFn(WORD, get_task("classification").text_fields,
                                                                   {"text": 1}, count=True))
                   | "ToCounted" >> beam.Map(lambda b: (tuple(map(tuple, row_tokens(b, "text"))),
                                                        sorted(zip(*b["counts"]["text"])))))
        assert_that(counted, equal_to([(((b"good",), (b"bad",), (b"good",)),  # cut to 1, counted in full
                                        [(b"bad", 1), (b"good", 3), (b"movie", 2)])]), label="counted")


def test_count_vocab_fn_and_task_vocabularies():
    batches = [{"raw": [{"tokens": ["A", "b"], "tags": ["O", "B-X"]}], "counts": {"tokens": [[b"a", b"b"], [1, 1]]}},
               {"raw": [{"tokens": ["a", ""], "tags": ["O", "O"]}], "counts": {"tokens": [[b"a", b""], [1, 1]]}}]
    with local_pipeline() as p:
        counts = (p | beam.Create(batches) | beam.CombineGlobally(CountVocabFn(get_task("tagging").label_fields))
                  | beam.FlatMap(lambda c: c))
        assert_that(counts, equal_to([(("tokens", "a"), 2), (("tokens", "b"), 1), (("tags", "O"), 3),
                                      (("tags", "B-X"), 1)]), label="counts")
        vocab = counts | beam.combiners.ToList() | beam.Map(build_task_vocabularies, get_task("tagging").text_fields,
                                                                 get_task("tagging").label_fields, TransformConfig(), "word")
        assert_that(vocab, equal_to([{"tokens": RESERVED + ["a", "b"], "tags": ["[PAD]", "[UNK]", "B-X", "O"]}]),
                    label="vocab")


def test_encode_batch_fn_unseen_labels_and_truncation():
    vocab = {"text": RESERVED + ["good", "movie"], "labels": ["neg", "pos"]}
    batch = {"raw": [{"text": "Good movie bad", "label": "pos"}, {"text": "bad", "label": "neutral"}],
             "tokens": {"text": [[b"good", b"movie", b"bad", b"bad"], [3, 1]]}}
    fn = EncodeBatchFn(get_task("classification").text_fields, get_task("classification").label_fields,
                       {"max_source_length": 2})

    def ids(example: bytes) -> tuple:
        feature = tf.train.Example.FromString(example).features.feature
        return tuple(feature[schema.TOKEN_IDS].int64_list.value), tuple(feature[schema.LABEL_ID].int64_list.value)

    with local_pipeline() as p:
        side = p | "Vocab" >> beam.Create([json.dumps(vocab)])
        out = (p | "Batches" >> beam.Create([batch]) | beam.ParDo(fn, beam.pvalue.AsSingleton(side))
               | beam.Map(lambda e: ([ids(x) for x in e[0]], e[1])))
        assert_that(out, equal_to([([((4, 5), (1,)), ((schema.UNK_ID,), (schema.UNSEEN_LABEL_ID,))], (2, 3, 1, 1))]))


def test_wordpiece_batch_fn_with_side_input():
    vocab = {"text": RESERVED + ["play", "##ed", "##s", "x"]}
    batch = {"raw": [{"text": "played plays"}, {"text": "x"}],
             "tokens": {"text": [[b"played", b"plays", b"x", b"yy"], [2, 2]]}}
    spec = TokenizerSpec(kind="wordpiece").to_dict()
    with local_pipeline() as p:
        side = p | "Vocab" >> beam.Create([json.dumps(vocab)])
        out = (p | "Batches" >> beam.Create([batch])
               | beam.ParDo(WordpieceBatchFn(spec, get_task("language_model").text_fields),
                            beam.pvalue.AsSingleton(side))
               | beam.FlatMap(lambda b: map(tuple, row_tokens(b, "text"))))
        assert_that(out, equal_to([(b"play", b"##ed", b"play", b"##s"), (b"x", b"[UNK]")]))


def run_task(tmp_path: Path, task: str, *overrides: str, splits: dict | None = None) -> tuple[Path, dict, dict]:
    cfg = load_config(None, ["transform.num_shards=1", "transform.tokenizer=word", *overrides])
    cfg = dataclasses.replace(cfg, task=task)
    raw = write_raw(tmp_path / "raw", splits or RAW[task])
    out = tmp_path / "transform"
    out.mkdir()
    outputs = transform.run(StepContext(cfg, {"example_gen": raw}, out, tmp_path))
    return out, outputs, json.loads((out / schema.MANIFEST).read_text())


def test_classification_end_to_end(tmp_path):
    out, outputs, manifest = run_task(tmp_path, "classification")
    assert set(manifest) == {"task", "tokenizer", "vocab", "reserved", "features", "max_source_length",
                             "max_target_length", "splits", "fingerprint", "labels"}
    assert manifest["task"] == "classification" and manifest["labels"] == ["neg", "pos"]
    assert schema.read_vocab_file(out / "vocab/labels.txt") == ["neg", "pos"]
    assert schema.read_vocab_file(out / "vocab/text.txt") == RESERVED + ["good", "movie", "bad"]
    assert outputs["counts"] == {"train": 3, "eval": 2, "test": 0}
    assert outputs["unseen_labels"] == {"train": 0, "eval": 1, "test": 0}
    assert outputs["oov_rates"]["eval"] == pytest.approx(2 / 3)  # "plot", "meh"
    assert outputs["vocab_sizes"] == {"text": 7, "labels": 2}
    rows = sorted(read_records(out, "eval"), key=lambda r: r["text"])
    assert rows == [{"text": ["good plot"], "label": ["pos"], "token_ids": [4, 1], "label_id": [1]},
                    {"text": ["meh"], "label": ["neutral"], "token_ids": [1], "label_id": [schema.UNSEEN_LABEL_ID]}]
    proc = TextProcessor.from_manifest(out, "text")
    assert proc.encode(tf.constant(["GOOD movie"])).to_list() == [[4, 5]]


def test_tagging_end_to_end(tmp_path):
    out, outputs, manifest = run_task(tmp_path, "tagging")
    assert manifest["tags"] == ["[PAD]", "[UNK]", "B-LOC", "B-PER", "O"] == schema.read_vocab_file(out / "vocab/tags.txt")
    assert outputs["unseen_tags"] == {"train": 0, "eval": 0, "test": 1}
    tokens = schema.read_vocab_file(out / "vocab/tokens.txt")
    assert tokens[:5] == RESERVED + ["john"] and "new york" in tokens
    [row] = read_records(out, "test")
    assert row["tokens"] == ["Mary", "runs"] and row["tag_ids"] == [3, schema.UNK_ID]
    assert row["token_ids"] == [schema.UNK_ID, tokens.index("runs")]
    proc = TextProcessor.from_manifest(out, "tokens")
    assert proc.encode_words(tf.ragged.constant([["MARY", "runs"]])).to_list() == [row["token_ids"]]
    with pytest.raises(ValueError, match="tokenizer=word"):
        run_task(tmp_path / "wp", "tagging", "transform.tokenizer=wordpiece")


def test_digits_to_zero_reaches_the_vocabulary_the_ids_and_the_serving_text_path(tmp_path):
    from serving.text_processor import split_raw_words, word_char_ids

    splits = {"train": [{"tokens": ["Born", "1999"], "tags": ["O", "B-DATE"]}],
              "test": [{"tokens": ["born", "2024"], "tags": ["O", "B-DATE"]},
                       {"tokens": ["born", "0000"], "tags": ["O", "B-DATE"]}]}
    out, _, manifest = run_task(tmp_path, "tagging", "transform.digits_to_zero=true", splits=splits)
    assert manifest["tokenizer"]["digits_to_zero"] is True
    tokens = schema.read_vocab_file(out / "vocab/tokens.txt")
    assert sorted(tokens[len(RESERVED):]) == ["0000", "born"]  # built from the normalised text
    zero_id = tokens.index("0000")
    digits, zeros = (row["token_ids"] for row in read_records(out, "test"))
    assert digits == zeros == [tokens.index("born"), zero_id]
    proc = TextProcessor.from_manifest(out, "tokens")  # what the exported signature uses, words and characters
    words = split_raw_words(tf.constant(["1999 2024 0000"]), proc.spec)
    assert proc.encode_words(words).to_list() == [[zero_id] * 3]
    chars = word_char_ids(words.to_tensor(""), proc.spec).numpy()  # (1, 3, chars)
    assert (chars[0] == chars[0, 2]).all() and chars[0, 0, 0] == ord("0") + 1


def test_language_model_end_to_end_not_truncated(tmp_path):
    out, outputs, manifest = run_task(tmp_path, "language_model", "transform.max_source_length=2")
    assert "labels" not in manifest and set(manifest["vocab"]) == {"text"}
    rows = read_records(out, "train")
    assert sorted(len(r["token_ids"]) for r in rows) == [3, 6]
    assert outputs["oov_rates"]["eval"] == pytest.approx(1 / 3)


def test_classification_wordpiece_end_to_end(tmp_path):
    splits = {"train": [{"text": "the players played well", "label": "a"}, {"text": "a replay", "label": "b"}],
              "eval": [{"text": "Players replayed", "label": "a"}]}
    out, outputs, manifest = run_task(tmp_path, "classification", "transform.tokenizer=wordpiece",
                                      "transform.wordpiece_vocab_size=50", splits=splits)
    assert manifest["tokenizer"]["kind"] == "wordpiece"
    assert outputs["oov_rates"] == {"train": 0.0, "eval": 0.0, "test": 0.0}  # seen characters: no [UNK]
    proc = TextProcessor.from_manifest(out, "text")
    [row] = read_records(out, "eval")
    assert proc.encode(tf.constant(["Players replayed"])).to_list() == [row["token_ids"]]
    assert proc.decode(tf.constant([row["token_ids"]])).numpy().tolist() == [b"players replayed"]


def test_translation_wordpiece_end_to_end(tmp_path):
    splits = {"train": [{"source": "March third", "target": "03 03"}, {"source": "May first", "target": "05 01"}]}
    out, outputs, manifest = run_task(tmp_path, "translation", "transform.tokenizer=wordpiece",
                                      "transform.wordpiece_vocab_size=40", splits=splits)
    assert set(manifest["vocab"]) == {"source", "target"} and manifest["features"] == get_task("translation").encoded_features
    for row in read_records(out, "train"):
        assert row["target_ids"][-1] == schema.END_ID
        proc = TextProcessor.from_manifest(out, "target")
        assert proc.decode(tf.constant([row["target_ids"]])).numpy()[0].decode() == row["target"][0]


def test_vocab_vectors_append_the_files_first_words_that_training_lacks(tmp_path):
    vectors = tmp_path / "v.txt"  # word2vec text, most frequent first; "Plot" is lowercased like the text
    vectors.write_text("4 2\ngood 1 1\nPlot 2 2\nmeh 3 3\nunread 4 4\n")
    out, outputs, _ = run_task(tmp_path, "classification", f"transform.vocab_vectors={vectors}",
                               "transform.vocab_vectors_words=3", f"model.pretrained_embeddings={vectors}",
                               "model.embed_dim=2")
    assert schema.read_vocab_file(out / "vocab/text.txt") == RESERVED + ["good", "movie", "bad", "plot", "meh"]
    assert outputs["oov_rates"]["eval"] == 0.0  # "plot" and "meh" now have ids (and the vectors' rows)
    rows = sorted(read_records(out, "eval"), key=lambda r: r["text"])
    assert [r["token_ids"] for r in rows] == [[4, 7], [8]]


def test_vocab_vectors_extend_what_a_model_reads_not_what_a_decoder_writes(tmp_path):
    vectors = tmp_path / "v.txt"
    vectors.write_text("2 2\nhaus 1 1\nhouse 2 2\n")
    splits = {"train": [{"source": "ein buch", "target": "a book"}], "eval": [{"source": "ein haus", "target": "a house"}]}
    out, _, _ = run_task(tmp_path, "translation", f"transform.vocab_vectors={vectors}", "transform.vocab_vectors_words=2",
                         f"model.pretrained_embeddings={vectors}", "model.embed_dim=2", splits=splits)
    assert schema.read_vocab_file(out / "vocab/source.txt")[-2:] == ["haus", "house"]
    assert "house" not in schema.read_vocab_file(out / "vocab/target.txt")  # the decoder's output layer

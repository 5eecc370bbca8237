"""The transform Beam graph of every task: read -> pre-tokenize -> vocab (train) -> [wordpiece] -> encode -> write.

ONE pipeline: the vocabularies are a PCollection computed from the train split
and fed to the encoder as a singleton side input, so every split is read and
tokenized once; for WordPiece the train word counts feed tensorflow-text's
learner, and the learned vocabulary both splits words into pieces and maps
pieces to ids. The small results (vocabularies, per-split stats) are written
as JSON to `<work_dir>/` and turned into vocab files and the manifest in
Python after the pipeline finishes.

Records travel in batches of `transform.batch_size` (see `task_fns`): one
TensorFlow call per batch and side tokenizes, counts the train tokens and cuts
them to the encoder's length; the counts combine per batch into the
vocabularies (`TaskVocabularyFn`), which reach the encoder as one JSON string;
each encoded batch is written as one element (`bulk_write`).

Example:

>>> with make_pipeline([]) as p:  # doctest: +SKIP
...     build_task_transform(p, "classification", {"train": glob}, out_dir, work_dir, cfg.transform, spec)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import apache_beam as beam
import tensorflow as tf

from components import pretrained_vectors
from components.transform.bulk_write import WriteBatchesToTFRecord
from components.transform.task_fns import (
    CountVocabFn,
    EncodeBatchFn,
    PreTokenizeBatchFn,
    WordpieceBatchFn,
    parse_task_example,
    tokenize_fn,
)
from components.config import TransformConfig
from components.registry import get_task
from components.tasks.fields import LabelField, TextField
from components.transform.vocab import (
    build_vocabulary,
    extend_vocabulary,
    label_vocabulary,
    learn_wordpiece_vocabulary,
    tag_vocabulary,
)
from serving.text_processor import TokenizerSpec

VOCAB_JSON = "vocab.json"
STATS_JSON = "stats.json"
GZIP = beam.io.filesystem.CompressionTypes.GZIP


def _write_json(pcoll: beam.PCollection, path: Path, label: str) -> None:
    _ = (
        pcoll
        | f"{label}ToJson" >> beam.Map(lambda value: json.dumps(value, ensure_ascii=False))
        | f"Write{label}" >> beam.io.WriteToText(str(path), shard_name_template="")
    )


def build_task_vocabularies(
    counts: Iterable[tuple[tuple[str, str], int]], text_fields: Sequence[TextField], label_fields: Sequence[LabelField],
    config: TransformConfig, tokenizer: str
) -> dict[str, list[str]]:
    """((vocab name, token), n) pairs -> {vocab name: tokens} for the task's text sides and labels.

    With `config.joint_vocab` every text side gets one vocabulary learned from the counts of all sides
    (summed per token), so a model can share one embedding matrix between them."""
    per_vocab: dict[str, list[tuple[str, int]]] = {}
    for (name, token), n in counts:
        per_vocab.setdefault(name, []).append((token, n))
    if config.joint_vocab:
        joint: dict[str, int] = {}
        for field in text_fields:
            for token, n in per_vocab.get(field.side, []):
                joint[token] = joint.get(token, 0) + n
        per_vocab.update({field.side: sorted(joint.items()) for field in text_fields})
    vocabs: dict[str, list[str]] = {}
    for field in text_fields:
        items = per_vocab.get(field.side, [])
        if tokenizer == "wordpiece" and not field.pretokenized:
            vocabs[field.side] = learn_wordpiece_vocabulary(items, config.wordpiece_vocab_size)
        else:
            vocabs[field.side] = build_vocabulary(items, config.max_vocab_size, config.min_count)
    for field in label_fields:
        values = [value for value, _ in per_vocab.get(field.vocab, [])]
        vocabs[field.vocab] = tag_vocabulary(values) if field.is_list else label_vocabulary(values)
    return vocabs


class TaskVocabularyFn(CountVocabFn):
    """Train `Batch`es -> {vocab name: tokens}: the token and label counts of `CountVocabFn`, then
    `build_task_vocabularies`.

    Built inside the combine so that what leaves it is the vocabularies, not
    the counts of every distinct token (Beam hands a CombineGlobally's output
    through a side input, whose size it measures object by object).
    """

    def __init__(self, text_fields: Sequence[TextField], label_fields: Sequence[LabelField],
                 config: TransformConfig, spec: Mapping[str, Any]) -> None:
        super().__init__(label_fields)
        self.text_fields = tuple(text_fields)
        self.config = config
        self.spec = dict(spec)

    def extract_output(self, counts) -> dict[str, list[str]]:
        vocabs = build_task_vocabularies(super().extract_output(counts), self.text_fields, self.label_fields,
                                         self.config, self.spec["kind"])
        if self.config.vocab_vectors:  # read here, on the worker, so the job graph stays small
            spec = TokenizerSpec.from_dict(self.spec)
            words = pretrained_vectors.vector_words(self.config.vocab_vectors, self.config.vocab_vectors_words)
            for field in self.text_fields:
                # Sides a model writes (a decoder's, ending in [END]) keep their vocabulary: it is an output
                # layer, and no embedding of theirs reads the vectors. A joint vocabulary stays one.
                if self.config.joint_vocab or not field.append_end:
                    vocabs[field.side] = extend_vocabulary(vocabs[field.side],
                                                           encodable_words(words, spec, field.pretokenized))
        return vocabs


def encodable_words(words: Sequence[str], spec: TokenizerSpec, pretokenized: bool) -> list[str]:
    """The `words` (of a vectors file) as the encoder produces them: each normalized as the text is, kept when
    it stays one token (a word the tokenizer would split never occurs as itself) and when the trainer will
    find its vector (`pretrained_vectors.align_vectors` matches a word exactly or lowercased, so a word that
    `digits_to_zero` or NFKC changed would only get a random row).

    >>> spec = TokenizerSpec(kind="word", word_split="punctuation", digits_to_zero=True)
    >>> encodable_words(["Paris", "e-mail", "1990"], spec, pretokenized=False)
    ['paris']
    """
    if not words:
        return []
    # The transform's own tokenizer of a side (a pretokenized side: each word one token, only normalized).
    flat, lengths, _, _ = tokenize_fn(spec, pretokenized, None, False)(tf.constant(list(words)),
                                                                       tf.ones([len(words)], tf.int64))
    rows = tf.RaggedTensor.from_row_lengths(flat, lengths).to_list()
    out = []
    for word, row in zip(words, rows):
        if len(row) == 1:
            token = row[0].decode("utf-8")
            if token in (word, word.lower()):
                out.append(token)
    return out


def sum_task_stats(values: Iterable[tuple[int, int, int, int]]) -> tuple[int, ...]:
    """Element-wise sum of (examples, tokens, oov, unseen) tuples."""
    totals = [0, 0, 0, 0]
    for value in values:
        for i, v in enumerate(value):
            totals[i] += v
    return tuple(totals)


def build_task_transform(
    pipeline: beam.Pipeline,
    task: str,
    split_globs: Mapping[str, str],
    output_dir: Path,
    work_dir: Path,
    config: TransformConfig,
    spec: TokenizerSpec,
) -> None:
    """Adds the task's transform graph to `pipeline`; `split_globs` must contain "train"."""
    fields = get_task(task)
    text_fields, label_fields = fields.text_fields, fields.label_fields
    max_lengths: dict[str, Any] = {"max_source_length": config.max_source_length,
                                   "max_target_length": config.max_target_length}
    encode = EncodeBatchFn(text_fields, label_fields, max_lengths)
    limits = {} if spec.kind == "wordpiece" else encode.limits()  # pieces are cut, not words
    batches = {}
    for split, pattern in split_globs.items():
        batches[split] = (
            pipeline
            | f"Read[{split}]" >> beam.io.ReadFromTFRecord(pattern, compression_type=GZIP)
            | f"Parse[{split}]" >> beam.Map(parse_task_example, fields.raw_features)
            | f"Batch[{split}]" >> beam.BatchElements(min_batch_size=config.batch_size,
                                                      max_batch_size=config.batch_size)
            | f"PreTokenize[{split}]" >> beam.ParDo(
                PreTokenizeBatchFn(spec.to_dict(), text_fields, limits, count=split == "train"))
        )
    vocab = (
        batches["train"]
        | "CountAndBuildVocab" >> beam.CombineGlobally(TaskVocabularyFn(text_fields, label_fields, config, spec.to_dict()))
        | "VocabToJson" >> beam.Map(lambda value: json.dumps(value, ensure_ascii=False))
    )
    _ = vocab | "WriteVocab" >> beam.io.WriteToText(str(work_dir / VOCAB_JSON), shard_name_template="")
    vocab_json = beam.pvalue.AsSingleton(vocab)  # one string: cheap to size, code and cache per bundle
    stats = []
    for split, split_batches in batches.items():
        if spec.kind == "wordpiece":
            split_batches = split_batches | f"WordPiece[{split}]" >> beam.ParDo(
                WordpieceBatchFn(spec.to_dict(), text_fields), vocab_json)
        encoded = split_batches | f"Encode[{split}]" >> beam.ParDo(encode, vocab_json)
        _ = (
            encoded
            | f"Examples[{split}]" >> beam.Map(lambda e: e[0])
            | f"Write[{split}]" >> WriteBatchesToTFRecord(
                str(output_dir / split / "data"), ".tfrecord.gz", config.num_shards, GZIP)
        )
        stats.append(encoded | f"Stats[{split}]" >> beam.Map(lambda e, s=split: (s, e[1])))
    split_stats = (
        stats
        | "FlattenStats" >> beam.Flatten()
        | "SumStats" >> beam.CombinePerKey(sum_task_stats)
        | "CollectStats" >> beam.combiners.ToDict()
    )
    _write_json(split_stats, work_dir / STATS_JSON, "Stats")

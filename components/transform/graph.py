"""The transform Beam graph: ONE pipeline, read -> tokenize -> vocab (train) -> encode -> write.

One pipeline rather than two: the vocabulary is a PCollection computed from the
train split and fed to `EncodeFn` as a singleton side input, so every split is
read and tokenized once. The small results (vocabularies, per-split stats) are
written as JSON to `<work_dir>/` and turned into vocab files and the manifest in
Python after the pipeline finishes.

Example:

>>> with make_pipeline([]) as p:  # doctest: +SKIP
...     build_transform(p, {"train": glob}, out_dir, work_dir, cfg.transform, spec)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

import apache_beam as beam

from components.transform.beam_fns import (
    EncodeFn,
    TokenizeBatchFn,
    parse_raw_example,
    side_tokens,
    sum_stats,
)
from components.transform.vocab import build_vocabularies
from pipeline.config import TransformConfig
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


def build_transform(
    pipeline: beam.Pipeline,
    split_globs: Mapping[str, str],
    output_dir: Path,
    work_dir: Path,
    config: TransformConfig,
    spec: TokenizerSpec,
) -> None:
    """Adds the whole transform graph to `pipeline`; `split_globs` must contain "train"."""
    tokenized = {}
    for split, pattern in split_globs.items():
        tokenized[split] = (
            pipeline
            | f"Read[{split}]" >> beam.io.ReadFromTFRecord(pattern, compression_type=GZIP)
            | f"Parse[{split}]" >> beam.Map(parse_raw_example)
            | f"Batch[{split}]" >> beam.BatchElements(min_batch_size=1, max_batch_size=config.batch_size)
            | f"Tokenize[{split}]" >> beam.ParDo(TokenizeBatchFn(spec.to_dict()))
        )
    vocab = (
        tokenized["train"]
        | "SideTokens" >> beam.FlatMap(side_tokens)
        | "CountTokens" >> beam.CombinePerKey(sum)
        | "CollectCounts" >> beam.combiners.ToList()
        | "BuildVocab" >> beam.Map(build_vocabularies, config.max_vocab_size, config.min_count)
    )
    _write_json(vocab, work_dir / VOCAB_JSON, "Vocab")
    stats = []
    for split, rows in tokenized.items():
        encoded = rows | f"Encode[{split}]" >> beam.ParDo(
            EncodeFn(config.max_source_length, config.max_target_length), vocab=beam.pvalue.AsSingleton(vocab)
        )
        _ = (
            encoded
            | f"Example[{split}]" >> beam.Map(lambda e: e["example"])
            | f"Write[{split}]"
            >> beam.io.WriteToTFRecord(
                str(output_dir / split / "data"),
                file_name_suffix=".tfrecord.gz",
                num_shards=config.num_shards,
                compression_type=GZIP,
            )
        )
        stats.append(encoded | f"Stats[{split}]" >> beam.Map(lambda e, s=split: (s, (1, e["tokens"], e["oov"]))))
    split_stats = (
        stats
        | "FlattenStats" >> beam.Flatten()
        | "SumStats" >> beam.CombinePerKey(sum_stats)
        | "CollectStats" >> beam.combiners.ToDict()
    )
    _write_json(split_stats, work_dir / STATS_JSON, "Stats")

"""Pins the transform's outputs for every task on a small generated corpus.

`GOLDEN` holds digests of the vocab files, the manifest and every split's
decoded records (order-free within a split), computed with the per-record
transform graph (commit f29b186) before it was rebuilt around batches; the
batched graph must give the same digests. The corpus is seeded, mixes case,
width variants (NFKC), whitespace runs and non-ASCII text, has texts longer
than the length limits, labels and tags unseen in train, a tagging word that
normalizes to "" and an empty text, and spans several tokenizer batches
(`transform.batch_size=64`).
"""

import dataclasses
import hashlib
import json
import random
from pathlib import Path

import pytest
import tensorflow as tf

import components.transform as transform
from components.step import StepContext
from pipeline.config import load_config
from serving import schema

WORDS = ["the", "The", "cat", "ＣＡＴ", "sat", "on", "mat", "über", "Straße", "naïve", "café", "dog", "a", "ran",
         "x1", "played", "replay", "players", "日本", "語", "ok!", "far-off"]
SPACES = [" ", " ", " ", "  ", "\t", " \n "]
VARIANTS = {
    "classification_word": ("classification", ["transform.tokenizer=word", "transform.max_source_length=6",
                                              "transform.max_vocab_size=16"]),
    "classification_wordpiece": ("classification", ["transform.tokenizer=wordpiece",
                                                    "transform.wordpiece_vocab_size=60"]),
    "tagging_word": ("tagging", ["transform.tokenizer=word", "transform.min_count=2"]),
    "language_model_char_keep": ("language_model", ["transform.tokenizer=char", "transform.whitespace=keep",
                                                    "transform.max_vocab_size=30"]),
    "translation_wordpiece_joint": ("translation", ["transform.tokenizer=wordpiece", "transform.joint_vocab=true",
                                                    "transform.wordpiece_vocab_size=50",
                                                    "transform.max_target_length=5"]),
}
SPLITS = {"train": 150, "eval": 40, "test": 20}


def sentence(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(WORDS) + rng.choice(SPACES) for _ in range(n)).strip(" ")


def generated_rows(task: str, split: str, n: int) -> list[dict]:
    rng = random.Random(f"{task}/{split}")
    labels = ["pos", "neg"] + (["neutral"] if split != "train" else [])
    tags = ["O", "B-X", "I-X"] + (["B-NEW"] if split != "train" else [])
    rows = []
    for i in range(n):
        length = rng.randint(1, 14)
        if task == "classification":
            rows.append({"text": "" if i == 3 else sentence(rng, length), "label": rng.choice(labels)})
        elif task == "tagging":
            words = [rng.choice(WORDS) for _ in range(length)] + (["\u00a0"] if i % 17 == 0 else [])
            rows.append({"tokens": words, "tags": [rng.choice(tags) for _ in words]})
        elif task == "language_model":
            rows.append({"text": sentence(rng, length)})
        else:
            rows.append({"source": sentence(rng, length), "target": sentence(rng, rng.randint(1, 8))})
    return rows


def write_raw(root: Path, task: str) -> Path:
    for split, n in SPLITS.items():
        (root / split).mkdir(parents=True)
        with tf.io.TFRecordWriter(str(root / split / "data-00000-of-00001.tfrecord.gz"), "GZIP") as writer:
            for row in generated_rows(task, split, n):
                feature = {name: tf.train.Feature(bytes_list=tf.train.BytesList(
                    value=[v.encode() for v in (value if isinstance(value, list) else [value])]))
                    for name, value in row.items()}
                writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    return root


def decoded_records(artifact: Path, split: str) -> list[str]:
    rows = []
    files = sorted(tf.io.gfile.glob(schema.split_glob(artifact, split)))
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        feature = tf.train.Example.FromString(record.numpy()).features.feature
        rows.append(json.dumps({name: [v.decode() if isinstance(v, bytes) else int(v)
                                       for v in getattr(f, f.WhichOneof("kind")).value] if f.WhichOneof("kind") else []
                                for name, f in sorted(feature.items())}, sort_keys=True, ensure_ascii=False))
    return sorted(rows)


def digest(artifact: Path) -> str:
    h = hashlib.sha256()
    for path in sorted((artifact / schema.VOCAB_DIR).iterdir()):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    h.update((artifact / schema.MANIFEST).read_bytes())
    for split in schema.SPLITS:
        h.update(json.dumps(decoded_records(artifact, split), ensure_ascii=False).encode())
    return h.hexdigest()[:16]


GOLDEN = {
    "classification_word": "d2af801914c60d5a",
    "classification_wordpiece": "fe65d3cb3368d890",
    "tagging_word": "62c47aebfe4baaf5",
    "language_model_char_keep": "3d1226dcbeb4e57b",
    "translation_wordpiece_joint": "bf0d55abb3abcc89",
}


def config(task: str, overrides: list[str]):
    cfg = load_config(None, ["transform.num_shards=1", "transform.batch_size=64", *overrides])
    return dataclasses.replace(cfg, task=task)  # the built-in source's task is not this one; the raw files are


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_transform_outputs_pinned(tmp_path, variant):
    task, overrides = VARIANTS[variant]
    cfg = config(task, overrides)
    raw = write_raw(tmp_path / "raw", task)
    out = tmp_path / "transform"
    out.mkdir()
    transform.run(StepContext(cfg, {"example_gen": raw}, out, tmp_path))
    assert digest(out) == GOLDEN[variant]

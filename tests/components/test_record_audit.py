"""A Beam step's written records against the records it read: a shortfall fails the step in one line."""

import json

import pytest
import tensorflow as tf

from components.record_audit import check_written, count_records
from components.transform import check_encoded


def write_split(root, split, n, shards=2):
    (root / split).mkdir(parents=True)
    for shard in range(shards):
        path = root / split / f"data-{shard:05d}-of-{shards:05d}.tfrecord.gz"
        with tf.io.TFRecordWriter(str(path), tf.io.TFRecordOptions(compression_type="GZIP")) as writer:
            for i in range(shard, n, shards):
                writer.write(f"record {i}".encode())


def test_count_records_reads_every_shard_and_an_absent_split_is_empty(tmp_path):
    write_split(tmp_path, "train", 7)
    assert count_records(tmp_path, "train") == 7
    assert count_records(tmp_path, "eval") == 0


def test_check_written_names_each_short_split(tmp_path):
    write_split(tmp_path, "train", 5)
    write_split(tmp_path, "eval", 2)
    check_written(tmp_path, {"train": 5, "eval": 2, "test": 0}, "example_gen")  # all there: no error
    with pytest.raises(RuntimeError, match=r"^transform wrote other than.*train: 5 records in the files, 6 expected"
                       r"[^,]*\)") as err:
        check_written(tmp_path, {"train": 6, "eval": 2}, "transform")
    assert "eval" not in str(err.value).split("(")[1].split(")")[0]


def test_check_encoded_compares_with_example_gen_counts(tmp_path):
    (tmp_path / "counts.json").write_text(json.dumps({"train": 10, "eval": 3, "test": 0, "dead_letter": {}}))
    check_encoded(tmp_path, {"train": [10, 50, 1, 0], "eval": [3, 9, 0, 0]}, ["train", "eval"])
    with pytest.raises(RuntimeError, match="train: 8 encoded, 10 in example_gen's counts"):
        check_encoded(tmp_path, {"train": [8, 40, 1, 0], "eval": [3, 9, 0, 0]}, ["train", "eval"])
    check_encoded(tmp_path / "missing", {"train": [1, 1, 0, 0]}, ["train"])  # no counts.json: nothing to compare

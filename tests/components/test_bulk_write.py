"""WriteBatchesToTFRecord: TensorFlow's framing, every record once, and a file count that follows the runner."""

import collections
import gzip

import apache_beam as beam
import pytest
import tensorflow as tf
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from components.transform.bulk_write import WriteBatchesToTFRecord, tfrecord_frames

RECORDS = [f"record {i} ".encode() * (i % 7 + 1) for i in range(600)]
BATCHES = [RECORDS[i:i + 50] for i in range(0, len(RECORDS), 50)]


def test_frames_are_the_bytes_tensorflow_writes(tmp_path):
    path = tmp_path / "tf.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in RECORDS[:20] + [b""]:
            writer.write(record)
    assert tfrecord_frames(RECORDS[:20] + [b""]) == path.read_bytes()


def _write(tmp_path, num_shards: int, options: list[str], reshuffle: bool = False):
    with beam.Pipeline(runner=FnApiRunner(), options=PipelineOptions(options)) as p:
        batches = p | beam.Create(BATCHES, reshuffle=False)
        if reshuffle:  # the batches reach the write stage from a shuffle, so both workers get some
            batches = batches | beam.Reshuffle()
        _ = batches | WriteBatchesToTFRecord(str(tmp_path / "data"), ".tfrecord.gz", num_shards)
    files = sorted(tmp_path.glob("data-*-of-*.tfrecord.gz"))
    records = [r.numpy() for r in tf.data.TFRecordDataset([str(f) for f in files], compression_type="GZIP")]
    return files, records


@pytest.mark.parametrize("num_shards", [1, 3])
def test_a_fixed_shard_count_writes_exactly_that_many_gzip_files(tmp_path, num_shards):
    files, records = _write(tmp_path, num_shards, [])
    assert [f.name for f in files] == [f"data-{i:05d}-of-{num_shards:05d}.tfrecord.gz" for i in range(num_shards)]
    assert collections.Counter(records) == collections.Counter(RECORDS)
    assert all(gzip.decompress(f.read_bytes()) for f in files)


def test_zero_shards_writes_a_file_per_bundle_without_a_shuffle_in_process(tmp_path):
    files, records = _write(tmp_path, 0, [])
    assert [f.name for f in files] == ["data-00000-of-00001.tfrecord.gz"]
    assert records == RECORDS  # one bundle, written where it was made: the order is kept too


def test_zero_shards_on_two_workers_writes_a_file_per_worker_bundle_and_every_record_once(tmp_path):
    files, records = _write(tmp_path, 0, ["--direct_running_mode=multi_threading", "--direct_num_workers=2"],
                            reshuffle=True)
    assert [f.name for f in files] == ["data-00000-of-00002.tfrecord.gz", "data-00001-of-00002.tfrecord.gz"]
    assert collections.Counter(records) == collections.Counter(RECORDS)

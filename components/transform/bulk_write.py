"""Writes batches of serialized records as sharded TFRecord files, one Beam element per batch.

`beam.io.WriteToTFRecord` takes one element per record, each written (and
compressed) in a call of its own. `WriteBatchesToTFRecord` takes the lists of
records the encoder already produces, so each batch is framed and handed to
the compressor in one write. Files, names and the record framing are those of
`WriteToTFRecord` (same `FileBasedSink`: temp files, then an atomic finalize).

`num_shards=0` (the transform's default) lets the runner decide: every bundle
the runner processes writes its own file where it was encoded, so the file
count follows the runner's parallelism and nothing is shuffled. `num_shards=N`
gives exactly N files: the batches are keyed round-robin and go through a
GroupByKey to their file's writer.

Example:

>>> _ = batches | WriteBatchesToTFRecord(str(out / "train" / "data"), ".tfrecord.gz", 2)  # doctest: +SKIP
"""

from __future__ import annotations

import struct
from typing import Sequence

import apache_beam as beam
import crcmod.predefined
from apache_beam.io.filebasedsink import FileBasedSink
from apache_beam.io.filesystem import CompressionTypes

_crc32c = crcmod.predefined.mkPredefinedCrcFun("crc-32c")


def _masked_crc32c(data: bytes) -> bytes:
    crc = _crc32c(data)
    return struct.pack("<I", (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF)


def tfrecord_frames(records: Sequence[bytes]) -> bytes:
    """The TFRecord framing of `records`: per record its length (uint64 LE), the length's masked crc32c,
    the data, the data's masked crc32c."""
    parts = []
    for record in records:
        length = struct.pack("<Q", len(record))
        parts += [length, _masked_crc32c(length), record, _masked_crc32c(record)]
    return b"".join(parts)


class _TFRecordBatchSink(FileBasedSink):
    """A FileBasedSink whose elements are lists of serialized records."""

    def __init__(self, file_path_prefix: str, file_name_suffix: str, num_shards: int,
                 compression_type: str) -> None:
        super().__init__(file_path_prefix, coder=None, file_name_suffix=file_name_suffix, num_shards=num_shards,
                         mime_type="application/octet-stream", compression_type=compression_type)

    def write_record(self, file_handle, value: Sequence[bytes]) -> None:
        file_handle.write(tfrecord_frames(value))


class WriteBatchesToTFRecord(beam.PTransform):
    """PCollection[list[bytes]] -> `<prefix>-SSSSS-of-NNNNN<suffix>` TFRecord files (gzip by default).

    Args:
        file_path_prefix: e.g. "<artifact>/train/data".
        file_name_suffix: e.g. ".tfrecord.gz".
        num_shards: number of files (each gets whole batches); 0: one file per bundle the runner writes.
        compression_type: a `CompressionTypes` value.
    """

    def __init__(self, file_path_prefix: str, file_name_suffix: str, num_shards: int,
                 compression_type: str = CompressionTypes.GZIP) -> None:
        super().__init__()
        self.sink = _TFRecordBatchSink(file_path_prefix, file_name_suffix, num_shards, compression_type)

    def expand(self, batches: beam.PCollection) -> beam.pvalue.PDone:
        return batches | beam.io.Write(self.sink)

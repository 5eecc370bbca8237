"""Records written against records meant: a Beam step checks its output files before it is published.

Beam runs the write, and a runner fault that drops a bundle or lets one shard's
rename overwrite another's leaves fewer records on disk than the step read,
with no error (seen once in a 10x IMDB run on 2 SDK workers; benchmarks/README.md).
`check_written` counts the records of every split's files (TensorFlow's
reader: a few hundred MB a second) and raises, so the step fails and its
unpublished output is never picked up by a later step.

Example:

>>> check_written(artifact_dir, {"train": 240, "eval": 30, "test": 30}, "example_gen")  # doctest: +SKIP
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Mapping

from serving import schema


def count_records(directory: Path | str, split: str) -> int:
    """The number of records in `<directory>/<split>/data-*.tfrecord.gz` (0 when there are no files)."""
    import tensorflow as tf

    files = sorted(glob.glob(schema.split_glob(directory, split)))
    if not files:
        return 0
    batches = tf.data.TFRecordDataset(files, compression_type="GZIP").batch(4096)
    return int(batches.reduce(tf.constant(0, tf.int64), lambda n, b: n + tf.shape(b, out_type=tf.int64)[0]))


def check_counts(found: Mapping[str, int], expected: Mapping[str, int], what: str, found_as: str,
                 expected_as: str) -> None:
    """Raises a one-line RuntimeError naming every split whose `found` count is not its `expected` one.

    `what` opens the message ("transform wrote other than the records it read"); each split reads
    "<split>: <found> <found_as>, <expected> <expected_as>"."""
    wrong = {split: (found.get(split, 0), n) for split, n in expected.items() if found.get(split, 0) != n}
    if wrong:
        listed = ", ".join(f"{split}: {got} {found_as}, {n} {expected_as}" for split, (got, n) in wrong.items())
        raise RuntimeError(
            f"{what} ({listed}). The runner lost or repeated records; the step's output is not published. Rerun "
            "the step; if it happens again, run in-process (no --direct_running_mode / --runner) and report the "
            "Beam version and runner."
        )


def check_written(directory: Path | str, expected: Mapping[str, int], step: str) -> None:
    """Raises a one-line RuntimeError when a split's files hold other than `expected[split]` records."""
    found = {split: count_records(directory, split) for split in expected}
    check_counts(found, expected, f"{step} wrote other than the records it read under {directory}",
                 "records in the files", "expected")

"""Logs that say what happened and nothing else: TensorFlow's and Beam's start-up noise filtered out.

On a CPU machine TensorFlow's C++ runtime prints oneDNN, "Could not find cuda
drivers" and `cuInit` lines on the first import and device query, before
`TF_CPP_MIN_LOG_LEVEL` applies, and oneDNN's DT_BOOL / DT_INT32 lines once per
process at the first graph with a bool / int32 transpose; Beam logs "apitools not found" and
type-hint conversions at every pipeline; the v1 SavedModel loader that `seqlab serve` runs
each version with says it is deprecated and that it restores parameters. `import_tensorflow()` does the
import, the device query and one such graph with file descriptor 2 captured
and writes back every line that is not known noise; `quiet_logging()` drops
Beam's and the loader's noise records. `-v` keeps everything.

Example:

>>> bool(NOISE.search("I0000 port.cc:153] oneDNN custom operations are on."))
True
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
from typing import Any, Callable

NOISE = re.compile(
    r"oneDNN custom operations|Could not find cuda drivers|failed call to cuInit|cudart_stub|"
    r"All log messages before absl::InitializeLog|Unable to register cu(DNN|FFT|BLAS) factory|"
    r"computation_placer|TF-TRT Warning|This TensorFlow binary is optimized|rebuild TensorFlow with the|"
    r"oneDNN supports DT_[A-Z0-9]+ only on platforms with AVX-512"
)
BEAM_NOISE = re.compile(
    r"apitools not found|bigquery_storage|Converting string literal type hint|BatchElements statistics|"
    r"Renamed \d+ shards|Creating state cache|python-snappy or google-crc32c"
)
# `serving/server/servable.py` loads on purpose with the v1 loader (the model server's way: one session a
# version); the manager logs each load with its time, so "Restoring parameters from ..." says nothing more.
LOADER_NOISE = re.compile(r"saved_model\.loader_impl\) is deprecated|^Restoring parameters from ")
_imported = False


def import_tensorflow(setup: Callable[[], Any] | None = None) -> None:
    """Imports TensorFlow once, passing on what its runtime prints to stderr except `NOISE`.

    `setup` runs right after the import, before this function runs its first op (TensorFlow sets up a
    multi-worker strategy's collective ops only then); on a later call, at once.
    """
    global _imported
    if _imported or "tensorflow" in sys.modules:
        _imported = True
        if setup is not None:
            setup()
        return
    _imported = True
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf

            if setup is not None:
                setup()
            tf.config.list_physical_devices("GPU")  # the device query prints the cuInit line
            # oneDNN's "supports DT_BOOL (DT_INT32) only on platforms with AVX-512" comes once per process, at
            # the first graph with a bool (int32) transpose, as a masked RNN has; have both here, filtered.
            tf.function(lambda x: (tf.transpose(x > 0), tf.transpose(tf.cast(x, tf.int32))))(tf.ones((1, 2)))
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        captured.seek(0)
        kept = [line for line in captured.read().decode("utf-8", "replace").splitlines(keepends=True)
                if line.strip() and not NOISE.search(line)]
    sys.stderr.write("".join(kept))


class _RecordNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (BEAM_NOISE.search(message) or LOADER_NOISE.search(message))


def quiet_logging() -> None:
    """Drops Beam's start-up and per-bundle noise and the SavedModel loader's lines from the root handlers."""
    for handler in logging.getLogger().handlers:
        handler.addFilter(_RecordNoise())

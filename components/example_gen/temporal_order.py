"""`builtin:temporal_order`: the long-range "temporal order" task of Hochreiter & Schmidhuber (1997), seeded.

Each example is `length` whitespace-separated symbols: "B" first, "E" last,
distractors drawn uniformly from {a, b, c, d} everywhere else except two
positions (0-based) t1 in [round(0.1·L), round(0.2·L)] and t2 in
[round(0.5·L), round(0.6·L)], which hold "X" or "Y". The label is that pair in
order: "XX", "XY", "YX" or "YY" (four classes, balanced in expectation). The
classifier must carry the first marked symbol across ~0.3·L distractors, which
is what a SimpleRNN cannot do at length 100 and an LSTM can.

Pure Python (no TensorFlow), so benchmarks can import it cheaply. After the
transform's default lowercasing "B" and the distractor "b" share a token;
that changes nothing, since "B" always sits at position 0 and carries no
information.

References:
    Hochreiter & Schmidhuber, "Long Short-Term Memory", Neural Computation 9(8), 1997 (experiment 6a).

Example:

>>> record = generate_temporal_order(1, seed=0, length=12)[0]
>>> symbols = record["text"].split()
>>> len(symbols), symbols[0], symbols[-1], record["label"] in LABELS
(12, 'B', 'E', True)
>>> ids, labels = temporal_order_arrays(3, seed=0, length=12)
>>> ids.shape, labels.shape, str(ids.dtype)
((3, 12), (3,), 'int32')
"""

from __future__ import annotations

import random

import numpy as np

from serving import schema

START_SYMBOL, END_SYMBOL = "B", "E"
MARKERS: tuple[str, ...] = ("X", "Y")
DISTRACTORS: tuple[str, ...] = ("a", "b", "c", "d")
LABELS: tuple[str, ...] = ("XX", "XY", "YX", "YY")  # sorted; label id = index here
MIN_LENGTH = 10
DEFAULT_LENGTH = 100

# Fixed symbol -> id map for `temporal_order_arrays`; 0 is left for padding (schema.PAD_ID).
SYMBOL_IDS: dict[str, int] = {"B": 1, "E": 2, "X": 3, "Y": 4, "a": 5, "b": 6, "c": 7, "d": 8}
VOCAB_SIZE = len(SYMBOL_IDS) + 1  # ids 0..8, 0 = padding


def marker_ranges(length: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """The inclusive 0-based ranges of t1 and t2 for a sequence of `length` symbols.

    Example:

    >>> marker_ranges(100)
    ((10, 20), (50, 60))
    """
    _check_length(length)
    return (round(0.1 * length), round(0.2 * length)), (round(0.5 * length), round(0.6 * length))


def _check_length(length: int) -> None:
    if isinstance(length, bool) or not isinstance(length, int) or length < MIN_LENGTH:
        raise ValueError(
            f"temporal_order length must be an integer >= {MIN_LENGTH} (the two marker ranges need room). "
            f"Received: length={length!r}"
        )


def generate_temporal_order(n: int, seed: int, length: int = DEFAULT_LENGTH) -> list[dict[str, str]]:
    """`n` classification records {"text": symbols, "label": marker pair}, deterministic in `seed`.

    Example:

    >>> generate_temporal_order(2, seed=3, length=20) == generate_temporal_order(2, seed=3, length=20)
    True
    """
    if n < 0:
        raise ValueError(f"n must be non-negative. Received: n={n}")
    (lo1, hi1), (lo2, hi2) = marker_ranges(length)
    rng = random.Random(seed)
    records = []
    for _ in range(n):
        symbols = [START_SYMBOL, *rng.choices(DISTRACTORS, k=length - 2), END_SYMBOL]
        t1, t2 = rng.randint(lo1, hi1), rng.randint(lo2, hi2)
        symbols[t1], symbols[t2] = rng.choice(MARKERS), rng.choice(MARKERS)
        records.append({schema.RAW_TEXT: " ".join(symbols), schema.RAW_LABEL: symbols[t1] + symbols[t2]})
    return records


def temporal_order_arrays(n: int, seed: int, length: int = DEFAULT_LENGTH) -> tuple[np.ndarray, np.ndarray]:
    """The same examples as `generate_temporal_order(n, seed, length)`, as arrays for pipeline-free benchmarks.

    Returns `ids`, int32 (n, length), symbols mapped by `SYMBOL_IDS` (1..8; 0 is
    free for padding), and `labels`, int32 (n,), the index of each label in
    `LABELS` ("XX"=0, "XY"=1, "YX"=2, "YY"=3).

    Example:

    >>> ids, labels = temporal_order_arrays(1, seed=0, length=10)
    >>> int(ids[0, 0]), int(ids[0, -1])
    (1, 2)
    """
    records = generate_temporal_order(n, seed, length)
    ids = np.array([[SYMBOL_IDS[s] for s in r[schema.RAW_TEXT].split()] for r in records], dtype=np.int32)
    labels = np.array([LABELS.index(r[schema.RAW_LABEL]) for r in records], dtype=np.int32)
    return ids.reshape(n, length), labels

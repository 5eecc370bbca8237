"""Deterministic, hash-based train/eval/test assignment.

The split depends only on the source text (SHA-256, not Python's salted
`hash`), so duplicate sources always land in the same split and re-runs agree.

Example:

>>> split_for("3 March 1998", 0.1, 0.1) == split_for("3 March 1998", 0.1, 0.1)
True
"""

from __future__ import annotations

import hashlib


def unit_interval(key: str) -> float:
    """A stable number in [0, 1) derived from `key`."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def split_for(key: str, eval_fraction: float, test_fraction: float) -> str:
    """"train" | "eval" | "test" for `key`, with the given fractions.

    Example:

    >>> split_for("anything", 0.0, 0.0)
    'train'
    """
    if not (0 <= eval_fraction and 0 <= test_fraction and eval_fraction + test_fraction < 1):
        raise ValueError(
            "Fractions must be non-negative and sum below 1. "
            f"Received: eval_fraction={eval_fraction}, test_fraction={test_fraction}"
        )
    u = unit_interval(key)
    if u < test_fraction:
        return "test"
    if u < test_fraction + eval_fraction:
        return "eval"
    return "train"

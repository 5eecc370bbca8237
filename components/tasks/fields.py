"""The transform's field declarations: which raw features become token ids and which become label ids.

Plain dataclasses (no TensorFlow), declared by each task (`Task.text_fields`, `Task.label_fields`).

Example:

>>> TextField("text", "token_ids", "max_source_length").side
'text'
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class TextField:
    """A raw text feature encoded into ids with its own vocabulary (vocab/<side>.txt).

    `max_length` names the TransformConfig field that truncates it (None: no limit);
    `append_end` adds [END] after truncating to max_length - 1; `pretokenized`
    features are lists of words, each word one token (only normalized).
    """

    side: str
    ids: str
    max_length: str | None = None
    append_end: bool = False
    pretokenized: bool = False


@dataclasses.dataclass(frozen=True)
class LabelField:
    """A raw label feature (one string, or one per token) mapped through vocab/<vocab>.txt."""

    raw: str
    ids: str
    vocab: str
    unseen_id: int
    is_list: bool = False

"""Tagging metrics: token accuracy (POS and NER) and entity-level precision/recall/F1 (NER).

Entities are read the way conlleval (and seqeval's default, non-strict mode)
reads them, so IOB1, IOB2, IOE1/2 and IOBES tags all work and ill-formed
sequences are repaired the same way: an `I-X` after `O` or after a tag of
another type starts a new entity, a change of type ends the current one, and
a sentence end closes whatever is open. An entity counts as correct only if
its type, start and end all match a gold entity.

Padding: positions whose gold tag is `[PAD]` are dropped from both sequences,
and a predicted sequence longer than its gold one is cut to the gold length.
The reserved tags `[PAD]`/`[UNK]` predicted at a real position are wrong for
token accuracy and read as `O` for entities.

Example:

>>> gold = [["B-PER", "I-PER", "O", "B-LOC"]]
>>> pred = [["B-PER", "I-PER", "O", "B-ORG"]]
>>> token_accuracy(gold, pred)
0.75
>>> get_entities(["O", "I-PER", "I-PER", "B-LOC", "I-ORG"])
[('PER', 1, 2), ('LOC', 3, 3), ('ORG', 4, 4)]
>>> entity_prf(gold, pred)["overall"]["f1"]
0.5
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Sequence

from components.evaluator.metrics import check_lengths
from serving import schema

# The reserved tags of vocab/tags.txt; never part of an entity.
RESERVED_TAGS: frozenset[str] = frozenset({schema.PAD, schema.UNK})
# Chunk prefixes conlleval understands: IOB1/IOB2 (B, I), IOE (E), IOBES (S).
ENTITY_PREFIXES: tuple[str, ...] = ("B-", "I-", "E-", "S-")


def _split_tag(tag: str) -> tuple[str, str]:
    """(prefix letter, type) as conlleval splits it: "B-PER" -> ("B", "PER"), "O" -> ("O", "_")."""
    return tag[:1], tag[1:].split("-", maxsplit=1)[-1] or "_"


def _ends_chunk(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    """conlleval's endOfChunk: does the chunk open at the previous token end before this one?"""
    if prev_tag in ("E", "S"):
        return True
    if prev_tag in ("B", "I") and tag in ("B", "S", "O"):
        return True
    return prev_tag not in ("O", ".") and prev_type != type_


def _starts_chunk(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    """conlleval's startOfChunk: does a chunk start at this token?"""
    if tag in ("B", "S"):
        return True
    if prev_tag in ("E", "S", "O") and tag in ("E", "I"):
        return True
    return tag not in ("O", ".") and prev_type != type_


def get_entities(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """The (type, first, last) entities of one sentence, inclusive positions, in order."""
    entities = []
    prev_tag, prev_type, begin = "O", "_", 0
    for i, label in enumerate([*tags, "O"]):  # the trailing O closes a chunk at the sentence end
        tag, type_ = _split_tag(label)
        if _ends_chunk(prev_tag, tag, prev_type, type_):
            entities.append((prev_type, begin, i - 1))
        if _starts_chunk(prev_tag, tag, prev_type, type_):
            begin = i
        prev_tag, prev_type = tag, type_
    return entities


def _strip_padding(
    gold_seqs: Sequence[Sequence[str]], pred_seqs: Sequence[Sequence[str]]
) -> list[tuple[list[str], list[str]]]:
    """(gold, pred) pairs with gold [PAD] positions dropped and pred cut to the gold length."""
    check_lengths(gold_seqs=gold_seqs, pred_seqs=pred_seqs)  # one tag list per sentence
    pairs = []
    for n, (gold, pred) in enumerate(zip(gold_seqs, pred_seqs)):
        if isinstance(gold, str) or isinstance(pred, str):
            raise TypeError(
                "gold_seqs and pred_seqs must be lists of tag lists, not lists of strings. "
                f"Received: sentence {n}: gold={gold!r}, pred={pred!r}"
            )
        if len(pred) < len(gold):
            raise ValueError(
                "Each predicted sentence needs a tag for every gold token. "
                f"Received: sentence {n} with len(gold)={len(gold)}, len(pred)={len(pred)}"
            )
        kept = [(g, p) for g, p in zip(gold, pred) if g != schema.PAD]
        pairs.append(([g for g, _ in kept], [p for _, p in kept]))
    return pairs


def token_accuracy(gold_seqs: Sequence[Sequence[str]], pred_seqs: Sequence[Sequence[str]]) -> float:
    """Fraction of non-padding tokens tagged correctly, over all sentences (0.0 when empty)."""
    pairs = _strip_padding(gold_seqs, pred_seqs)
    total = sum(len(gold) for gold, _ in pairs)
    correct = sum(g == p for gold, pred in pairs for g, p in zip(gold, pred))
    return correct / total if total else 0.0


def _prf(correct: int, predicted: int, support: int) -> dict[str, float]:
    # Same operations as seqeval, so the floats agree bit for bit.
    precision = correct / predicted if predicted else 0.0
    recall = correct / support if support else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


def entity_prf(
    gold_seqs: Sequence[Sequence[str]], pred_seqs: Sequence[Sequence[str]]
) -> dict[str, Any]:
    """Entity-level precision, recall and F1, overall (micro) and per entity type.

    Returns:
        {"overall": {"precision", "recall", "f1", "support"},
        "per_type": {type: {...same keys}}}, types sorted; `support` counts
        gold entities. Undefined ratios are 0.0, like seqeval's default.
    """
    gold_entities: dict[str, set] = defaultdict(set)
    pred_entities: dict[str, set] = defaultdict(set)
    for n, (gold, pred) in enumerate(_strip_padding(gold_seqs, pred_seqs)):
        pred = ["O" if p in RESERVED_TAGS else p for p in pred]
        for entities, tags in ((gold_entities, gold), (pred_entities, pred)):
            for type_, first, last in get_entities(tags):
                entities[type_].add((n, first, last))
    per_type = {t: _prf(len(gold_entities[t] & pred_entities[t]), len(pred_entities[t]), len(gold_entities[t]))
                for t in sorted(set(gold_entities) | set(pred_entities))}
    overall = _prf(
        sum(len(gold_entities[t] & pred_entities[t]) for t in per_type),
        sum(len(pred_entities[t]) for t in per_type),
        sum(len(gold_entities[t]) for t in per_type),
    )
    return {"overall": overall, "per_type": per_type}


def looks_like_bio(gold_seqs: Sequence[Sequence[str]]) -> bool:
    """True when every gold tag is `O` (or padding) or carries a B-/I-/E-/S- prefix, and one does."""
    tags = {tag for seq in gold_seqs for tag in seq} - RESERVED_TAGS
    prefixed = {tag for tag in tags if tag.startswith(ENTITY_PREFIXES)}
    return bool(prefixed) and tags - prefixed <= {"O"}


def vocabulary_split_accuracy(
    gold_seqs: Sequence[Sequence[str]], pred_seqs: Sequence[Sequence[str]], unknown: Sequence[Sequence[bool]]
) -> dict[str, float]:
    """Token accuracy apart on words the vocabulary has and on out-of-vocabulary words.

    `unknown` holds one flag per gold token (True: the word's id is `[UNK]`);
    gold `[PAD]` positions are dropped as everywhere here. Returns
    {"oov_rate", "token_accuracy_in_vocab", "token_accuracy_oov"}; an accuracy
    over no tokens is None (a split without OOV words has no OOV accuracy).

    Example:

    >>> vocabulary_split_accuracy([["DT", "NN"]], [["DT", "VB"]], [[False, True]])["token_accuracy_oov"]
    0.0
    """
    _strip_padding(gold_seqs, pred_seqs)  # the same checks as every metric here
    check_lengths(gold_seqs=gold_seqs, unknown=unknown)
    counts = {False: [0, 0], True: [0, 0]}  # unknown -> [tokens, correct]
    for gold, pred, flags in zip(gold_seqs, pred_seqs, unknown):
        if len(flags) != len(gold):
            raise ValueError(f"Expected one unknown flag per gold tag. Received: gold={gold!r}, unknown={flags!r}")
        for g, p, flag in zip(gold, pred, flags):
            if g != schema.PAD:
                counts[bool(flag)][0] += 1
                counts[bool(flag)][1] += g == p
    total = counts[False][0] + counts[True][0]
    return {"oov_rate": counts[True][0] / total if total else 0.0,
            "token_accuracy_in_vocab": counts[False][1] / counts[False][0] if counts[False][0] else None,
            "token_accuracy_oov": counts[True][1] / counts[True][0] if counts[True][0] else None}


def joint_tag_accuracy(
    gold_seqs: Sequence[Sequence[str]], pred_seqs: Sequence[Sequence[str]], parts: Sequence[str], separator: str
) -> dict[str, float]:
    """Token accuracy of each part of joint tags, as `{"token_accuracy_<part>": ...}`.

    A joint tag joins one value per part with `separator` (CoNLL-U "upos+xpos":
    "NOUN|NN"). A predicted tag without every part (a reserved tag) is wrong
    for each part.

    Example:

    >>> joint_tag_accuracy([["NOUN|NN", "VERB|VBD"]], [["NOUN|NNS", "VERB|VBD"]], ["upos", "xpos"], "|")
    {'token_accuracy_upos': 1.0, 'token_accuracy_xpos': 0.5}
    """
    pairs = _strip_padding(gold_seqs, pred_seqs)
    total = sum(len(gold) for gold, _ in pairs)
    correct = [0] * len(parts)
    for gold, pred in pairs:
        for g, p in zip(gold, pred):
            # At most len(parts) pieces: a separator inside the last part (an XPOS with "|") stays in it.
            g_parts, p_parts = g.split(separator, len(parts) - 1), p.split(separator, len(parts) - 1)
            if len(g_parts) != len(parts):
                raise ValueError(f"Expected gold tags of {len(parts)} parts {list(parts)} joined by {separator!r}. "
                                 f"Received: {g!r}")
            for i, value in enumerate(g_parts):
                correct[i] += len(p_parts) == len(parts) and p_parts[i] == value
    return {f"token_accuracy_{part}": (n / total if total else 0.0) for part, n in zip(parts, correct)}


def compute_tagging_metrics(
    gold: Sequence[Sequence[str]],
    pred: Sequence[Sequence[str]],
    entity_level: bool | None = None,
    unknown: Sequence[Sequence[bool]] | None = None,
    joint_parts: Sequence[str] = (),
    separator: str = "|",
) -> dict[str, Any]:
    """All tagging metrics for one split, JSON-serializable.

    Args:
        gold: gold tag sequences, one list of tag strings per sentence.
        pred: predicted tag sequences, aligned with `gold`.
        entity_level: add entity precision/recall/F1. None (default) decides
            from the gold tags (`looks_like_bio`); True requires BIO-style
            tags; False gives token accuracy only (e.g. POS tagging).
        unknown: optional, per gold token True where the word is out of the
            vocabulary: adds `vocabulary_split_accuracy`'s three figures.
        joint_parts, separator: the names of the parts of joint tags (two or
            more; CoNLL-U "upos+xpos": ["upos", "xpos"]), and what joins them.

    Returns:
        {"num_sentences", "num_tokens", "token_accuracy"}, with `unknown` the
        OOV figures, with `joint_parts` `joint_tag_accuracy`'s, and, with entities,
        "entity_precision", "entity_recall", "entity_f1", "entity_support"
        (overall, micro-averaged) and "entity_per_type": {type: {...}}.
    """
    bio = looks_like_bio(gold)
    if entity_level and not bio:
        others = sorted({t for s in gold for t in s} - RESERVED_TAGS - {"O"})[:5]
        raise ValueError(
            "entity_level=True needs BIO-style gold tags (O, B-X, I-X, E-X, S-X). "
            f"Received tags such as {others}. Pass entity_level=False for token accuracy only."
        )
    pairs = _strip_padding(gold, pred)
    metrics: dict[str, Any] = {
        "num_sentences": len(pairs),
        "num_tokens": sum(len(g) for g, _ in pairs),
        "token_accuracy": token_accuracy(gold, pred),
    }
    if unknown is not None:
        metrics.update(vocabulary_split_accuracy(gold, pred, unknown))
    if len(joint_parts) > 1:
        metrics.update(joint_tag_accuracy(gold, pred, joint_parts, separator))
    if entity_level or (entity_level is None and bio):
        scores = entity_prf(gold, pred)
        metrics.update({f"entity_{key}": value for key, value in scores["overall"].items()})
        metrics["entity_per_type"] = scores["per_type"]
    return metrics

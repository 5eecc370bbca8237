"""Corpus metrics for translation: exact match, character error rate, BLEU, chrF.

Example:

>>> compute_metrics(["2024-01-02"], ["2024-01-03"], tokenizer="char")["exact_match"]
0.0
>>> character_error_rate(["abd"], ["abc"])
0.3333333333333333
"""

from __future__ import annotations

from typing import Sequence

import sacrebleu

# Metrics where a smaller value is better (blessing compares the other way).
LOWER_IS_BETTER: frozenset[str] = frozenset({"cer", "nats_per_token", "perplexity"})


def levenshtein(a: Sequence, b: Sequence) -> int:
    """Edit distance (insertions, deletions, substitutions each cost 1)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        current = [i]
        for j, y in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def check_lengths(**sequences: Sequence) -> None:
    """Raises unless the two sequences, passed by name (`predictions=..., references=...`), are as long."""
    (first, a), (second, b) = sequences.items()
    if len(a) != len(b):
        raise ValueError(f"{first} and {second} must have the same length. "
                         f"Received: len({first})={len(a)}, len({second})={len(b)}")


def exact_match(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Fraction of predictions equal to their reference."""
    check_lengths(predictions=predictions, references=references)
    if not references:
        return 0.0
    return sum(p == r for p, r in zip(predictions, references)) / len(references)


def character_error_rate(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Sum of character edit distances over the sum of reference lengths."""
    check_lengths(predictions=predictions, references=references)
    distance = sum(levenshtein(p, r) for p, r in zip(predictions, references))
    total = sum(len(r) for r in references)
    return distance / total if total else float(distance > 0)


def bleu(predictions: Sequence[str], references: Sequence[str], tokenize: str = "13a", lowercase: bool = False) -> float:
    """sacrebleu corpus BLEU (0-100); `tokenize="char"` for character-level text, `lowercase` to ignore case."""
    check_lengths(predictions=predictions, references=references)
    return float(sacrebleu.corpus_bleu(list(predictions), [list(references)], tokenize=tokenize,
                                       lowercase=lowercase).score)


def chrf(predictions: Sequence[str], references: Sequence[str]) -> float:
    """sacrebleu corpus chrF (0-100)."""
    check_lengths(predictions=predictions, references=references)
    return float(sacrebleu.corpus_chrf(list(predictions), [list(references)]).score)


def compute_metrics(
    predictions: Sequence[str], references: Sequence[str], tokenizer: str = "char",
    raw_references: Sequence[str] | None = None,
) -> dict[str, float]:
    """All translation metrics for one split.

    Args:
        predictions: decoded model outputs.
        references: the normalized reference strings (lowercased when the transform lowercases).
        tokenizer: the transform's tokenizer kind; "char" scores BLEU on
            characters, "word" with sacrebleu's 13a tokenizer.
        raw_references: the references as the corpus writes them: adds `bleu_cased`, BLEU against them
            with case (what a model that lowercases loses to case).

    `bleu` is against `references`; `bleu_lowercase` is sacrebleu's `lowercase=True` (the figure of the
    published teaching results).
    """
    tokenize = "char" if tokenizer == "char" else "13a"
    out = {
        "num_examples": len(references),
        "exact_match": exact_match(predictions, references),
        "cer": character_error_rate(predictions, references),
        "bleu": bleu(predictions, references, tokenize=tokenize),
        "bleu_lowercase": bleu(predictions, references, tokenize=tokenize, lowercase=True),
        "chrf": chrf(predictions, references),
    }
    if raw_references is not None:
        out["bleu_cased"] = bleu(predictions, raw_references, tokenize=tokenize)
    return out


def is_blessed(metric: str, value: float, threshold: float) -> bool:
    """`value >= threshold`, or `<=` for metrics where lower is better."""
    return value <= threshold if metric in LOWER_IS_BETTER else value >= threshold

"""Vocabulary construction, pure Python (the Beam graph calls it on the collected counts).

Reserved tokens come first with fixed ids (schema.RESERVED_TOKENS), then tokens
by count descending, ties by token ascending; tokens under `min_count` are
dropped and the whole list (reserved included) is capped at `max_size`.

Example:

>>> build_vocabulary([("b", 2), ("a", 2), ("c", 5), ("d", 1)], max_size=7, min_count=2)
['[PAD]', '[UNK]', '[START]', '[END]', 'c', 'a', 'b']
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Iterable, Mapping, Sequence

from serving import schema

MAX_WORDPIECE_LENGTH = 100  # longest word (in characters) the WordPiece learner looks inside


def build_vocabulary(counts: Iterable[tuple[str, int]], max_size: int, min_count: int) -> list[str]:
    """Reserved tokens + the most frequent tokens (see module docstring); the config loader checks that
    `max_size` holds the reserved tokens, as it checks `vocab_size` for `learn_wordpiece_vocabulary`."""
    reserved = set(schema.RESERVED_TOKENS)
    kept = [(tok, n) for tok, n in counts if n >= min_count and tok not in reserved]
    kept.sort(key=lambda item: (-item[1], item[0]))
    room = max_size - len(schema.RESERVED_TOKENS)
    return list(schema.RESERVED_TOKENS) + [tok for tok, _ in kept[:room]]


def extend_vocabulary(tokens: Sequence[str], words: Iterable[str]) -> list[str]:
    """`tokens` + the `words` it lacks, in their order, each once (empty words and words holding a line break
    are skipped: a vocabulary file holds one token per line).

    >>> extend_vocabulary(["[PAD]", "the"], ["the", "cat", "", "cat", "dog"])
    ['[PAD]', 'the', 'cat', 'dog']
    """
    out, seen = list(tokens), set(tokens)
    for word in words:
        if word and word not in seen and "\n" not in word and "\r" not in word:
            seen.add(word)
            out.append(word)
    return out


def check_vocab_tokens(tokens: Sequence[str]) -> None:
    """Vocab files are one token per line: a token holding a line break would shift every id."""
    for token in tokens:
        if token == "" or "\n" in token or "\r" in token:
            raise ValueError(f"Vocabulary token cannot be empty or hold a line break. Received: token={token!r}")


def write_vocab_file(path, tokens: Sequence[str]) -> None:
    """One token per line, line number = id, nothing escaped."""
    check_vocab_tokens(tokens)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("".join(token + "\n" for token in tokens))


def fingerprint(vocabs: Mapping[str, Sequence[str]], spec: Mapping[str, Any]) -> str:
    """A stable hash of the vocabulary contents and the tokenizer spec."""
    blob = json.dumps({"vocab": {k: list(v) for k, v in vocabs.items()}, "tokenizer": spec}, sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def learn_wordpiece_vocabulary(word_counts: Iterable[tuple[str, int]], vocab_size: int) -> list[str]:
    """WordPiece vocabulary learned from word counts by tensorflow-text's learner.

    Reserved tokens come first with their fixed ids, then every character seen
    in the words (as a word start and as a "##" suffix: so text made of seen
    characters never becomes [UNK], which can make the vocabulary exceed
    `vocab_size` for scripts with many characters), then learned subwords.

    Example:

    >>> learn_wordpiece_vocabulary([("low", 5), ("lower", 2)], 20)[:6]
    ['[PAD]', '[UNK]', '[START]', '[END]', 'e', 'l']
    """
    from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib as learner

    reserved = set(schema.RESERVED_TOKENS)
    counts = sorted((w, n) for w, n in word_counts if w and w not in reserved)
    if not counts:
        return list(schema.RESERVED_TOKENS)
    chars = {c for word, _ in counts for c in word}
    vocab = learner.learn(
        counts,
        vocab_size=vocab_size,
        reserved_tokens=list(schema.RESERVED_TOKENS),
        upper_thresh=None,
        lower_thresh=1,
        max_input_tokens=-1,
        max_token_length=MAX_WORDPIECE_LENGTH,
        max_unique_chars=len(chars),
    )
    # The learner skips words longer than MAX_WORDPIECE_LENGTH: keep their characters too.
    known = set(vocab)
    missing = sorted(c for c in chars if c not in known) + sorted(
        "##" + c for c in chars if "##" + c not in known
    )
    return list(vocab) + missing


def label_vocabulary(values: Iterable[str]) -> list[str]:
    """Classification labels: the sorted label names seen in train (id = position)."""
    return sorted(set(values))


def tag_vocabulary(values: Iterable[str]) -> list[str]:
    """Tagging tags: [PAD]=0 (padding, ignored by the loss), [UNK]=1 (unseen tags), then sorted tags."""
    reserved = schema.TAG_RESERVED_TOKENS
    return list(reserved) + sorted(set(values) - set(reserved))

"""`builtin:dialogue` (language_model): short play scenes in the layout of Tiny Shakespeare, seeded.

Each record is {"text": scene}. A scene is 2-6 speeches by two or three
members of a fixed cast of eight (`CAST`); consecutive speeches have different
speakers. A speech is the speaker's name in capitals, ":" and a newline, then
1-3 lines of verse-like text, each ending with "\\n"; speeches are separated by
one blank line, and the scene ends with a single "\\n" (no other trailing
whitespace); `generate_dialogue`'s example prints one.

Lines come from a small grammar (`_line`): statements, questions,
exclamations and addresses built from fixed word lists (`VOCABULARY`, 101
words), with commas, "!", "?" or "." and a capitalized first word. The
characters are ASCII letters, space, newline and ",.!?:" only (well under 60),
so a character-level language model picks up the speaker names and the line
structure within a few hundred steps.

Deterministic for (n, seed) on any Python 3: only `random.Random(seed)` and
its `random`, `randrange` and `choice` methods are used, over tuples in fixed
order.

Example:

>>> records = generate_dialogue(2, seed=0)
>>> len(records), sorted(records[0])
(2, ['text'])
>>> text = records[0]["text"]
>>> text.split(":\\n")[0] in CAST, text.endswith("\\n") and not text.endswith("\\n\\n")
(True, True)
"""

from __future__ import annotations

import random

from serving import schema

CAST: tuple[str, ...] = (
    "KING HENRY", "QUEEN MARGARET", "FIRST CITIZEN", "SECOND CITIZEN",
    "MARIA", "SECOND LORD", "DUKE VINCENTIO", "ROMEO",
)
MIN_SPEECHES, MAX_SPEECHES = 2, 6
MIN_LINES, MAX_LINES = 1, 3

_DETERMINERS = ("the", "my", "thy", "our", "his", "her", "this", "yon")
_ADJECTIVES = ("gentle", "noble", "cruel", "sweet", "fair", "bloody", "weary", "proud", "false", "old")
_NOUNS = (
    "king", "queen", "heart", "sword", "crown", "night", "soul", "father", "blood", "grave",
    "tongue", "eye", "love", "day", "honour", "lord", "mother", "city", "field", "war",
)
_SUBJECT_PRONOUNS = ("I", "we", "he", "she", "they")
_OBJECT_PRONOUNS = ("thee", "him", "her", "me", "us", "them")
_AUXILIARIES = ("shall", "will", "must", "may", "would", "cannot", "dare not")
_VERBS = (
    "love", "keep", "break", "kill", "bless", "fear", "hold", "seek", "wear", "grant",
    "curse", "follow", "defend", "betray",
)
_PREPOSITIONS = ("with", "upon", "before", "against", "within", "beneath", "for")
_ADVERBS = ("tonight", "anon", "no more", "forever", "again", "too soon", "in vain")
_INTERJECTIONS = ("O", "Alas", "Hark", "Fie", "Nay", "Ay", "Marry", "Well")
_ADDRESSES = ("my lord", "good sir", "sweet cousin", "fair lady", "my liege", "gentle friend", "good madam")
_STATEMENT_ENDS = (".", ".", ".", "!")

# Every word the grammar can emit (names excluded), each once, in order of first appearance above.
VOCABULARY: tuple[str, ...] = tuple(dict.fromkeys(
    word
    for group in (_DETERMINERS, _ADJECTIVES, _NOUNS, _SUBJECT_PRONOUNS, _OBJECT_PRONOUNS, _AUXILIARIES,
                  _VERBS, _PREPOSITIONS, _ADVERBS, _INTERJECTIONS, _ADDRESSES)
    for phrase in group
    for word in phrase.split()
))


def _noun_phrase(rng: random.Random) -> str:
    if rng.random() < 0.4:
        return f"{rng.choice(_DETERMINERS)} {rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}"
    return f"{rng.choice(_DETERMINERS)} {rng.choice(_NOUNS)}"


def _subject(rng: random.Random) -> str:
    return rng.choice(_SUBJECT_PRONOUNS) if rng.random() < 0.4 else _noun_phrase(rng)


def _object(rng: random.Random) -> str:
    return rng.choice(_OBJECT_PRONOUNS) if rng.random() < 0.35 else _noun_phrase(rng)


def _adverbial(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return rng.choice(_ADVERBS)
    return f"{rng.choice(_PREPOSITIONS)} {_noun_phrase(rng)}"


def _line(rng: random.Random) -> str:
    """One line of verse-like text, first letter capitalized, ending in ".", "!" or "?"."""
    kind = rng.randrange(5)
    if kind == 0:  # statement: the noble king shall keep thy crown tonight.
        line = (f"{_subject(rng)} {rng.choice(_AUXILIARIES)} {rng.choice(_VERBS)} {_object(rng)} "
                f"{_adverbial(rng)}{rng.choice(_STATEMENT_ENDS)}")
    elif kind == 1:  # question: shall we break the sword?
        auxiliary = rng.choice(_AUXILIARIES[:5])  # "cannot"/"dare not" read badly in front
        line = f"{auxiliary} {_subject(rng)} {rng.choice(_VERBS)} {_object(rng)}?"
    elif kind == 2:  # exclamation: alas, my heart will break!
        line = (f"{rng.choice(_INTERJECTIONS)}, {_subject(rng)} {rng.choice(_AUXILIARIES)} {rng.choice(_VERBS)} "
                f"{_object(rng)}!")
    elif kind == 3:  # address: we must defend the city, my lord.
        line = (f"{_subject(rng)} {rng.choice(_AUXILIARIES)} {rng.choice(_VERBS)} {_object(rng)}, "
                f"{rng.choice(_ADDRESSES)}{rng.choice(_STATEMENT_ENDS)}")
    else:  # interjection and address: nay, good sir, thy father would curse them again.
        line = (f"{rng.choice(_INTERJECTIONS)}, {rng.choice(_ADDRESSES)}, {_subject(rng)} "
                f"{rng.choice(_AUXILIARIES)} {rng.choice(_VERBS)} {_adverbial(rng)}{rng.choice(_STATEMENT_ENDS)}")
    return line[0].upper() + line[1:]


def _scene(rng: random.Random) -> str:
    players = [rng.choice(CAST)]
    for _ in range(1 + rng.randrange(2)):  # two or three players
        players.append(rng.choice([name for name in CAST if name not in players]))
    speeches = []
    speaker = None
    for _ in range(rng.randrange(MIN_SPEECHES, MAX_SPEECHES + 1)):
        speaker = rng.choice([name for name in players if name != speaker])
        lines = [_line(rng) for _ in range(rng.randrange(MIN_LINES, MAX_LINES + 1))]
        speeches.append(f"{speaker}:\n" + "".join(f"{line}\n" for line in lines))
    return "\n".join(speeches)


def generate_dialogue(n: int, seed: int) -> list[dict[str, str]]:
    """`n` language-model records {"text": play scene}, deterministic in `seed`.

    Example:

    >>> generate_dialogue(3, seed=5) == generate_dialogue(3, seed=5)
    True
    >>> print(generate_dialogue(3, seed=0)[2]["text"], end="")
    MARIA:
    Ay, the war cannot seek this eye!
    Hark, good sir, he shall break no more.
    Alas, they shall love him!
    <BLANKLINE>
    KING HENRY:
    My proud father shall bless us, gentle friend.
    Marry, my noble city may seek her!
    """
    if n < 0:
        raise ValueError(f"n must be non-negative. Received: n={n}")
    rng = random.Random(seed)
    return [{schema.RAW_TEXT: _scene(rng)} for _ in range(n)]

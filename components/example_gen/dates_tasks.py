"""`builtin:date_tags` (tagging) and `builtin:date_validity` (classification), derived from `builtin:dates`.

Both draw dates, surface forms and case variants as `dates.generate_dates`
does (all nine `dates.FORMATS`), seeded with `random.Random(seed)`.

`date_tags`: tokens are the words of the formatted date, split on whitespace,
with every ",", "/" and "." split off as its own token, so the numeric forms
are tokenized too ("03.03.1998" -> 03 . 03 . 1998). Each field is one token,
so the tags are B- only: B-DAY (including ordinals such as "3rd"), B-MONTH
(name, abbreviation or number), B-YEAR (four digits), B-WEEKDAY (name or
abbreviation), and O for separators and "of".

`date_validity`: exactly half (the extra one of an odd `n` is valid, order
shuffled by the seed) are impossible dates in the same forms: 30/31 February,
29 February of a common year (1900, 2001, ...), 31 of a 30-day month, day 0,
day 32. Weekday forms carry a random weekday for invalid dates, the true one
for valid dates.

Example:

>>> date_tokens_and_tags("Tuesday, March 3, 1998", "weekday_long")
(['Tuesday', ',', 'March', '3', ',', '1998'], ['B-WEEKDAY', 'O', 'B-MONTH', 'B-DAY', 'O', 'B-YEAR'])
>>> generate_date_validity(2, seed=0)[0]["label"] in VALIDITY_LABELS
True
"""

from __future__ import annotations

import calendar
import dataclasses
import random
import re

from serving import schema
from components.example_gen import dates

TAGS: tuple[str, ...] = ("B-DAY", "B-MONTH", "B-WEEKDAY", "B-YEAR", "O")
# The tag of each token of each form, in order (tokens as `date_tokens` splits them).
FORM_TAGS: dict[str, tuple[str, ...]] = {
    "dmy_long": ("B-DAY", "B-MONTH", "B-YEAR"),  # 3 March 1998
    "mdy_long": ("B-MONTH", "B-DAY", "O", "B-YEAR"),  # March 3 , 1998
    "ordinal_of": ("B-DAY", "O", "B-MONTH", "O", "B-YEAR"),  # 3rd of March , 1998
    "weekday_long": ("B-WEEKDAY", "O", "B-MONTH", "B-DAY", "O", "B-YEAR"),  # Tuesday , March 3 , 1998
    "weekday_short": ("B-WEEKDAY", "B-DAY", "B-MONTH", "B-YEAR"),  # Tue 3 Mar 1998
    "mdy_short": ("B-MONTH", "B-DAY", "B-YEAR"),  # Mar 3 1998
    "dotted_dmy": ("B-DAY", "O", "B-MONTH", "O", "B-YEAR"),  # 03 . 03 . 1998
    "slashed_ymd": ("B-YEAR", "O", "B-MONTH", "O", "B-DAY"),  # 1998 / 03 / 03
    "slashed_dmy": ("B-DAY", "O", "B-MONTH", "O", "B-YEAR"),  # 3 / Mar / 1998
}
VALIDITY_LABELS: tuple[str, ...] = ("invalid", "valid")
INVALID_KINDS: tuple[str, ...] = ("february_30_31", "february_29_common_year", "day_31_short_month", "day_0", "day_32")

_TOKEN_RE = re.compile(r"[^\s,./]+|[,./]")


@dataclasses.dataclass(frozen=True)
class LooseDate:
    """A (year, month, day) that need not exist, with a given weekday; renders through `dates.FORMATS`.

    Example:

    >>> dates.FORMATS["dmy_long"](LooseDate(1998, 2, 31, weekday_index=0))
    '31 February 1998'
    """

    year: int
    month: int
    day: int
    weekday_index: int

    def weekday(self) -> int:
        """Monday = 0, as `datetime.date.weekday`."""
        return self.weekday_index


def date_tokens(text: str) -> list[str]:
    """Words split on whitespace, with ",", "/" and "." as tokens of their own.

    Example:

    >>> date_tokens("3rd of March, 1998"), date_tokens("1998/03/03")
    (['3rd', 'of', 'March', ',', '1998'], ['1998', '/', '03', '/', '03'])
    """
    return _TOKEN_RE.findall(text)


def date_tokens_and_tags(text: str, form: str) -> tuple[list[str], list[str]]:
    """`text` (a date rendered in `form`) -> (tokens, one tag per token)."""
    if form not in FORM_TAGS:
        raise ValueError(f"Unknown date form '{form}'. Available: {sorted(FORM_TAGS)}. Received: form={form!r}")
    tokens, tags = date_tokens(text), list(FORM_TAGS[form])
    if len(tokens) != len(tags):
        raise ValueError(
            f"Form {form!r} should give {len(tags)} tokens but {text!r} gives {len(tokens)}: {tokens}. "
            "FORM_TAGS and dates.FORMATS disagree; update FORM_TAGS."
        )
    return tokens, tags


def _form_and_case(rng: random.Random, forms: list[str]) -> tuple[str, str]:
    form = rng.choice(forms)
    return form, rng.choice(dates.cases_for(form))


def generate_date_tags(n: int, seed: int) -> list[dict[str, list[str]]]:
    """`n` tagging records {"tokens": words, "tags": B-DAY/B-MONTH/B-YEAR/B-WEEKDAY/O}, deterministic in `seed`.

    Example:

    >>> record = generate_date_tags(1, seed=0)[0]
    >>> len(record["tokens"]) == len(record["tags"])
    True
    """
    _check_n(n)
    rng = random.Random(seed)
    forms = sorted(dates.FORMATS)
    records = []
    for _ in range(n):
        date = dates.random_date(rng)
        form, case = _form_and_case(rng, forms)
        tokens, tags = date_tokens_and_tags(dates.format_date(date, form, case), form)
        records.append({schema.RAW_TOKENS: tokens, schema.RAW_TAGS: tags})
    return records


def impossible_date(rng: random.Random, kind: str | None = None) -> LooseDate:
    """A (year, month, day) that is no date, of `kind` (one of `INVALID_KINDS`; random if None).

    Example:

    >>> d = impossible_date(random.Random(0), "february_29_common_year")
    >>> d.month, d.day, calendar.isleap(d.year)
    (2, 29, False)
    """
    kind = rng.choice(INVALID_KINDS) if kind is None else kind
    year = rng.randint(dates.FIRST_DATE.year, dates.LAST_DATE.year)
    month = rng.randint(1, 12)
    if kind == "february_30_31":
        month, day = 2, rng.choice((30, 31))
    elif kind == "february_29_common_year":
        while calendar.isleap(year):
            year = rng.randint(dates.FIRST_DATE.year, dates.LAST_DATE.year)
        month, day = 2, 29
    elif kind == "day_31_short_month":
        month, day = rng.choice((4, 6, 9, 11)), 31
    elif kind == "day_0":
        day = 0
    elif kind == "day_32":
        day = 32
    else:
        raise ValueError(f"Unknown invalid-date kind. Available: {list(INVALID_KINDS)}. Received: kind={kind!r}")
    return LooseDate(year, month, day, weekday_index=rng.randrange(7))


def generate_date_validity(n: int, seed: int) -> list[dict[str, str]]:
    """`n` classification records {"text": a date string, "label": "valid" | "invalid"}, exactly half invalid.

    Example:

    >>> labels = [r["label"] for r in generate_date_validity(10, seed=1)]
    >>> labels.count("valid"), labels.count("invalid")
    (5, 5)
    """
    _check_n(n)
    rng = random.Random(seed)
    labels = ["valid"] * (n - n // 2) + ["invalid"] * (n // 2)
    rng.shuffle(labels)
    forms = sorted(dates.FORMATS)
    records = []
    for label in labels:
        date = dates.random_date(rng) if label == "valid" else impossible_date(rng)
        form, case = _form_and_case(rng, forms)
        text = dates.CASES[case](dates.FORMATS[form](date))  # format_date, for dates that need not exist
        records.append({schema.RAW_TEXT: text, schema.RAW_LABEL: label})
    return records


def _check_n(n: int) -> None:
    if n < 0:
        raise ValueError(f"n must be non-negative. Received: n={n}")

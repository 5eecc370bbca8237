"""`builtin:dates`: human-readable dates -> ISO 8601 (`YYYY-MM-DD`), seeded.

Dates are uniform between 1900-01-01 and 2099-12-31; each example picks a
surface form and a case variant uniformly with `random.Random(seed)`, so the
same `(n, seed)` always yields the same list.

Example:

>>> import datetime
>>> format_date(datetime.date(1998, 3, 3), "weekday_long", "as_is")
'Tuesday, March 3, 1998'
>>> generate_dates(2, seed=7) == generate_dates(2, seed=7)
True
"""

from __future__ import annotations

import datetime
import logging
import random
import string
from typing import Callable

logger = logging.getLogger(__name__)

FIRST_DATE = datetime.date(1900, 1, 1)
LAST_DATE = datetime.date(2099, 12, 31)

MONTHS: tuple[str, ...] = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)
WEEKDAYS: tuple[str, ...] = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def ordinal(day: int) -> str:
    """1 -> '1st', 2 -> '2nd', 11 -> '11th', 23 -> '23rd'."""
    if 11 <= day % 100 <= 13:
        return f"{day}th"
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _month(d: datetime.date) -> str:
    return MONTHS[d.month - 1]


def _weekday(d: datetime.date) -> str:
    return WEEKDAYS[d.weekday()]


FORMATS: dict[str, Callable[[datetime.date], str]] = {
    "dmy_long": lambda d: f"{d.day} {_month(d)} {d.year}",  # 3 March 1998
    "mdy_long": lambda d: f"{_month(d)} {d.day}, {d.year}",  # March 3, 1998
    "ordinal_of": lambda d: f"{ordinal(d.day)} of {_month(d)}, {d.year}",  # 3rd of March, 1998
    "weekday_long": lambda d: f"{_weekday(d)}, {_month(d)} {d.day}, {d.year}",  # Tuesday, March 3, 1998
    "weekday_short": lambda d: f"{_weekday(d)[:3]} {d.day} {_month(d)[:3]} {d.year}",  # Tue 3 Mar 1998
    "mdy_short": lambda d: f"{_month(d)[:3]} {d.day} {d.year}",  # Mar 3 1998
    "dotted_dmy": lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",  # 03.03.1998
    "slashed_ymd": lambda d: f"{d.year}/{d.month:02d}/{d.day:02d}",  # 1998/03/03
    "slashed_dmy": lambda d: f"{d.day}/{_month(d)[:3]}/{d.year}",  # 3/Mar/1998
}

CASES: dict[str, Callable[[str], str]] = {
    "as_is": lambda s: s,
    "lower": str.lower,
    "upper": str.upper,
    # capwords, not str.title: "3rd".title() would give "3Rd".
    "title": string.capwords,
}

_REFERENCE_DATE = datetime.date(1998, 3, 3)


def cases_for(form: str) -> tuple[str, ...]:
    """The case variants that give distinct strings for `form` (e.g. only as_is for digits).

    Example:

    >>> cases_for("slashed_ymd")
    ('as_is',)
    """
    seen: dict[str, str] = {}
    text = FORMATS[form](_REFERENCE_DATE)
    for name, apply in CASES.items():
        seen.setdefault(apply(text), name)
    return tuple(seen.values())


def format_date(date: datetime.date, form: str, case: str = "as_is") -> str:
    """Renders `date` in surface form `form` and case variant `case`.

    Example:

    >>> format_date(datetime.date(1998, 3, 3), "ordinal_of", "title")
    '3rd Of March, 1998'
    """
    if form not in FORMATS:
        raise ValueError(f"Unknown date form '{form}'. Available: {sorted(FORMATS)}")
    if case not in CASES:
        raise ValueError(f"Unknown case '{case}'. Available: {sorted(CASES)}")
    return CASES[case](FORMATS[form](date))


def random_date(rng: random.Random) -> datetime.date:
    """A date uniform over [FIRST_DATE, LAST_DATE]."""
    span = (LAST_DATE - FIRST_DATE).days
    return FIRST_DATE + datetime.timedelta(days=rng.randint(0, span))


def generate_dates(n: int, seed: int) -> list[tuple[str, str]]:
    """`n` (source, ISO target) pairs, deterministic in `seed`.

    Example:

    >>> source, target = generate_dates(1, seed=0)[0]
    >>> len(target)
    10
    """
    if n < 0:
        raise ValueError(f"n must be non-negative. Received: n={n}")
    rng = random.Random(seed)
    forms = sorted(FORMATS)
    pairs = []
    for _ in range(n):
        date = random_date(rng)
        form = rng.choice(forms)
        case = rng.choice(cases_for(form))
        pairs.append((format_date(date, form, case), date.isoformat()))
    return pairs

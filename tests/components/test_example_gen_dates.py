"""The builtin:dates generator: determinism, coverage, and that every source means its target."""

import datetime
import re

import pytest

from components.example_gen import dates

MONTHS = {m.lower(): i + 1 for i, m in enumerate(dates.MONTHS)}
MONTHS.update({m[:3].lower(): i + 1 for i, m in enumerate(dates.MONTHS)})
WEEKDAYS = {w.lower(): i for i, w in enumerate(dates.WEEKDAYS)}
WEEKDAYS.update({w[:3].lower(): i for i, w in enumerate(dates.WEEKDAYS)})


def parse_back(text: str) -> tuple[datetime.date, int | None]:
    """An independent parser for every surface form: (date, weekday or None)."""
    s = text.lower()
    weekday = None
    m = re.fullmatch(r"([a-z]+),? (.*)", s)
    if m and m.group(1) in WEEKDAYS:
        weekday, s = WEEKDAYS[m.group(1)], m.group(2)
    patterns = [
        (r"(\d{1,2}) ([a-z]+) (\d{4})", ("d", "m", "y")),
        (r"([a-z]+) (\d{1,2}),? (\d{4})", ("m", "d", "y")),
        (r"(\d{1,2})(?:st|nd|rd|th) of ([a-z]+), (\d{4})", ("d", "m", "y")),
        (r"(\d{2})\.(\d{2})\.(\d{4})", ("d", "mn", "y")),
        (r"(\d{4})/(\d{2})/(\d{2})", ("y", "mn", "d")),
        (r"(\d{1,2})/([a-z]+)/(\d{4})", ("d", "m", "y")),
    ]
    for pattern, fields in patterns:
        m = re.fullmatch(pattern, s)
        if m:
            parts = dict(zip(fields, m.groups()))
            month = MONTHS[parts["m"]] if "m" in parts else int(parts["mn"])
            return datetime.date(int(parts["y"]), month, int(parts["d"])), weekday
    raise AssertionError(f"unparseable: {text!r}")


def test_same_seed_same_list_different_seed_different():
    assert dates.generate_dates(200, seed=7) == dates.generate_dates(200, seed=7)
    assert dates.generate_dates(200, seed=7) != dates.generate_dates(200, seed=8)


def test_examples_from_the_spec():
    d = datetime.date(1998, 3, 3)
    rendered = {form: dates.format_date(d, form) for form in dates.FORMATS}
    assert set(rendered.values()) == {
        "3 March 1998", "March 3, 1998", "3rd of March, 1998", "Tuesday, March 3, 1998", "Tue 3 Mar 1998",
        "Mar 3 1998", "03.03.1998", "1998/03/03", "3/Mar/1998",
    }
    assert dates.format_date(d, "ordinal_of", "upper") == "3RD OF MARCH, 1998"
    assert dates.format_date(d, "ordinal_of", "title") == "3rd Of March, 1998"


@pytest.mark.parametrize("day,expected", [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (11, "11th"),
                                          (12, "12th"), (13, "13th"), (21, "21st"), (22, "22nd"), (31, "31st")])
def test_ordinal(day, expected):
    assert dates.ordinal(day) == expected


def test_every_form_and_case_variant_appears():
    pairs = dates.generate_dates(3000, seed=1)
    seen = {source for source, _ in pairs}
    for form in dates.FORMATS:
        for case in dates.cases_for(form):
            assert any(
                dates.format_date(datetime.date.fromisoformat(t), form, case) == s for s, t in pairs
            ), (form, case)
    assert any(s.isupper() for s in seen) and any(s.islower() for s in seen)
    assert dates.cases_for("mdy_long") == ("as_is", "lower", "upper")  # title == as_is
    assert dates.cases_for("ordinal_of") == ("as_is", "lower", "upper", "title")


def test_targets_are_iso_dates_in_range_and_sources_parse_back():
    for source, target in dates.generate_dates(2000, seed=3):
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", target)
        date = datetime.date.fromisoformat(target)
        assert dates.FIRST_DATE <= date <= dates.LAST_DATE
        parsed, weekday = parse_back(source)
        assert parsed == date, source
        if weekday is not None:
            assert weekday == date.weekday(), source


def test_dates_cover_the_range():
    years = [int(t[:4]) for _, t in dates.generate_dates(2000, seed=5)]
    assert min(years) < 1910 and max(years) > 2090


def test_unknown_form_names_the_available_ones():
    with pytest.raises(ValueError, match="Unknown date form 'iso'. Available"):
        dates.format_date(datetime.date(2000, 1, 1), "iso")

"""The classification and tagging builtins: temporal_order, date_tags, date_validity, and their URIs."""

import calendar
import collections
import datetime
import re

import numpy as np
import pytest

import components.example_gen as example_gen
from components import source_uri
from serving import schema
from components.registry import get_task
from components.example_gen import dates, dates_tasks, sources, temporal_order
from components.example_gen.temporal_order import generate_temporal_order, temporal_order_arrays
from pipeline.config import DataConfig
from tests.components.test_example_gen import make_ctx, read_features
from tests.components.test_example_gen_dates import MONTHS, WEEKDAYS, parse_back

GENERATORS = {
    "temporal_order": lambda n, seed: generate_temporal_order(n, seed, length=30),
    "date_tags": dates_tasks.generate_date_tags,
    "date_validity": dates_tasks.generate_date_validity,
}


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_same_seed_same_records_different_seed_different(name):
    generate = GENERATORS[name]
    assert generate(300, 7) == generate(300, 7)
    assert generate(300, 7) != generate(300, 8)
    assert generate(0, 7) == []


# --- temporal_order


@pytest.mark.parametrize("length", [10, 11, 25, 100])
def test_temporal_order_invariants(length):
    (lo1, hi1), (lo2, hi2) = temporal_order.marker_ranges(length)
    assert 1 <= lo1 <= hi1 < lo2 <= hi2 <= length - 2
    seen_t1, seen_t2 = set(), set()
    for record in generate_temporal_order(400, seed=1, length=length):
        assert set(record) == {"text", "label"}
        symbols = record["text"].split(" ")
        assert len(symbols) == length and symbols[0] == "B" and symbols[-1] == "E"
        marked = [i for i, s in enumerate(symbols) if s in "XY"]
        assert len(marked) == 2, symbols
        t1, t2 = marked
        assert lo1 <= t1 <= hi1 and lo2 <= t2 <= hi2
        seen_t1.add(t1), seen_t2.add(t2)
        assert record["label"] == symbols[t1] + symbols[t2]
        assert set(symbols[1:-1]) - {"X", "Y"} <= set("abcd")
    assert seen_t1 == set(range(lo1, hi1 + 1)) and seen_t2 == set(range(lo2, hi2 + 1))
    assert temporal_order.marker_ranges(100) == ((10, 20), (50, 60))


def test_temporal_order_labels_are_balanced():
    counts = collections.Counter(r["label"] for r in generate_temporal_order(4000, seed=2, length=20))
    assert sorted(counts) == list(temporal_order.LABELS)
    assert all(abs(c / 4000 - 0.25) < 0.03 for c in counts.values()), counts


@pytest.mark.parametrize("length", [9, 0, 10.5, "50", True])
def test_temporal_order_rejects_bad_lengths(length):
    with pytest.raises(ValueError, match=r"length must be an integer >= 10.*Received: length="):
        generate_temporal_order(3, seed=0, length=length)


def test_temporal_order_arrays_agree_with_the_text_records():
    records = generate_temporal_order(50, seed=4, length=16)
    ids, labels = temporal_order_arrays(50, seed=4, length=16)
    assert ids.shape == (50, 16) and labels.shape == (50,)
    assert ids.dtype == np.int32 and labels.dtype == np.int32
    assert ids.min() >= 1 and ids.max() == len(temporal_order.SYMBOL_IDS) == temporal_order.VOCAB_SIZE - 1
    id_to_symbol = {i: s for s, i in temporal_order.SYMBOL_IDS.items()}
    for row, label, record in zip(ids, labels, records):
        assert " ".join(id_to_symbol[int(i)] for i in row) == record["text"]
        assert temporal_order.LABELS[label] == record["label"]
    assert list(temporal_order.LABELS) == sorted(temporal_order.LABELS)
    empty_ids, empty_labels = temporal_order_arrays(0, seed=4, length=16)
    assert empty_ids.shape == (0, 16) and empty_labels.shape == (0,)


# --- date_tags


def _matches(tag: str, token: str) -> bool:
    t = token.lower()
    if tag == "B-YEAR":
        return bool(re.fullmatch(r"\d{4}|\d{2}", t))
    if tag == "B-MONTH":
        return t in MONTHS or (t.isdigit() and 1 <= int(t) <= 12)
    if tag == "B-DAY":
        m = re.fullmatch(r"(\d{1,2})(st|nd|rd|th)?", t)
        return bool(m) and 1 <= int(m.group(1)) <= 31 and (not m.group(2) or dates.ordinal(int(m.group(1))) == t)
    if tag == "B-WEEKDAY":
        return t in WEEKDAYS
    return tag == "O" and t in {",", "/", ".", "of"}


def _form_of(tokens: list[str]) -> str:
    """Which of the nine forms the tokens spell, from the layout alone."""
    layout = " ".join("w" if t.isalpha() and t.lower() != "of" else t.lower() if not t[0].isdigit()
                      else "o" if t[-1].isalpha() else f"{len(t)}d" for t in tokens)
    layouts = {
        "1d w 4d": "dmy_long", "2d w 4d": "dmy_long", "w 1d , 4d": "mdy_long", "w 2d , 4d": "mdy_long",
        "o of w , 4d": "ordinal_of", "w , w 1d , 4d": "weekday_long", "w , w 2d , 4d": "weekday_long",
        "w 1d w 4d": "weekday_short", "w 2d w 4d": "weekday_short", "w 1d 4d": "mdy_short", "w 2d 4d": "mdy_short",
        "2d . 2d . 4d": "dotted_dmy", "4d / 2d / 2d": "slashed_ymd", "1d / w / 4d": "slashed_dmy",
        "2d / w / 4d": "slashed_dmy",
    }
    return layouts[layout]


def test_date_tags_align_and_every_tag_names_its_token():
    records = dates_tasks.generate_date_tags(1500, seed=5)
    forms, tags_seen = collections.Counter(), set()
    for record in records:
        tokens, tags = record["tokens"], record["tags"]
        assert set(record) == {"tokens", "tags"} and len(tokens) == len(tags)
        assert all(_matches(tag, tok) for tok, tag in zip(tokens, tags)), list(zip(tokens, tags))
        assert all(t and not t.isspace() for t in tokens)
        assert sorted(t for t in tags if t != "O") in (
            ["B-DAY", "B-MONTH", "B-YEAR"], ["B-DAY", "B-MONTH", "B-WEEKDAY", "B-YEAR"])
        forms[_form_of(tokens)] += 1
        tags_seen.update(tags)
    assert set(forms) == set(dates.FORMATS), forms
    assert tags_seen == set(dates_tasks.TAGS)


def test_date_tags_are_the_words_of_a_formatted_date():
    d = datetime.date(1998, 3, 3)
    expected = {
        "dotted_dmy": (["03", ".", "03", ".", "1998"], ["B-DAY", "O", "B-MONTH", "O", "B-YEAR"]),
        "slashed_ymd": (["1998", "/", "03", "/", "03"], ["B-YEAR", "O", "B-MONTH", "O", "B-DAY"]),
        "ordinal_of": (["3rd", "of", "March", ",", "1998"], ["B-DAY", "O", "B-MONTH", "O", "B-YEAR"]),
        "weekday_short": (["Tue", "3", "Mar", "1998"], ["B-WEEKDAY", "B-DAY", "B-MONTH", "B-YEAR"]),
    }
    for form, pair in expected.items():
        assert dates_tasks.date_tokens_and_tags(dates.format_date(d, form), form) == pair
    for form in dates.FORMATS:  # every form tokenizes to as many tokens as it has tags, losing only spaces
        for case in dates.cases_for(form):
            text = dates.format_date(datetime.date(2001, 12, 25), form, case)
            tokens, _ = dates_tasks.date_tokens_and_tags(text, form)
            assert "".join(tokens) == text.replace(" ", "")


# --- date_validity


def test_date_validity_is_half_invalid_and_labels_are_true():
    records = dates_tasks.generate_date_validity(2001, seed=6)
    labels = collections.Counter(r["label"] for r in records)
    assert labels == {"valid": 1001, "invalid": 1000}
    runs = max(len(m.group()) for m in re.finditer(r"(v+|i+)", "".join(r["label"][0] for r in records)))
    assert runs < 20  # shuffled, not blocked
    for record in records:
        assert set(record) == {"text", "label"}
        if record["label"] == "valid":
            date, weekday = parse_back(record["text"])
            assert dates.FIRST_DATE <= date <= dates.LAST_DATE
            assert weekday in (None, date.weekday()), record
        else:
            with pytest.raises(ValueError, match="day is out of range"):
                parse_back(record["text"])


def test_date_validity_covers_every_kind_of_impossible_date_and_every_form():
    texts = [r["text"] for r in dates_tasks.generate_date_validity(3000, seed=8) if r["label"] == "invalid"]
    kinds = collections.Counter(_impossible_kind(*_fields(t)) for t in texts)
    assert set(kinds) == set(dates_tasks.INVALID_KINDS), kinds
    assert {_form_of(dates_tasks.date_tokens(t)) for t in texts} == set(dates.FORMATS)
    assert "31 February 1998" == dates.FORMATS["dmy_long"](dates_tasks.LooseDate(1998, 2, 31, 0))


def _fields(text: str) -> tuple[int, int, int]:
    """(year, month, day) as written in any surface form, whether or not that date exists."""
    tokens = dates_tasks.date_tokens(text)
    fields = dict(zip(dates_tasks.FORM_TAGS[_form_of(tokens)], tokens))
    month = fields["B-MONTH"].lower()
    return (int(fields["B-YEAR"]), MONTHS[month] if month in MONTHS else int(month),
            int(re.match(r"\d+", fields["B-DAY"]).group()))


def _impossible_kind(year: int, month: int, day: int) -> str:
    if day == 0:
        return "day_0"
    if day == 32:
        return "day_32"
    if month == 2 and day in (30, 31):
        return "february_30_31"
    if month == 2 and day == 29 and not calendar.isleap(year):
        return "february_29_common_year"
    if month in (4, 6, 9, 11) and day == 31:
        return "day_31_short_month"
    raise AssertionError(f"{year}-{month}-{day} is a real date")


# --- URIs and the example_gen run


def test_builtin_uri_params():
    assert source_uri.parse_builtin("builtin:temporal_order?n=2000&length=50&seed=3", 10, 1) == ("temporal_order", 2000, 3)
    assert source_uri.builtin_params("builtin:temporal_order?n=2000&length=50&seed=3") == {"length": 50}
    assert source_uri.builtin_params("builtin:temporal_order") == {}
    uri = "builtin:temporal_order?n=5&length=50&seed=3"
    records, dead = sources.load_source(DataConfig(source=uri), "classification")
    assert dead == [] and records == generate_temporal_order(5, 3, length=50)
    with pytest.raises(ValueError, match=r"Unknown builtin source parameters \['size'\] for builtin:temporal_order. "
                                         r"Valid: \['n', 'seed', 'length'\]"):
        source_uri.parse_builtin("builtin:temporal_order?size=5", 10, 1)
    with pytest.raises(ValueError, match=r"Unknown builtin source parameters \['length'\] for builtin:date_tags. "
                                         r"Valid: \['n', 'seed'\]"):
        source_uri.parse_builtin("builtin:date_tags?length=5", 10, 1)
    with pytest.raises(ValueError, match=r"length of builtin:temporal_order must be int. Received: length='long'"):
        source_uri.parse_builtin("builtin:temporal_order?length=long", 10, 1)
    with pytest.raises(ValueError, match=r"length must be an integer >= 10.*Received: length=4"):
        sources.load_source(DataConfig(source="builtin:temporal_order?length=4&n=2"), "classification")


@pytest.mark.parametrize("name,task", [("temporal_order", "classification"), ("date_tags", "tagging"),
                                       ("date_validity", "classification"), ("dates", "translation")])
def test_each_builtin_feeds_its_task_and_names_it_otherwise(name, task):
    assert source_uri.BUILTIN_TASKS[name] == task
    records, _ = sources.load_source(DataConfig(source=f"builtin:{name}?n=3"), task)
    assert len(records) == 3 and all(set(r) == set(get_task(task).raw_features) for r in records)
    wrong = "tagging" if task != "tagging" else "classification"
    with pytest.raises(ValueError, match=rf"builtin:{name} feeds task='{task}'. Received: task='{wrong}'"):
        sources.load_source(DataConfig(source=f"builtin:{name}?n=3"), wrong)


@pytest.mark.parametrize("uri,task", [("builtin:temporal_order?n=60&length=12&seed=2", "classification"),
                                      ("builtin:date_tags?n=60&seed=2", "tagging"),
                                      ("builtin:date_validity?n=60&seed=2", "classification")])
def test_run_writes_the_builtin_records(tmp_path, uri, task):
    family = {"classification": "rnn_classifier", "tagging": "rnn_tagger"}[task]
    ctx = make_ctx(tmp_path, [f"task={task}", f"model.family={family}", f"data.source={uri}", "data.eval_fraction=0.2",
                              "transform.tokenizer=word"])
    outputs = example_gen.run(ctx)
    assert sum(outputs["counts"][s] for s in schema.SPLITS) == 60 and outputs["dead_letter"] == 0
    written = [r for s in schema.SPLITS for r in read_features(ctx.output_dir, s)]
    expected, _ = sources.load_source(DataConfig(source=uri), task)
    as_lists = [{k: v if isinstance(v, list) else [v] for k, v in r.items()} for r in expected]
    assert sorted(repr(sorted(r.items())) for r in written) == sorted(repr(sorted(r.items())) for r in as_lists)

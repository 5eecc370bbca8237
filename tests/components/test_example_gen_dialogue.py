"""builtin:dialogue: seeded Tiny-Shakespeare-style play scenes for task=language_model."""

import re

import pytest

from components import source_uri
from components.registry import get_task
from components.example_gen import dialogue, sources
from components.example_gen.dialogue import CAST, generate_dialogue
from pipeline.config import DataConfig

LINE_RE = re.compile(r"[A-Z][A-Za-z ,]*[.!?]")


def speeches(text: str) -> list[tuple[str, list[str]]]:
    """(speaker, lines) for each speech of a scene, checking the layout on the way."""
    out = []
    for block in text[:-1].split("\n\n"):
        head, sep, body = block.partition(":\n")
        assert sep == ":\n" and head in CAST, block
        lines = body.split("\n")
        assert all(lines), block  # no empty line inside a speech
        out.append((head, lines))
    return out


def test_same_seed_same_records_different_seed_different():
    assert generate_dialogue(50, 7) == generate_dialogue(50, 7)
    assert generate_dialogue(50, 7) != generate_dialogue(50, 8)
    assert generate_dialogue(0, 7) == []
    assert [r["text"] for r in generate_dialogue(3, 7)] == [r["text"] for r in generate_dialogue(50, 7)[:3]]
    with pytest.raises(ValueError, match="n must be non-negative"):
        generate_dialogue(-1, 0)


@pytest.mark.parametrize("n", [1, 17, 200])
def test_record_count_and_keys(n):
    records = generate_dialogue(n, seed=1)
    assert len(records) == n
    assert all(set(r) == set(get_task("language_model").raw_features) == {"text"} for r in records)


def test_scene_layout():
    speakers_seen, speech_counts, line_counts = set(), set(), set()
    for record in generate_dialogue(300, seed=2):
        text = record["text"]
        assert text.endswith("\n") and not text.endswith("\n\n") and text == text.rstrip() + "\n"
        assert "\n\n\n" not in text and not text.startswith(tuple(" \n"))
        assert all(line == line.rstrip() for line in text.split("\n"))  # no trailing spaces
        scene = speeches(text)
        assert len(text.split("\n\n")) == len(scene)  # speeches separated by exactly one blank line
        speech_counts.add(len(scene))
        assert 2 <= len({speaker for speaker, _ in scene}) <= 3
        for (speaker, lines), (previous, _) in zip(scene[1:], scene):
            assert speaker != previous
        for speaker, lines in scene:
            speakers_seen.add(speaker)
            line_counts.add(len(lines))
            for line in lines:
                assert LINE_RE.fullmatch(line), line
                assert line.count(".") + line.count("!") + line.count("?") == 1
        # every line ends with "\n": speaker line, then each verse line
        assert text.count("\n") == sum(len(lines) + 1 for _, lines in scene) + len(scene) - 1
    assert speech_counts == set(range(dialogue.MIN_SPEECHES, dialogue.MAX_SPEECHES + 1))
    assert line_counts == set(range(dialogue.MIN_LINES, dialogue.MAX_LINES + 1))
    assert speakers_seen == set(CAST)


def test_small_word_and_character_vocabulary():
    records = generate_dialogue(500, seed=4)
    text = "".join(r["text"] for r in records)
    characters = set(text)
    assert len(characters) <= 60 and characters <= set(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ ,.!?:\n")
    verse = [line for r in records for _, lines in speeches(r["text"]) for line in lines]
    words = {w.lower() for line in verse for w in re.findall(r"[A-Za-z]+", line)}
    assert words <= {w.lower() for w in dialogue.VOCABULARY}
    assert 80 <= len(dialogue.VOCABULARY) <= 120 and len(words) >= 90
    assert {",", "!", "?", "."} <= characters


def test_builtin_uri_feeds_language_model():
    assert sources.BUILTINS["dialogue"] is generate_dialogue
    assert source_uri.BUILTIN_TASKS["dialogue"] == "language_model"
    records, dead = sources.load_source(DataConfig(source="builtin:dialogue?n=5&seed=3"), "language_model")
    assert dead == [] and len(records) == 5 and all(set(r) == {"text"} for r in records)
    assert records == generate_dialogue(5, 3)
    with pytest.raises(ValueError, match=r"builtin:dialogue feeds task='language_model'. Received: task='classification'"):
        sources.load_source(DataConfig(source="builtin:dialogue?n=5"), "classification")
    with pytest.raises(ValueError, match=r"Unknown builtin source parameters \['length'\] for builtin:dialogue"):
        sources.load_source(DataConfig(source="builtin:dialogue?length=5"), "language_model")

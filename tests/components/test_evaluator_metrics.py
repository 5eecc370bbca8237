"""Evaluator metrics against hand-made cases and sacrebleu."""

import pytest
import sacrebleu

from components.evaluator import metrics


@pytest.mark.parametrize(
    "a, b, distance",
    [("", "", 0), ("abc", "", 3), ("", "ab", 2), ("kitten", "sitting", 3),
     ("flaw", "lawn", 2), ("2024-01-02", "2024-01-02", 0), ("abcd", "acbd", 2)],
)
def test_levenshtein_hand_computed(a, b, distance):
    assert metrics.levenshtein(a, b) == distance
    assert metrics.levenshtein(b, a) == distance


def test_exact_match_and_cer():
    predictions = ["2024-01-02", "2024-01-03", "1999"]
    references = ["2024-01-02", "2024-01-02", "1999-12-31"]
    assert metrics.exact_match(predictions, references) == pytest.approx(1 / 3)
    # distances 0 + 1 + 6 over reference lengths 10 + 10 + 10
    assert metrics.character_error_rate(predictions, references) == pytest.approx(7 / 30)
    assert metrics.character_error_rate(["abc"], ["abc"]) == 0.0
    assert metrics.character_error_rate(["x"], [""]) == 1.0
    with pytest.raises(ValueError, match="same length"):
        metrics.exact_match(["a"], [])


def test_bleu_and_chrf_equal_sacrebleu():
    predictions = ["the cat sat on the mat", "a quick brown fox", "2024-01-02"]
    references = ["the cat sat on a mat", "the quick brown fox", "2024-01-03"]
    assert metrics.bleu(predictions, references) == pytest.approx(
        sacrebleu.corpus_bleu(predictions, [references]).score)
    assert metrics.bleu(predictions, references, tokenize="char") == pytest.approx(
        sacrebleu.corpus_bleu(predictions, [references], tokenize="char").score)
    assert metrics.chrf(predictions, references) == pytest.approx(
        sacrebleu.corpus_chrf(predictions, [references]).score)
    result = metrics.compute_metrics(predictions, references, tokenizer="char")
    assert set(result) == {"num_examples", "exact_match", "cer", "bleu", "bleu_lowercase", "chrf"}
    assert result["bleu"] == pytest.approx(metrics.bleu(predictions, references, tokenize="char"))
    assert metrics.compute_metrics(references, references)["bleu"] == pytest.approx(100.0)


def test_lowercase_and_cased_bleu_are_sacrebleus():
    predictions = ["a man rides a horse .", "two dogs play in the snow ."]
    cased = ["A man rides a horse.", "Two dogs play in the snow."]
    lowered = [r.lower() for r in cased]
    result = metrics.compute_metrics(predictions, lowered, tokenizer="word", raw_references=cased)
    assert result["bleu"] == pytest.approx(100.0)
    assert result["bleu_lowercase"] == pytest.approx(sacrebleu.corpus_bleu(predictions, [cased], lowercase=True).score)
    assert result["bleu_cased"] == pytest.approx(sacrebleu.corpus_bleu(predictions, [cased]).score)
    assert result["bleu_cased"] < result["bleu_lowercase"] == pytest.approx(100.0)


def test_blessing_direction():
    assert metrics.is_blessed("exact_match", 0.95, 0.9)
    assert not metrics.is_blessed("exact_match", 0.85, 0.9)
    assert metrics.is_blessed("cer", 0.05, 0.1)
    assert not metrics.is_blessed("cer", 0.2, 0.1)

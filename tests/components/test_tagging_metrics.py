"""Tagging metrics against hand-computed cases and seqeval's default (conlleval) mode."""

import json

import numpy as np
import pytest
from seqeval import metrics as sq
from seqeval.metrics.sequence_labeling import get_entities as seqeval_get_entities

from components.evaluator import tagging_metrics as tm

# Gold/predicted sentence pairs with the cases conlleval repairs or treats specially.
TRICKY_GOLD = [
    ["B-PER", "I-PER", "O", "B-LOC"],                    # chunk at sentence end
    ["O", "O", "O"],                                     # all O
    ["I-PER", "I-PER", "O", "I-LOC"],                    # I- without B- (IOB1)
    ["B-PER", "I-LOC", "I-LOC", "O"],                    # B- followed by I- of another type
    ["B-ORG", "I-ORG", "I-ORG", "B-ORG", "I-ORG"],       # two adjacent chunks of one type
    ["I-MISC", "I-MISC", "B-MISC", "I-MISC", "O"],       # IOB1: B- only between same-type chunks
    ["B-PER", "I-PER", "I-ORG", "I-ORG"],                # type change inside a chunk
    ["S-LOC", "B-PER", "E-PER", "O", "S-PER"],           # IOBES
    ["I-LOC", "E-LOC", "E-LOC", "O"],                    # IOE: E- ends, the next E- is a new chunk
    ["O", "I-PER"],                                      # one-token chunk at sentence end
    ["B-LOC"],                                           # one-token sentence
]
TRICKY_PRED = [
    ["B-PER", "I-PER", "O", "B-LOC"],                    # all right
    ["O", "B-PER", "O"],                                 # spurious entity
    ["B-PER", "I-PER", "O", "B-LOC"],                    # IOB2 spelling of the same chunks
    ["B-PER", "B-LOC", "I-LOC", "O"],
    ["B-ORG", "I-ORG", "I-ORG", "I-ORG", "I-ORG"],       # merged the two chunks
    ["I-MISC", "I-MISC", "I-MISC", "I-MISC", "O"],
    ["B-PER", "I-PER", "B-ORG", "I-ORG"],
    ["B-LOC", "B-PER", "I-PER", "O", "B-PER"],
    ["B-LOC", "I-LOC", "B-LOC", "O"],
    ["O", "O"],                                          # missed
    ["I-PER"],                                           # wrong type
]
TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
IOBES_TAGS = TAGS + ["E-PER", "S-PER", "E-LOC", "S-LOC"]


def _assert_matches_seqeval(gold, pred):
    result = tm.entity_prf(gold, pred)
    overall = result["overall"]
    assert overall["precision"] == pytest.approx(sq.precision_score(gold, pred), abs=1e-12)
    assert overall["recall"] == pytest.approx(sq.recall_score(gold, pred), abs=1e-12)
    assert overall["f1"] == pytest.approx(sq.f1_score(gold, pred), abs=1e-12)
    report = sq.classification_report(gold, pred, output_dict=True, zero_division=0)
    types = sorted(k for k in report if not k.endswith(" avg"))
    assert sorted(result["per_type"]) == types
    assert overall["support"] == report["micro avg"]["support"]
    for type_ in types:
        ours, theirs = result["per_type"][type_], report[type_]
        for key in ("precision", "recall", "support"):
            assert ours[key] == pytest.approx(theirs[key], abs=1e-12), (type_, key)
        assert ours["f1"] == pytest.approx(theirs["f1-score"], abs=1e-12), type_
    return result


def test_entities_match_seqeval_on_each_tricky_sentence():
    for tags in TRICKY_GOLD + TRICKY_PRED:
        assert tm.get_entities(tags) == seqeval_get_entities(tags), tags


def test_hand_computed_entities():
    assert tm.get_entities(["I-PER", "I-PER", "O", "I-LOC"]) == [("PER", 0, 1), ("LOC", 3, 3)]
    assert tm.get_entities(["B-PER", "I-LOC", "I-LOC", "O"]) == [("PER", 0, 0), ("LOC", 1, 2)]
    assert tm.get_entities(["I-MISC", "B-MISC", "I-MISC"]) == [("MISC", 0, 0), ("MISC", 1, 2)]
    assert tm.get_entities(["S-LOC", "B-PER", "E-PER", "E-PER"]) == [
        ("LOC", 0, 0), ("PER", 1, 2), ("PER", 3, 3)]
    assert tm.get_entities(["O", "O"]) == []


def test_tricky_fixture_matches_seqeval():
    result = _assert_matches_seqeval(TRICKY_GOLD, TRICKY_PRED)
    assert result["overall"]["support"] == 19


@pytest.mark.parametrize("seed, tags", [(0, TAGS), (1, TAGS), (2, TAGS), (3, IOBES_TAGS)])
def test_random_sequences_match_seqeval(seed, tags):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, 12, size=400)
    gold = [rng.choice(tags, size=n).tolist() for n in lengths]
    # Predictions: mostly the gold tag, so some entities match exactly.
    pred = [[g if rng.random() < 0.7 else str(rng.choice(tags)) for g in seq] for seq in gold]
    _assert_matches_seqeval(gold, pred)
    assert tm.token_accuracy(gold, pred) == pytest.approx(
        sq.accuracy_score(gold, pred), abs=1e-12)


def test_no_entities_anywhere_scores_zero():
    result = tm.entity_prf([["O", "O"]], [["O", "O"]])
    assert result == {"overall": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0},
                      "per_type": {}}


def test_token_accuracy_ignores_padding_only():
    gold = [["B-PER", "I-PER", "O", "[PAD]", "[PAD]"], ["O"]]
    pred = [["B-PER", "O", "O", "B-LOC", "O"], ["O", "B-LOC", "B-LOC"]]  # pred padded longer
    assert tm.token_accuracy(gold, pred) == pytest.approx(3 / 4)
    # Padding positions and the extra predicted tags never become entities.
    assert tm.entity_prf(gold, pred)["overall"] == pytest.approx(
        {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1})
    # A predicted reserved tag is a wrong token and no entity.
    assert tm.token_accuracy([["B-PER"]], [["[UNK]"]]) == 0.0
    assert tm.entity_prf([["B-PER"]], [["[UNK]"]])["per_type"]["PER"]["support"] == 1
    assert tm.token_accuracy([], []) == 0.0


def test_compute_tagging_metrics_ner_and_pos():
    ner = tm.compute_tagging_metrics(TRICKY_GOLD, TRICKY_PRED)
    assert ner["num_sentences"] == len(TRICKY_GOLD)
    assert ner["num_tokens"] == sum(map(len, TRICKY_GOLD))
    assert ner["token_accuracy"] == pytest.approx(sq.accuracy_score(TRICKY_GOLD, TRICKY_PRED))
    assert ner["entity_f1"] == pytest.approx(sq.f1_score(TRICKY_GOLD, TRICKY_PRED), abs=1e-12)
    assert ner["entity_support"] == 19
    assert set(ner["entity_per_type"]) == {"LOC", "MISC", "ORG", "PER"}
    assert json.loads(json.dumps(ner)) == ner

    pos_gold = [["DT", "NN", "VBZ", "-LRB-"], ["PRP", "VBD"]]
    pos_pred = [["DT", "NN", "NN", "-LRB-"], ["PRP", "VBD"]]
    pos = tm.compute_tagging_metrics(pos_gold, pos_pred)
    assert pos == {"num_sentences": 2, "num_tokens": 6, "token_accuracy": pytest.approx(5 / 6)}
    assert "entity_f1" not in tm.compute_tagging_metrics(TRICKY_GOLD, TRICKY_PRED, entity_level=False)
    with pytest.raises(ValueError, match="entity_level=False"):
        tm.compute_tagging_metrics(pos_gold, pos_pred, entity_level=True)


def test_vocabulary_split_accuracy_counts_in_vocabulary_and_oov_tokens_apart():
    gold = [["DT", "NN", "VBZ", "[PAD]"], ["PRP", "VBD"]]
    pred = [["DT", "VB", "VBZ", "NN"], ["NN", "VBD"]]
    unknown = [[False, True, False, True], [True, False]]  # the padded position's flag is ignored
    split = tm.vocabulary_split_accuracy(gold, pred, unknown)
    assert split == {"oov_rate": pytest.approx(2 / 5), "token_accuracy_in_vocab": pytest.approx(3 / 3),
                     "token_accuracy_oov": 0.0}
    metrics = tm.compute_tagging_metrics(gold, pred, unknown=unknown)
    assert metrics["token_accuracy"] == pytest.approx(3 / 5)
    assert {k: metrics[k] for k in split} == split
    assert tm.vocabulary_split_accuracy([["DT"]], [["DT"]], [[False]])["token_accuracy_oov"] is None  # no OOV
    with pytest.raises(ValueError, match="one unknown flag per gold tag"):
        tm.vocabulary_split_accuracy([["DT", "NN"]], [["DT", "NN"]], [[False]])
    with pytest.raises(ValueError, match="must have the same length"):
        tm.vocabulary_split_accuracy([["DT"]], [["DT"]], [])


def test_joint_tag_accuracy_scores_each_part():
    gold = [["NOUN|NN", "VERB|VBD", "[PAD]"], ["PUNCT|."]]
    pred = [["NOUN|NNS", "ADJ|VBD", "X|X"], ["[UNK]"]]  # a reserved tag has no parts: wrong for each
    assert tm.joint_tag_accuracy(gold, pred, ["upos", "xpos"], "|") == {
        "token_accuracy_upos": pytest.approx(1 / 3), "token_accuracy_xpos": pytest.approx(1 / 3)}
    metrics = tm.compute_tagging_metrics(gold, pred, joint_parts=["upos", "xpos"], separator="|")
    assert metrics["token_accuracy"] == 0.0 and metrics["token_accuracy_upos"] == pytest.approx(1 / 3)
    assert "token_accuracy_upos" not in tm.compute_tagging_metrics(gold, pred, joint_parts=["upos"])
    assert tm.joint_tag_accuracy([["X|a|b"]], [["X|a|c"]], ["upos", "xpos"], "|") == {
        "token_accuracy_upos": 1.0, "token_accuracy_xpos": 0.0}  # "a|b" is one XPOS
    with pytest.raises(ValueError, match="2 parts"):
        tm.joint_tag_accuracy([["NOUN"]], [["NOUN"]], ["upos", "xpos"], "|")


def test_looks_like_bio():
    assert tm.looks_like_bio([["O", "B-PER", "[PAD]"]])
    assert tm.looks_like_bio([["S-LOC", "E-LOC"]])
    assert not tm.looks_like_bio([["O", "O"]])
    assert not tm.looks_like_bio([["B-PER", "NN"]])
    assert not tm.looks_like_bio([["DT", "NN"]])


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="gold_seqs and pred_seqs must have the same length"):
        tm.token_accuracy([["O"]], [])
    with pytest.raises(ValueError, match="every gold token"):
        tm.token_accuracy([["O", "O"]], [["O"]])
    with pytest.raises(TypeError, match="lists of tag lists"):
        tm.entity_prf(["O", "B-PER"], ["O", "B-PER"])

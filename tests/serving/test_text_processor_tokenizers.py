"""Word splitting, WordPiece and the Tokenizer module; TextProcessor over word and WordPiece vocabularies."""

import numpy as np
import pytest
import tensorflow as tf

from serving import schema
from components.transform.vocab import learn_wordpiece_vocabulary, write_vocab_file
from serving.text_processor import TextProcessor, Tokenizer, TokenizerSpec, detokenize, normalize, split_words, tokenize

TEXTS = ["  Tuesday,\u00a0March 3,  1998 ", "ＦＵＬＬ width\tand\nnewline", "Ünïcödé 3RD of MÄRZ", "x", ""]
WORD = TokenizerSpec(kind="word")
SCRIPT = TokenizerSpec(kind="word", word_split="unicode_script")
WORDPIECE = TokenizerSpec(kind="wordpiece")
TRAIN = ["the players played", "a player plays", "Ünïcödé words, and more words!", "日本語のテキスト"]


def strings(t: tf.Tensor) -> list[str]:
    return [b.decode("utf-8") for b in t.numpy().tolist()]


def wordpiece_vocab(spec: TokenizerSpec = WORDPIECE, size: int = 60) -> list[str]:
    words = split_words(tf.constant(TRAIN), spec).flat_values.numpy().tolist()
    counts: dict[str, int] = {}
    for w in words:
        counts[w.decode()] = counts.get(w.decode(), 0) + 1
    return learn_wordpiece_vocabulary(counts.items(), size)


def test_spec_word_split_kept_out_of_dict_when_default():
    assert WORD.to_dict() == {"kind": "word", "lowercase": True, "normalization": "NFKC"}
    assert TokenizerSpec.from_dict(SCRIPT.to_dict()) == SCRIPT
    with pytest.raises(ValueError, match="word_split='bpe'"):
        TokenizerSpec(word_split="bpe")


def test_whitespace_word_round_trip_is_lossless():
    texts = tf.constant(TEXTS)
    assert strings(Tokenizer(WORD).detokenize(Tokenizer(WORD).tokenize(texts))) == strings(normalize(texts, WORD))


def test_unicode_script_splits_punctuation_and_scripts():
    assert tokenize(tf.constant(["Hello, wörld! abc123 日本語"]), SCRIPT).to_list() == [
        [b"hello", b",", b"w\xc3\xb6rld", b"!", b"abc", b"123", "日本語".encode()]
    ]


def test_wordpiece_needs_its_vocabulary():
    with pytest.raises(ValueError, match="needs a vocabulary"):
        tokenize(tf.constant(["a"]), WORDPIECE)
    with pytest.raises(ValueError, match="vocab=None"):
        Tokenizer(WORDPIECE)


@pytest.mark.parametrize("spec", [WORDPIECE, TokenizerSpec(kind="wordpiece", word_split="unicode_script")])
def test_wordpiece_round_trip_and_no_unk_for_seen_characters(spec):
    vocab = wordpiece_vocab(spec)
    assert vocab[:4] == list(schema.RESERVED_TOKENS)
    tok = Tokenizer(spec, vocab)
    # Unseen words made of characters seen in training: pieces, never [UNK].
    texts = tf.constant(["Players replay the played ÜNÏ", "テキスト日本", "more, words"])
    tokens = tok.tokenize(texts)
    assert schema.UNK.encode() not in tokens.flat_values.numpy().tolist()
    if spec.word_split == "whitespace":
        assert strings(tok.detokenize(tokens)) == strings(normalize(texts, spec))
    assert tok.tokenize(tf.constant(["zq"])).to_list() == [[schema.UNK.encode()]]  # unseen characters


def test_wordpiece_vocab_keeps_chars_of_words_the_learner_skips():
    vocab = learn_wordpiece_vocabulary([("ab", 3), ("x" * 150 + "é", 1)], 30)
    assert {"é", "##é", "x", "##x"} <= set(vocab)


def test_text_processor_word_and_pretokenized(tmp_path):
    vocab_file = tmp_path / "text.txt"
    write_vocab_file(vocab_file, list(schema.RESERVED_TOKENS) + ["new", "york", "is", "big"])
    proc = TextProcessor(WORD, str(vocab_file))
    assert proc.encode(tf.constant(["New  York is HUGE"])).to_list() == [[4, 5, 6, schema.UNK_ID]]
    words = tf.ragged.constant([["NEW", "York"], ["ＢＩＧ"]])
    assert proc.encode_words(words).to_list() == [[4, 5], [7]]


def test_text_processor_wordpiece_saved_model_round_trip(tmp_path):
    vocab_file = tmp_path / "text.txt"
    write_vocab_file(vocab_file, wordpiece_vocab())
    proc = TextProcessor(WORDPIECE, str(vocab_file))
    module = tf.Module()
    module.proc = proc
    module.encode = tf.function(lambda t: proc.encode(t).to_tensor(), input_signature=[tf.TensorSpec([None], tf.string)])
    module.decode = tf.function(proc.decode, input_signature=[tf.TensorSpec([None, None], tf.int64)])
    tf.saved_model.save(module, str(tmp_path / "sm"))
    vocab_file.unlink()  # the reloaded model must use its own asset copy
    loaded = tf.saved_model.load(str(tmp_path / "sm"))
    ids = loaded.encode(tf.constant(["The players replay", "a word"]))
    assert strings(loaded.decode(ids)) == ["the players replay", "a word"]


def test_punctuation_split_and_raw_words():
    from serving.text_processor import split_raw_words

    spec = TokenizerSpec(kind="word", word_split="punctuation")
    assert split_words(tf.constant(["Tue, 3.3.1998"]), spec).to_list() == [
        [b"tue", b",", b"3", b".", b"3", b".", b"1998"]]
    assert split_raw_words(tf.constant(["Tue,  3/3", ""]), spec).to_list() == [[b"Tue", b",", b"3", b"/", b"3"], []]
    assert split_raw_words(tf.constant([" EU  rejects "]), TokenizerSpec(kind="word")).to_list() == [[b"EU", b"rejects"]]


def test_word_char_ids_keep_case_and_pad_with_zeros():
    from serving.text_processor import CHAR_VOCAB_SIZE, word_char_ids

    ids = word_char_ids(tf.constant([["Ab", "", "\u4e00bcdef"]]), TokenizerSpec(kind="word"), max_chars=4).numpy()
    assert ids.shape == (1, 3, 4) and ids.dtype == np.int32
    assert ids[0, 0].tolist() == [ord("A") + 1, ord("b") + 1, 0, 0]  # case kept though spec.lowercase
    assert (ids[0, 1] == 0).all()
    assert ids[0, 2].tolist() == [CHAR_VOCAB_SIZE - 1, ord("b") + 1, ord("c") + 1, ord("d") + 1]  # cut at 4

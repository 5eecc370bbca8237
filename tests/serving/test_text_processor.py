"""The shared normalize/tokenize code and the TextProcessor tf.Module."""

import pytest
import tensorflow as tf

from serving import schema
from serving.text_processor import TextProcessor, TokenizerSpec, detokenize, normalize, tokenize

TEXTS = ["  Tuesday,\u00a0March 3,  1998 ", "ＦＵＬＬ width\tand\nnewline", "Ünïcödé 3RD of MÄRZ", "x", ""]
CHAR = TokenizerSpec(kind="char", lowercase=True, normalization="NFKC")
WORD = TokenizerSpec(kind="word", lowercase=False, normalization="NFC")


def strings(t: tf.Tensor) -> list[str]:
    return [b.decode("utf-8") for b in t.numpy().tolist()]


def test_normalize_folds_width_case_and_whitespace():
    assert strings(normalize(tf.constant(TEXTS), CHAR)) == [
        "tuesday, march 3, 1998", "full width and newline", "ünïcödé 3rd of märz", "x", "",
    ]
    assert strings(normalize(tf.constant(["A\u2028B"]), TokenizerSpec(lowercase=False, normalization="none"))) == ["A B"]


@pytest.mark.parametrize("spec", [CHAR, WORD, TokenizerSpec("char", False, "none")])
def test_detokenize_inverts_tokenize(spec):
    texts = tf.constant(TEXTS)
    assert strings(detokenize(tokenize(texts, spec), spec)) == strings(normalize(texts, spec))


@pytest.mark.parametrize("word_split", ["unicode_script", "punctuation"])
def test_detokenize_glues_split_off_punctuation_back(word_split):
    """Sentences as Multi30k writes them come back as written (after normalization), not "a man 's t - shirt ."."""
    spec = TokenizerSpec("word", word_split=word_split)
    texts = tf.constant(["A man's t-shirt (red), isn't it?", "Zwei Männer stehen am Herd.", "Ein \"Mädchen\" rennt!"])
    tokens = tokenize(texts, spec)
    assert b"-" in tokens.to_list()[0] and b"(" in tokens.to_list()[0]  # split off ...
    assert strings(detokenize(tokens, spec))[:2] == strings(normalize(texts, spec))[:2]  # ... and glued back
    assert strings(detokenize(tokens, spec))[2] == 'ein " mädchen " rennt!'  # a straight quote stays ambiguous


def test_token_shapes():
    assert tokenize(tf.constant(["Mar 3"]), CHAR).to_list() == [[b"m", b"a", b"r", b" ", b"3"]]
    assert tokenize(tf.constant(["Mar  3,"]), WORD).to_list() == [[b"Mar", b"3,"]]


def test_spec_dict_round_trip_and_errors():
    assert TokenizerSpec.from_dict(WORD.to_dict()) == WORD
    with pytest.raises(ValueError, match="kind='bpe'"):
        TokenizerSpec(kind="bpe")
    with pytest.raises(ValueError, match="Unknown TokenizerSpec keys"):
        TokenizerSpec.from_dict({"kind": "char", "lower": True})


@pytest.fixture
def vocab_file(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("".join(t + "\n" for t in list(schema.RESERVED_TOKENS) + [" ", "m", "a", "r", "3"]))
    return str(path)


def test_encode_decode_round_trip_and_oov(vocab_file):
    proc = TextProcessor(CHAR, vocab_file)
    ids = proc.encode(tf.constant(["Mar 3", "maz"]))
    assert ids.to_list() == [[5, 6, 7, 4, 8], [5, 6, schema.UNK_ID]]
    assert strings(proc.decode(ids.to_tensor())) == ["mar 3", "ma[UNK]"]
    dense = tf.constant([[schema.START_ID, 5, 6, schema.END_ID, 7], [8, schema.PAD_ID, 8, 0, 0]])
    assert strings(proc.decode(dense)) == ["ma", "33"]
    assert TextProcessor(CHAR, vocab_file, max_length=2).encode(tf.constant(["Mar 3"])).to_list() == [[5, 6]]


def test_works_in_tf_function_and_after_saved_model_reload(vocab_file, tmp_path):
    module = tf.Module()
    module.proc = TextProcessor(CHAR, vocab_file, max_length=4)
    module.encode = tf.function(
        lambda texts: module.proc.encode(texts).to_tensor(), input_signature=[tf.TensorSpec([None], tf.string)]
    )
    module.round_trip = tf.function(
        lambda texts: module.proc.decode(module.proc.encode(texts).to_tensor()),
        input_signature=[tf.TensorSpec([None], tf.string)],
    )
    texts = tf.constant(["MAR 3", "  a  r ", "zzz"])
    before = (module.encode(texts).numpy().tolist(), strings(module.round_trip(texts)))
    assert before[1] == ["mar ", "a r", "[UNK][UNK][UNK]"]
    tf.saved_model.save(module, str(tmp_path / "saved"))
    (tmp_path / "vocab.txt").unlink()  # the reloaded model must use its own asset copy
    reloaded = tf.saved_model.load(str(tmp_path / "saved"))
    assert list((tmp_path / "saved" / "assets").iterdir())
    after = (reloaded.encode(texts).numpy().tolist(), strings(reloaded.round_trip(texts)))
    assert after == before


def test_whitespace_keep_round_trips_line_structure_through_a_vocab_file(tmp_path):
    from components.transform.vocab import write_vocab_file
    from serving.text_processor import NEWLINE_TOKEN, TextProcessor

    spec = TokenizerSpec(kind="char", lowercase=False, normalization="NFC", whitespace="keep")
    text = "ROMEO:\r\nBut  soft!\n\n\tWhat light"
    tokens = tokenize(tf.constant([text]), spec).to_list()[0]
    assert tokens.count(NEWLINE_TOKEN.encode()) == 3 and b"\t" in tokens and b" " in tokens
    vocab = ["[PAD]", "[UNK]", "[START]", "[END]"] + sorted({t.decode() for t in tokens})
    write_vocab_file(tmp_path / "text.txt", vocab)  # no token holds a line break
    processor = TextProcessor(spec, str(tmp_path / "text.txt"))
    ids = processor.encode(tf.constant([text])).to_tensor()
    assert processor.decode(ids).numpy()[0].decode() == "ROMEO:\nBut  soft!\n\n\tWhat light"
    assert TokenizerSpec.from_dict(spec.to_dict()) == spec
    assert "whitespace" not in TokenizerSpec(kind="char").to_dict()  # older manifests read back unchanged


def test_digits_to_zero_zeroes_ascii_digits_of_words_and_characters():
    from serving.text_processor import word_char_ids

    spec = TokenizerSpec(kind="word", digits_to_zero=True)
    # Fullwidth digits are ASCII after NFKC; Arabic-Indic digits are not ASCII and stay.
    assert strings(normalize(tf.constant(["Mar 31, 1999 \uff12\uff10 \u0661"]), spec)) == ["mar 00, 0000 00 \u0661"]
    assert strings(normalize(tf.constant(["1999"]), TokenizerSpec(kind="word"))) == ["1999"]
    chars = word_char_ids(tf.constant([["A1", "B2"]]), spec).numpy()
    assert chars[0, 0, :2].tolist() == [ord("A") + 1, ord("0") + 1] and chars[0, 1, 1] == chars[0, 0, 1]
    assert spec.to_dict()["digits_to_zero"] is True and "digits_to_zero" not in TokenizerSpec().to_dict()
    assert TokenizerSpec.from_dict(spec.to_dict()) == spec


def test_whitespace_keep_is_for_characters_only():
    with pytest.raises(ValueError, match="kind='char' only"):
        TokenizerSpec(kind="word", whitespace="keep")
    with pytest.raises(ValueError, match="whitespace must be one of"):
        TokenizerSpec(whitespace="kept")

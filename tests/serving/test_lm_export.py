"""Language-model signatures: in-graph generation and scoring against the Keras model."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from serving import schema
from models.decoding import Greedy, generate
from models.networks.rnn_language_model import RNNLanguageModel
from models.networks.transformer_language_model import TransformerLanguageModel
from serving.lm_export import LanguageModelFunctions
from serving.text_processor import NEWLINE_TOKEN, TextProcessor, TokenizerSpec

CHARS = list("abcdefgh :") + [NEWLINE_TOKEN]
VOCAB = [schema.PAD, schema.UNK, schema.START, schema.END, *CHARS]
SPEC = TokenizerSpec(kind="char", lowercase=False, normalization="none", whitespace="keep")


@pytest.fixture(scope="module", params=["lstm", "transformer"])
def fns(request, tmp_path_factory):
    vocab = tmp_path_factory.mktemp("lm") / "text.txt"
    vocab.write_text("".join(t + "\n" for t in [schema.PAD, schema.UNK, schema.START, schema.END, *CHARS]),
                     encoding="utf-8")
    keras.utils.set_random_seed(3)
    if request.param == "lstm":  # carried states
        model = RNNLanguageModel(4 + len(CHARS), embed_dim=8, units=16, cell="lstm", num_layers=2)
    else:  # key/value cache; room for the longest prompt + generation below
        model = TransformerLanguageModel(4 + len(CHARS), embed_dim=16, num_heads=2, ff_dim=32, num_layers=2,
                                         max_length=48)
    model(np.ones((1, 2), "int32"))
    return LanguageModelFunctions(model, TextProcessor(SPEC, str(vocab)), max_new_tokens=12)


def _generate(fns, prompts, n=15, temperature=0.0, top_k=0, seed=1):
    out = fns.generate(tf.constant(prompts), n, temperature, top_k, tf.constant(seed, tf.int64))
    return [t.decode("utf-8") for t in out["text"].numpy()], out["num_tokens"].numpy()


def test_greedy_graph_generation_equals_the_keras_decoding_loop(fns):
    texts, counts = _generate(fns, ["ab:\nc", ""])
    for prompt, text, count in zip(["ab:\nc", ""], texts, counts):
        ids = [schema.END_ID] + [4 + CHARS.index(NEWLINE_TOKEN if c == "\n" else c) for c in prompt]
        out = generate(fns.model, np.array([ids]), np.array([len(ids)]), Greedy(), 15)
        tokens = np.asarray(out["new_tokens"])[0, 0]
        expected = []
        for t in tokens:
            if t == schema.END_ID:
                break
            expected.append("\n" if VOCAB[t] == NEWLINE_TOKEN else VOCAB[t])
        assert text == "".join(expected)
        assert count == len(expected)


def test_a_seed_reproduces_the_sample_in_any_batch_position(fns):
    alone, _ = _generate(fns, ["abc"], temperature=1.0, seed=5)
    batched, _ = _generate(fns, ["h:", "abc", ""], temperature=1.0, seed=5)
    assert batched[1] == alone[0]
    other = {_generate(fns, ["abc"], temperature=1.0, seed=s)[0][0] for s in range(6, 12)}
    assert len(other | {alone[0]}) > 1  # seeds change the sample


def test_top_1_and_zero_temperature_are_greedy(fns):
    greedy, _ = _generate(fns, ["dd"])
    assert _generate(fns, ["dd"], temperature=1.5, top_k=1, seed=9)[0] == greedy


def test_serving_default_decodes_with_the_configured_strategy(fns):
    """push.decode with beam search: serving_default gives the best beam of the shared loop, the same every call."""
    from types import SimpleNamespace

    from models.decoding import BeamSearch

    beam = SimpleNamespace(strategy="beam", beam_width=3, length_penalty=0.6, temperature=0.7, top_k=0, top_p=1.0)
    served = LanguageModelFunctions(fns.model, fns.processor, max_new_tokens=6, decode=beam)
    texts = [t.decode("utf-8") for t in served.serving_default(tf.constant(["ab", ""]))["text"].numpy()]
    assert texts == [t.decode("utf-8") for t in served.serving_default(tf.constant(["ab", ""]))["text"].numpy()]
    for prompt, text in zip(["ab", ""], texts):
        ids = [schema.END_ID] + [4 + CHARS.index(c) for c in prompt]
        out = generate(fns.model, np.array([ids]), np.array([len(ids)]), BeamSearch(3, 0.6), 6)
        tokens = np.asarray(out["new_tokens"])[0, 0]
        expected = "".join(VOCAB[t] for t in tokens[:int(np.asarray(out["new_lengths"])[0, 0])] if t != schema.END_ID)
        assert text == expected.replace(NEWLINE_TOKEN, "\n")


def test_generation_length_is_the_requested_one(fns):
    _, counts = _generate(fns, ["a", "b"], n=7, temperature=1.0, seed=2)
    assert all(c <= 7 for c in counts)  # fewer only when the model ends the text with [END]


def test_score_is_the_log_likelihood_of_the_tokens_after_end(fns):
    texts = ["ab\nc", "h", ""]
    out = fns.score(tf.constant(texts))
    for text, ll, n, ppl in zip(texts, out["log_likelihood"].numpy(), out["num_tokens"].numpy(),
                                out["perplexity"].numpy()):
        ids = [schema.END_ID] + [4 + CHARS.index(NEWLINE_TOKEN if c == "\n" else c) for c in text]
        if len(ids) == 1:
            assert n == 0 and ll == 0.0
            continue
        logits = np.asarray(fns.model(np.array([ids[:-1]])))[0].astype("float64")
        log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        expected = sum(log_probs[t, ids[t + 1]] for t in range(len(ids) - 1))
        np.testing.assert_allclose(ll, expected, rtol=1e-5)
        assert n == len(text)
        np.testing.assert_allclose(ppl, np.exp(-expected / len(text)), rtol=1e-5)

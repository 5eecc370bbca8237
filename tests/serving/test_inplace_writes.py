"""In-place cache writes: the same decodes as the copying writes, nothing carried between calls or threads."""

import threading

import keras
import numpy as np
import pytest
import tensorflow as tf

from models.decoding import BeamSearch, Greedy, Sampling, decode_seq2seq, generate
from models.networks.transformer_language_model import TransformerLanguageModel
from models.networks.transformer_seq2seq import TransformerSeq2Seq
from serving.inplace_writes import with_inplace_cache_writes

PROMPTS = np.array([[3, 5, 6, 7, 8], [3, 9, 0, 0, 0], [3, 4, 5, 6, 0]], "int32")
LENGTHS = np.array([5, 2, 4], "int32")
SOURCES = np.array([[5, 6, 7, 8, 0], [9, 4, 0, 0, 0], [4, 5, 6, 7, 8]], "int32")


def _lm():
    keras.utils.set_random_seed(3)
    model = TransformerLanguageModel(13, embed_dim=16, num_heads=2, ff_dim=32, num_layers=2, max_length=24)
    model(np.ones((1, 2), "int32"))
    return model


def _seq2seq():
    keras.utils.set_random_seed(3)
    model = TransformerSeq2Seq(13, 14, embed_dim=16, num_heads=2, ff_dim=32, encoder_layers=1, decoder_layers=2,
                               max_length=12)
    model((SOURCES, SOURCES))
    return model


def _both(fn, signature):
    """`fn` traced with the default (copying) writes and with in-place writes."""
    return tf.function(fn, input_signature=signature), tf.function(with_inplace_cache_writes(fn),
                                                                  input_signature=signature)


def _ops(concrete) -> set:
    graph = concrete.graph.as_graph_def()
    return {n.op for n in graph.node} | {n.op for f in graph.library.function for n in f.node_def}


@pytest.mark.parametrize("strategy", [Greedy(), Sampling(temperature=1.0, top_k=5, seed=11), BeamSearch(3, 0.6)],
                         ids=["greedy", "sampling", "beam"])
def test_language_model_generates_the_same_with_in_place_writes(strategy):
    model = _lm()

    def run(ids, lengths):
        out = generate(model, ids, lengths, strategy, 8, context=24)
        return out["new_tokens"], out["scores"]

    copying, inplace = _both(run, [tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([None], tf.int32)])
    assert "InplaceUpdate" in _ops(inplace.get_concrete_function())
    assert "InplaceUpdate" not in _ops(copying.get_concrete_function())
    tokens, scores = copying(PROMPTS, LENGTHS)
    first = inplace(PROMPTS, LENGTHS)
    np.testing.assert_array_equal(first[0], tokens)
    np.testing.assert_allclose(first[1], scores, rtol=1e-5)
    inplace(PROMPTS[::-1], LENGTHS[::-1])  # another request in between writes its own buffers only
    np.testing.assert_array_equal(inplace(PROMPTS, LENGTHS)[0], tokens)


def test_seq2seq_beam_search_is_the_same_under_concurrent_calls():
    """The decoder's caches start as one shared zeros tensor (`[empty] * n`): each request must own copies
    before its first cached step, and concurrent requests must not write into each other's."""
    model = _seq2seq()

    def run(source_ids):
        out = decode_seq2seq(model, source_ids, BeamSearch(3, 0.6), 10, end_id=99)  # never ends: 10 tokens
        return out["tokens"], out["extras"]

    copying, inplace = _both(run, [tf.TensorSpec([None, None], tf.int32)])
    requests = [SOURCES, SOURCES[::-1], SOURCES[1:], SOURCES[:1]]
    expected = [copying(r) for r in requests]
    results = {}

    def worker(i):
        for _ in range(3):
            got = inplace(requests[i % len(requests)])
            results.setdefault(i, []).append(got)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, outs in results.items():
        for tokens, attention in outs:
            np.testing.assert_array_equal(tokens, expected[i % len(requests)][0])
            np.testing.assert_allclose(attention, expected[i % len(requests)][1], atol=1e-6)
    assert len(results) == 6

"""TransformerLanguageModel: cached steps == full run, causality, padding, round trip, generate, NumPy reference."""

import math

import keras
import numpy as np
import pytest
from keras import ops

from models.decoding import Greedy, generate
from models.layers.causal_decoder_block import CausalDecoderBlock
from models.networks.transformer_language_model import TransformerLanguageModel
from tests.models.layer_checks import assert_float32_logits_under_mixed_precision, assert_model_round_trip

SMALL = dict(vocab_size=30, embed_dim=16, num_heads=2, ff_dim=32, num_layers=2, max_length=16)


def _np(x):
    return ops.convert_to_numpy(x)


def _tokens(n=2, time=8, seed=0):
    return np.random.default_rng(seed).integers(1, 30, size=(n, time)).astype("int32")


def _model(seed=0, **overrides):
    keras.utils.set_random_seed(seed)
    return TransformerLanguageModel(**{**SMALL, **overrides})


def _assert_fixed_cache(states, batch=2):
    assert len(states) == 2 * SMALL["num_layers"] + 1
    for tensor in states[:-1]:
        assert tuple(tensor.shape) == (batch, 2, 16, 8)  # (batch, heads, max_length, head_dim)
    assert tuple(states[-1].shape) == (batch,) and keras.backend.standardize_dtype(states[-1].dtype) == "int32"


@pytest.mark.parametrize("positions", ["learned", "sinusoidal"])
def test_cached_steps_equal_the_full_run(positions):
    model = _model(positions=positions)
    tokens = _tokens()
    full = _np(model(tokens))
    assert full.shape == (2, 8, 30) and full.dtype == np.float32
    logits, states = model(tokens[:, :3], return_state=True)  # the prompt, once
    np.testing.assert_allclose(_np(logits), full[:, :3], atol=1e-5)
    _assert_fixed_cache(states)
    np.testing.assert_array_equal(_np(states[-1]), [3, 3])
    for t in range(3, 8):  # then one cached attention step per token
        step_logits, states = model.step(tokens[:, t], states)
        np.testing.assert_allclose(_np(step_logits), full[:, t], atol=1e-5)
        _assert_fixed_cache(states)
    np.testing.assert_array_equal(_np(states[-1]), [8, 8])
    states = model.initial_states(2)  # from the empty cache, token by token
    for t in range(3):
        step_logits, states = model.step(tokens[:, t], states)
        np.testing.assert_allclose(_np(step_logits), full[:, t], atol=1e-5)
    chunk = model(tokens[:, 3:], initial_state=states)  # and a chunk continuing the cache
    np.testing.assert_allclose(_np(chunk), full[:, 3:], atol=1e-5)


@pytest.mark.parametrize("batch", [1, 2])
def test_cached_steps_equal_the_teacher_forced_pass_up_to_max_length(batch):
    model = _model(max_length=40, positions="sinusoidal")
    tokens = _tokens(n=batch, time=40, seed=3)
    full = _np(model(tokens))  # (batch, 40, vocab)
    _, states = model(tokens[:, :4], return_state=True)
    for t in range(4, 40):  # up to the last slot, 39
        step_logits, states = model.step(tokens[:, t], states)
        np.testing.assert_allclose(_np(step_logits), full[:, t], atol=2e-5, err_msg=f"step {t}")
    np.testing.assert_array_equal(_np(states[-1]), [40] * batch)
    assert [tuple(s.shape) for s in states] == [(batch, 2, 40, 8)] * 4 + [(batch,)]


@pytest.mark.parametrize("batch", [1, 2])
def test_a_cache_of_cache_length_slots_gives_the_same_steps_and_refuses_one_more(batch):
    model = _model()
    tokens = _tokens(n=batch)
    full = _np(model(tokens))  # (batch, 8, vocab); max_length 16
    _, states = model(tokens[:, :3], return_state=True, cache_length=8)
    assert [tuple(s.shape) for s in states] == [(batch, 2, 8, 8)] * 4 + [(batch,)]
    for t in range(3, 8):
        step_logits, states = model.step(tokens[:, t], states)
        np.testing.assert_allclose(_np(step_logits), full[:, t], atol=1e-5)
    with pytest.raises(ValueError, match="at most 8 tokens per sequence"):
        model.step(tokens[:, 0], states)


def test_states_reordered_along_the_batch_axis_give_the_reordered_rows():
    model = _model()
    tokens = _tokens(n=3, time=6, seed=5)
    _, states = model(tokens[:, :4], return_state=True)
    rows = np.array([2, 2, 0], "int32")  # what a beam search does: keep, duplicate and drop rows
    reordered = [ops.take(s, rows, axis=0) for s in states]
    step_logits, _ = model.step(tokens[rows, 4], reordered)
    np.testing.assert_allclose(_np(step_logits), _np(model(tokens[:, :5]))[rows, 4], atol=1e-5)
    one_row, _ = model.step(tokens[2:3, 4], [ops.take(s, [2], axis=0) for s in states])  # batch 1: the 2-D path
    np.testing.assert_allclose(_np(one_row), _np(step_logits)[:1], atol=1e-5)


def test_causal_a_future_token_changes_no_earlier_logit():
    model = _model()
    tokens = _tokens()
    changed = tokens.copy()
    changed[:, 5] = (changed[:, 5] % 29) + 1
    before, after = _np(model(tokens)), _np(model(changed))
    np.testing.assert_allclose(after[:, :5], before[:, :5], atol=1e-6)
    assert np.abs(after[:, 5:] - before[:, 5:]).max() > 1e-4


def test_right_padding_changes_nothing_and_each_row_continues_after_its_prompt():
    model = _model()
    tokens = _tokens()[:, :3]
    padded = np.pad(tokens, [[0, 0], [0, 5]])
    np.testing.assert_allclose(_np(model(padded))[:, :3], _np(model(tokens)), atol=1e-5)
    prompts = np.array([[5, 6, 7], [8, 9, 0]], "int32")  # a batch of prompts of lengths 3 and 2
    _, states = model(prompts, return_state=True)
    np.testing.assert_array_equal(_np(states[-1]), [3, 2])
    step_logits, _ = model.step(np.array([11, 12], "int32"), states)
    reference = _np(model(np.array([[5, 6, 7, 11, 0, 0, 0, 0], [8, 9, 12, 0, 0, 0, 0, 0]], "int32")))
    np.testing.assert_allclose(_np(step_logits), reference[[0, 1], [3, 2]], atol=1e-5)


def test_keras_round_trip(tmp_path):
    model = _model(positions="sinusoidal", dropout=0.1)
    tokens = _tokens()
    restored = assert_model_round_trip(model, tokens, tmp_path)
    assert isinstance(restored, TransformerLanguageModel)
    _, states = restored(tokens[:, :3], return_state=True)
    step_logits, _ = restored.step(tokens[:, 3], states)
    np.testing.assert_allclose(_np(step_logits), _np(model(tokens))[:, 3], atol=1e-5)


@pytest.mark.slow  # re-traces per prefix length: seconds on TensorFlow, tens of seconds on JAX (the JAX pass skips slow)
def test_greedy_generate_equals_rerunning_the_prefix():
    model = _model(seed=2)
    prompt = _tokens(time=3, seed=4)
    out = generate(model, prompt, np.full((len(prompt),), prompt.shape[1]), Greedy(), 6)
    greedy = [list(t[:n]) for t, n in zip(_np(out["new_tokens"])[:, 0], _np(out["new_lengths"])[:, 0])]
    for row, new in zip(prompt, greedy):
        sequence = list(row)
        for _ in range(6):  # the slow reference: re-run the whole prefix for every token
            logits = _np(model(np.array([sequence], "int32")))[0, -1]
            logits[[0, 2]] = -np.inf  # [PAD] and [START] are never generated
            sequence.append(int(logits.argmax()))
            if sequence[-1] == 3:  # [END]
                break
        assert new == sequence[3:]


def _layer_norm(x, layer):
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + layer.epsilon) * _np(layer.gamma) + _np(layer.beta)


def _gelu(x):
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def _block_reference(x, block):
    """h = x + softmax(Q K^T / sqrt(d) + causal mask) V W_o + b_o (per head; Q, K, V from LN(x));
    out = h + FFN(LN(h))."""
    a = _layer_norm(x, block.attention_norm)  # (batch, time, embed_dim)
    q, k, v = (np.einsum("btd,dnh->btnh", a, _np(layer.kernel)) + _np(layer.bias).reshape(layer.kernel.shape[1:])
               for layer in (block.query, block.key, block.value))  # each (batch, time, heads, head_dim)
    time = x.shape[1]
    scores = np.einsum("btnh,bsnh->bnts", q, k) / math.sqrt(q.shape[-1])
    scores = np.where(np.tril(np.ones((time, time), bool)), scores, -np.inf)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    attended = np.einsum("bnts,bsnh->btnh", weights, v)
    h = x + np.einsum("btnh,nhd->btd", attended, _np(block.attention_output.kernel)) + _np(block.attention_output.bias)
    inner = _gelu(_layer_norm(h, block.ff_norm) @ _np(block.ff_inner.kernel) + _np(block.ff_inner.bias))
    return h + inner @ _np(block.ff_outer.kernel) + _np(block.ff_outer.bias)


def test_matches_a_numpy_reference_of_the_equations():
    model = _model(num_layers=1)
    tokens = _tokens(time=5)
    logits = _np(model(tokens))
    block = model.blocks[0]
    x = _np(model.token_embedding.embeddings)[tokens] * math.sqrt(16)
    x = x + _np(model.position_embedding.position_embeddings)[:5]  # (batch, time, embed_dim)
    out = _block_reference(x, block)
    np.testing.assert_allclose(_np(block(x.astype("float32"))[0]), out, atol=1e-5)
    expected = _layer_norm(out, model.final_norm) @ _np(model.head.kernel) + _np(model.head.bias)
    np.testing.assert_allclose(logits, expected, atol=1e-5)


@pytest.mark.parametrize("batch", [2, 1])  # a static batch of 1 takes the 2-D matmul attention of `step`
def test_a_traced_decode_loop_keeps_the_cache_shape_and_clips_past_max_length(batch):
    model = _model()
    tokens = _tokens(n=batch)
    _, states = model(tokens[:, :3], return_state=True)

    def body(i, carry):
        token, out, states = carry
        logits, states = model.step(token, states)
        token = ops.cast(ops.argmax(logits, axis=-1), "int32")
        return token, ops.slice_update(out, (0, i), token[:, None]), tuple(states)

    def decode(carry, steps):
        return ops.fori_loop(0, steps, body, carry)

    if keras.backend.backend() == "tensorflow":  # run it as a graph (the serving path: a tf.while_loop)
        import tensorflow as tf

        decode = tf.function(decode)
        prefill = tf.function(lambda ids: model(ids, return_state=True)[1],
                              input_signature=[tf.TensorSpec((None, None), tf.int32)])
        traced_shapes = [tuple(s.shape) for s in prefill.get_concrete_function().structured_outputs]
        assert traced_shapes == [(None, 2, 16, 8)] * 4 + [(None,)]  # static cache length for the while loop
    start = (ops.convert_to_tensor(tokens[:, 3]), ops.zeros((batch, 15), "int32"), tuple(states))
    _, traced, final = decode(start, 5)
    eager, token, eager_states = [], tokens[:, 3], states
    for _ in range(5):
        logits, eager_states = model.step(token, eager_states)
        token = _np(logits).argmax(-1).astype("int32")
        eager.append(token)
    np.testing.assert_array_equal(_np(traced)[:, :5], np.stack(eager, 1))
    _assert_fixed_cache(final, batch)
    np.testing.assert_array_equal(_np(final[-1]), [8] * batch)
    _, _, final = decode(start, 15)  # 3 + 15 > max_length: traced code clips instead of raising
    np.testing.assert_array_equal(_np(final[-1]), [16] * batch)
    _assert_fixed_cache(final, batch)
    with pytest.raises(ValueError, match="max_length=16"):  # eagerly, the 17th token raises
        model.step(tokens[:, 0], list(final))
    with pytest.raises(ValueError, match="max_length=16"):
        model(np.ones((1, 17), "int32"))


def test_mixed_precision_gives_float32_logits_and_a_float16_cache():
    assert_float32_logits_under_mixed_precision(lambda: _model(), _tokens())
    original = keras.config.dtype_policy()
    try:
        keras.config.set_dtype_policy("mixed_float16")
        model = _model()
        for tokens in (_tokens(), _tokens(n=1)):  # batch 2 and batch 1 (the two attention paths of `step`)
            logits, states = model(tokens[:, :3], return_state=True)
            step_logits, states = model.step(tokens[:, 3], states)
            assert keras.backend.standardize_dtype(step_logits.dtype) == "float32"
            assert keras.backend.standardize_dtype(states[0].dtype) == "float16"
            assert np.all(np.isfinite(_np(step_logits)))
            np.testing.assert_allclose(_np(step_logits), _np(model(tokens[:, :4]))[:, 3], atol=0.05)
    finally:
        keras.config.set_dtype_policy(original)


@pytest.mark.fit  # a training step: ~3 s on TensorFlow, 10-15 s on JAX (compiling the train step)
def test_one_training_step_with_dropout():
    model = _model(dropout=0.1, num_layers=1)
    model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=False)  # XLA compilation would double the time of this check
    tokens = _tokens()
    loss = model.train_on_batch(tokens[:, :-1], tokens[:, 1:])
    assert np.isfinite(loss)


def test_invalid_arguments_config_and_registry():
    from models.registry import available_models, build_model

    model = build_model("transformer_language_model", **SMALL, positions="sinusoidal", dropout=0.1)
    assert isinstance(model, TransformerLanguageModel) and "transformer_language_model" in available_models()
    config = model.get_config()
    assert {k: config[k] for k in (*SMALL, "positions", "dropout")} == {**SMALL, "positions": "sinusoidal",
                                                                        "dropout": 0.1}
    assert TransformerLanguageModel.from_config(config).get_config() == config
    block = CausalDecoderBlock(16, 2, 32, dropout=0.1)
    assert CausalDecoderBlock.from_config(block.get_config()).get_config() == block.get_config()
    with pytest.raises(ValueError, match="divisible"):
        TransformerLanguageModel(**{**SMALL, "num_heads": 3})
    with pytest.raises(ValueError, match="Received: positions='rotary'"):
        TransformerLanguageModel(**SMALL, positions="rotary")
    with pytest.raises(ValueError, match="Received: max_length=0"):
        TransformerLanguageModel(**{**SMALL, "max_length": 0})

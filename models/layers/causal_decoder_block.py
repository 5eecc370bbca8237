"""Pre-LayerNorm causal self-attention block that reads and writes a key/value cache (GPT-style decoder block),
with an optional encoder-decoder attention sublayer (the Transformer's decoder block)."""

import math
import warnings

import keras
from keras import ops

from models.checks import check_heads, check_last_dim, check_positive_int, check_rate
from models.layers import cache_writes
from models.layers.bahdanau_attention import large_negative, masked_softmax

MASKED = large_negative("float32")  # masked attention logit: scores are float32 under every policy
EPSILON = 1e-5  # LayerNormalization epsilon of every norm


def step_cache_inputs(positions, num_heads, slots):
    """What every block's `step` needs about the slots `positions`, computed once per step for all blocks.

    Args:
        positions: `(batch,)` int32, the slot each row writes (`< slots`).
        num_heads: int.
        slots: int (or a scalar int tensor), the cache length.

    Returns:
        `(rows, bias)`: rows `(batch * num_heads, 1)` int32, the row of each (sequence, head) write in the
        cache viewed as `(batch * num_heads * slots, head_dim)`; bias `(batch, 1, slots)` float32, 0 at the
        slots a row may attend to (`<= positions`) and `MASKED` after them.
    """
    positions = ops.cast(positions, "int32")  # (batch,)
    sequences = ops.arange(ops.shape(positions)[0], dtype="int32")[:, None] * num_heads  # (batch, 1)
    first = (sequences + ops.arange(num_heads, dtype="int32")[None, :]) * slots  # (batch, heads): slot 0's row
    rows = ops.reshape(first + positions[:, None], (-1, 1))  # (batch * heads, 1)
    visible = ops.less_equal(ops.arange(slots, dtype="int32")[None, :], positions[:, None])  # (batch, slots)
    bias = ops.where(visible, 0.0, MASKED)[:, None, :]  # (batch, 1, slots) float32
    return rows, ops.cast(bias, "float32")


def _softmax(scores):
    """Softmax over the last axis of float32 `scores` (exp / sum, the max subtracted first).

    Written out rather than `ops.softmax`: TensorFlow's oneDNN softmax kernel costs ~50 µs a call at
    these sizes on CPU, the four plain ops ~7 µs. Every row of the cached step has at least one
    unmasked slot (its own), so the sum is >= 1."""
    shifted = scores - ops.max(scores, axis=-1, keepdims=True)
    weights = ops.exp(shifted)
    return weights / ops.sum(weights, axis=-1, keepdims=True)


@keras.saving.register_keras_serializable(package="seqlab")
class CausalDecoderBlock(keras.layers.Layer):
    """Pre-LayerNorm causal self-attention + feed-forward block that can read and write a key/value cache.

        h = x + Dropout(W_o MultiHead(softmax(Q K^T / sqrt(head_dim) + causal mask) V)),  Q, K, V from LN(x)
        y = h + Dropout(W_2 gelu(W_1 LN(h) + b_1) + b_2)

    With `cross_attention=True` (the decoder of an encoder-decoder), between the two:

        h' = h + Dropout(W_o' MultiHead(softmax(Q' K'^T / sqrt(head_dim) + source mask) V')),
             Q' from LN(h) (the layer below), K', V' from the encoder output (`precompute_cross`)

    and the feed-forward sublayer reads h'. K' and V' depend on the source
    only, so a decoder computes them once per source sentence.

    Why pre-LN here and post-LN in `TransformerEncoder`: with the norms inside
    the residual branches (and one final norm after the last block, see
    `TransformerLanguageModel`), the residual stream is an identity path from
    the embeddings to the output, so gradients are well scaled at
    initialization whatever the depth and the decoder trains at the trainer's
    plain learning rate; post-LN blocks need a learning-rate warm-up to train
    stably (Xiong et al., 2020, "On Layer Normalization in the Transformer
    Architecture"), and the trainer has none (only a per-epoch decay).
    `TransformerEncoder` keeps the post-LN of Vaswani et al. (2017): the
    shipped classifier and tagger configs were trained with it, and moving its
    norms would change what their saved weights compute.

    The q/k/v projections are `EinsumDense` layers (`query`, `key`, `value`,
    `attention_output`) that put the heads before the steps, so keys and values
    are plain `(batch, heads, steps, head_dim)` tensors the caller can cache,
    and both attention products are batched matmuls with no transpose of the
    cache. Attention scores, the mask and the softmax are float32 under every
    policy (the weights are cast back to the compute dtype before the values).

    Without a cache a query at step t sees the keys at steps <= t (a causal
    pass from position 0). With a cache, the inputs' keys/values are written
    into it at `positions` and a query at position p sees the slots <= p.
    `step` is the same computation for one token per row, written for speed
    (see its docstring).

    Args:
        embed_dim: int, model size.
        num_heads: int, divides `embed_dim`.
        ff_dim: int, feed-forward hidden size.
        dropout: float in [0, 1), on both residual branches.
        layer_norm_epsilon: float.
        cross_attention: bool, add the encoder-decoder attention sublayer.
        **kwargs: standard layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `(batch, time, embed_dim)`.
        key_cache, value_cache: optional `(batch, num_heads, slots, head_dim)`.
        positions: `(batch, time)` int32, the cache slot of every input step
            (required with a cache).
        cross: with `cross_attention`, `(keys, values, source_mask)`: `precompute_cross(memory)`
            and the `(batch, source_len)` mask of real source steps.
        training: bool.

    Returns:
        `(outputs, keys, values)`: outputs `(batch, time, embed_dim)`; without a
        cache this pass's keys/values `(batch, num_heads, time, head_dim)`, with
        one the updated caches `(batch, num_heads, slots, head_dim)`. With `cross`,
        a fourth element: the cross-attention weights `(batch, num_heads, time,
        source_len)` float32.

    Example:

    >>> block = CausalDecoderBlock(embed_dim=8, num_heads=2, ff_dim=16)
    >>> y, k, v = block(np.random.rand(2, 5, 8).astype("float32"))
    >>> ops.shape(y), ops.shape(k)
    ((2, 5, 8), (2, 2, 5, 4))
    >>> cache = np.zeros((2, 2, 16, 4), "float32")  # 16 slots
    >>> y1, k, v = block.step(np.random.rand(2, 8).astype("float32"), cache, cache, np.array([0, 0]))
    >>> ops.shape(y1), ops.shape(k)
    ((2, 8), (2, 2, 16, 4))
    """

    def __init__(self, embed_dim, num_heads, ff_dim, dropout=0.0, layer_norm_epsilon=EPSILON, cross_attention=False,
                 **kwargs):
        super().__init__(**kwargs)
        for name, value in (("embed_dim", embed_dim), ("num_heads", num_heads), ("ff_dim", ff_dim)):
            check_positive_int(name, value)
        check_heads(embed_dim, num_heads)
        check_rate("dropout", dropout)
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.ff_dim = ff_dim
        self.dropout = dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        self.cross_attention = bool(cross_attention)
        self.head_dim = embed_dim // num_heads
        policy = self.dtype_policy
        heads = (num_heads, None, self.head_dim)
        self.attention_norm = keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, dtype=policy,
                                                              name="attention_norm")
        self.query = keras.layers.EinsumDense("btd,dnh->bnth", heads, bias_axes="nh", dtype=policy, name="query")
        self.key = keras.layers.EinsumDense("btd,dnh->bnth", heads, bias_axes="nh", dtype=policy, name="key")
        self.value = keras.layers.EinsumDense("btd,dnh->bnth", heads, bias_axes="nh", dtype=policy, name="value")
        self.attention_output = keras.layers.EinsumDense("bnth,nhd->btd", (None, embed_dim), bias_axes="d",
                                                         dtype=policy, name="attention_output")
        self.attention_dropout = keras.layers.Dropout(dropout, dtype=policy, name="attention_dropout")
        if self.cross_attention:
            self.cross_norm = keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, dtype=policy,
                                                              name="cross_norm")
            self.cross_query = keras.layers.EinsumDense("btd,dnh->bnth", heads, bias_axes="nh", dtype=policy,
                                                        name="cross_query")
            self.cross_key = keras.layers.EinsumDense("btd,dnh->bnth", heads, bias_axes="nh", dtype=policy,
                                                      name="cross_key")
            self.cross_value = keras.layers.EinsumDense("btd,dnh->bnth", heads, bias_axes="nh", dtype=policy,
                                                        name="cross_value")
            self.cross_output = keras.layers.EinsumDense("bnth,nhd->btd", (None, embed_dim), bias_axes="d",
                                                         dtype=policy, name="cross_output")
            self.cross_dropout = keras.layers.Dropout(dropout, dtype=policy, name="cross_dropout")
            for layer in (self.cross_key, self.cross_value):  # the memory's padding mask is the `cross` tuple's;
                layer.supports_masking = True  # one attached to an encoder output is no reason to warn
        self.ff_norm = keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, dtype=policy, name="ff_norm")
        self.ff_inner = keras.layers.Dense(ff_dim, activation="gelu", dtype=policy, name="ff_inner")
        self.ff_outer = keras.layers.Dense(embed_dim, dtype=policy, name="ff_outer")
        self.ff_dropout = keras.layers.Dropout(dropout, dtype=policy, name="ff_dropout")

    def build(self, input_shape):
        check_last_dim(input_shape, "embed_dim", self.embed_dim)
        batch, time = input_shape[0], input_shape[1]
        for layer in (self.attention_norm, self.query, self.key, self.value, self.ff_norm, self.ff_inner):
            layer.build(input_shape)
        self.attention_output.build((batch, self.num_heads, time, self.head_dim))
        self.ff_outer.build((batch, time, self.ff_dim))
        if self.cross_attention:
            for layer in (self.cross_norm, self.cross_query, self.cross_key, self.cross_value):
                layer.build(input_shape)
            self.cross_output.build((batch, self.num_heads, time, self.head_dim))
        self.built = True

    def precompute_cross(self, memory):
        """The encoder-decoder attention's keys and values of the encoder output `memory` `(batch, S, embed_dim)`:
        two `(batch, num_heads, S, head_dim)` tensors, computed once per source sentence."""
        if not self.built:
            self.build(tuple(memory.shape))
        return self.cross_key(memory), self.cross_value(memory)

    def _attend(self, query, key, value, mask, output_layer=None):
        # query (batch, heads, time, head_dim); key/value (batch, heads, slots, head_dim); mask (batch|1, time, slots)
        scale = 1.0 / math.sqrt(self.head_dim)
        scores = ops.einsum("bnth,bnsh->bnts", ops.cast(query, "float32"), ops.cast(key, "float32")) * scale
        with warnings.catch_warnings():  # a one-token sequence (an empty prompt after [END]) has one slot to attend
            warnings.filterwarnings("ignore", message="You are using a softmax over axis -1")
            weights = masked_softmax(scores, ops.expand_dims(mask, 1))  # (batch, heads, time, slots) float32, 0 masked
        attended = ops.einsum("bnts,bnsh->bnth", ops.cast(weights, value.dtype), value)  # (batch, heads, time, hd)
        return (output_layer or self.attention_output)(attended), weights  # (batch, time, embed_dim), weights

    def _cross(self, x, cross, training):
        """The encoder-decoder attention sublayer on `x` `(batch, time, embed_dim)`; returns (x', weights)."""
        keys, values, source_mask = cross
        query = self.cross_query(self.cross_norm(x))  # (batch, heads, time, head_dim)
        mask = ops.cast(source_mask, "bool")[:, None, :]  # (batch, 1, source_len): every query, the real steps
        attended, weights = self._attend(query, keys, values, mask, self.cross_output)
        return x + self.cross_dropout(attended, training=training), weights

    def call(self, inputs, key_cache=None, value_cache=None, positions=None, cross=None, training=False):
        normed = self.attention_norm(inputs)  # (batch, time, embed_dim)
        query = self.query(normed)  # (batch, heads, time, head_dim)
        key = self.key(normed)  # (batch, heads, time, head_dim)
        value = self.value(normed)  # (batch, heads, time, head_dim)
        if key_cache is None:
            steps = ops.arange(ops.shape(inputs)[1], dtype="int32")  # (time,)
            mask = ops.less_equal(steps[None, :], steps[:, None])[None]  # (1, time, time): key s <= query t
        else:
            positions = ops.cast(positions, "int32")  # (batch, time)
            indices = _cache_indices(positions, self.num_heads)  # (batch * heads * time, 3), shared by k and v
            key = _write(key_cache, key, indices)  # (batch, heads, slots, head_dim)
            value = _write(value_cache, value, indices)  # (batch, heads, slots, head_dim)
            slots = ops.arange(ops.shape(key)[2], dtype="int32")  # (slots,)
            mask = ops.less_equal(slots[None, None, :], positions[:, :, None])  # (batch, time, slots)
        attended, _ = self._attend(query, key, value, mask)  # (batch, time, embed_dim)
        x = inputs + self.attention_dropout(attended, training=training)  # (batch, time, embed_dim)
        if cross is not None:
            x, cross_weights = self._cross(x, cross, training)  # (batch, time, embed_dim), (b, heads, time, S)
        hidden = self.ff_outer(self.ff_inner(self.ff_norm(x)))  # (batch, time, embed_dim)
        outputs = x + self.ff_dropout(hidden, training=training)  # (batch, time, embed_dim)
        return (outputs, key, value) if cross is None else (outputs, key, value, cross_weights)

    # ---- the cached single-token step -------------------------------------------------------------------------

    def _project(self, layer, x):
        """`layer` (an `EinsumDense` of this block) on one step `x` `(batch, in)` -> `(batch, out)` as one 2-D matmul.

        `query`/`key`/`value`: kernel `(embed_dim, heads, head_dim)` -> columns ordered (head, head_dim), the
        layout of their `(batch, heads, 1, head_dim)` output; `attention_output`: kernel `(heads, head_dim,
        embed_dim)` on the heads' vectors concatenated in that order. A quantized layer runs as itself."""
        if layer.quantization_mode is not None:
            out = layer(ops.reshape(x, (-1, self.num_heads, 1, self.head_dim)) if layer is self.attention_output
                        else x[:, None, :])  # attention_output takes (batch, heads, 1, head_dim)
            return ops.reshape(out, (-1, self.embed_dim))
        kernel = ops.reshape(ops.cast(layer.kernel, self.compute_dtype), (self.embed_dim, self.embed_dim))
        bias = ops.reshape(ops.cast(layer.bias, self.compute_dtype), (self.embed_dim,))
        return ops.matmul(x, kernel) + bias  # (batch, embed_dim)

    def _attend_one_sequence(self, query, key_cache, value_cache, bias):
        """Attention of one sequence (batch 1) with 2-D matmuls only: `(1, embed_dim)` -> `(1, embed_dim)`.

        All heads' queries meet the keys of all heads, `(heads * slots, head_dim)`, in one matmul `(heads,
        heads * slots)`, of which each head keeps its own block; the values take the weights as a block-diagonal
        `(heads, heads * slots)` matrix. That is `heads` times the multiply-adds of per-head products (0.5 M at 4
        heads, 520 slots, head_dim 64), but TensorFlow's oneDNN batched matmul costs ~70 µs a call at these
        sizes on CPU whatever the size, and a 2-D matmul ~10-30 µs. `q @ keys^T` rather than `keys @ q^T`:
        TensorFlow folds the transpose into the matmul, and that form is ~3x faster on oneDNN."""
        heads, head_dim = self.num_heads, self.head_dim
        eye = ops.eye(heads, dtype="float32")  # (heads, heads)
        q = ops.reshape(ops.cast(query, "float32"), (heads, head_dim)) * (1.0 / math.sqrt(head_dim))
        keys = ops.cast(ops.reshape(key_cache, (-1, head_dim)), "float32")  # (heads * slots, head_dim)
        pairs = ops.reshape(ops.matmul(q, ops.transpose(keys)), (heads, heads, -1))  # [j, i, s] = q_j . K_i[s]
        scores = ops.sum(pairs * eye[:, :, None], axis=1)  # (heads, slots): head i's query on head i's keys
        weights = _softmax(scores[None] + bias)[0]  # (heads, slots) float32; bias (1, 1, slots)
        blocks = ops.reshape(weights[:, None, :] * eye[:, :, None], (heads, -1))  # block-diagonal (heads, h * slots)
        values = ops.reshape(value_cache, (-1, head_dim))  # (heads * slots, head_dim)
        attended = ops.matmul(ops.cast(blocks, value_cache.dtype), values)  # (heads, head_dim)
        return ops.reshape(attended, (1, self.embed_dim))

    def _attend_batch(self, query, key_cache, value_cache, bias):
        """Attention of `batch` sequences, one query each, as batched matmuls: `(batch, embed_dim)` -> same."""
        query = ops.reshape(ops.cast(query, "float32"), (-1, self.num_heads, 1, self.head_dim))
        query = query * (1.0 / math.sqrt(self.head_dim))
        scores = ops.einsum("bnth,bnsh->bnts", query, ops.cast(key_cache, "float32"))  # (batch, heads, 1, slots)
        weights = _softmax(scores + bias[:, :, None, :])  # float32; bias (batch, 1, 1, slots)
        attended = ops.einsum("bnts,bnsh->bnth", ops.cast(weights, value_cache.dtype), value_cache)
        return ops.reshape(attended, (-1, self.embed_dim))  # (batch, embed_dim)

    def step(self, inputs, key_cache, value_cache, positions, cache_rows=None, attention_bias=None, cross=None):
        """One token per sequence through the block, writing its key/value into the cache at `positions`.

        The same function as `call(inputs[:, None], key_cache, value_cache, positions[:, None])[0][:, 0]`
        (inference: no dropout) with far fewer and cheaper ops: every projection is one 2-D matmul, the
        cache write is one `scatter_update` per cache (the cache viewed as rows of `head_dim`), the mask is
        an additive bias shared by all blocks, and at batch 1 (a static batch size of 1) attention uses 2-D
        matmuls only (`_attend_one_sequence`).

        Args:
            inputs: `(batch, embed_dim)`, the token's input vector.
            key_cache, value_cache: `(batch, num_heads, slots, head_dim)`.
            positions: `(batch,)` int32, the slot each row writes and attends up to (`< slots`).
            cache_rows, attention_bias: `step_cache_inputs(positions, num_heads, slots)`, to compute once
                for all blocks of a step; computed here when omitted.
            cross: as in `call`.

        Returns:
            `(outputs, key_cache, value_cache)`: outputs `(batch, embed_dim)`, caches as given, written at
            `positions`; with `cross`, also the cross-attention weights `(batch, num_heads, source_len)`.
        """
        if cache_rows is None or attention_bias is None:
            cache_rows, attention_bias = step_cache_inputs(positions, self.num_heads, ops.shape(key_cache)[2])
        normed = self.attention_norm(inputs)  # (batch, embed_dim)
        query = self._project(self.query, normed)  # (batch, embed_dim), columns (head, head_dim)
        key_cache = _write_rows(key_cache, self._project(self.key, normed), cache_rows)
        value_cache = _write_rows(value_cache, self._project(self.value, normed), cache_rows)
        if inputs.shape[0] == 1:
            attended = self._attend_one_sequence(query, key_cache, value_cache, attention_bias)  # (1, embed_dim)
        else:
            attended = self._attend_batch(query, key_cache, value_cache, attention_bias)  # (batch, embed_dim)
        x = inputs + self._project(self.attention_output, attended)  # (batch, embed_dim)
        if cross is not None:
            x, cross_weights = self._cross(x[:, None, :], cross, False)  # (batch, 1, embed_dim), (b, heads, 1, S)
            x = x[:, 0]
        outputs = x + self.ff_outer(self.ff_inner(self.ff_norm(x)))  # (batch, embed_dim)
        if cross is None:
            return outputs, key_cache, value_cache
        return outputs, key_cache, value_cache, cross_weights[:, :, 0]

    def get_config(self):
        config = super().get_config()
        config.update({"embed_dim": self.embed_dim, "num_heads": self.num_heads, "ff_dim": self.ff_dim,
                       "dropout": self.dropout, "layer_norm_epsilon": self.layer_norm_epsilon,
                       "cross_attention": self.cross_attention})
        return config


def _cache_indices(positions, heads):
    """`(batch * heads * time, 3)` scatter indices (row, head, slot) of every step at `positions` `(batch, time)`.

    Slots are distinct except past `max_length` in traced code (positions clipped to the last slot), where
    the slot keeps one of the writes and the logits are meaningless anyway."""
    batch, time = ops.shape(positions)[0], ops.shape(positions)[1]
    shape = (batch, heads, time)
    rows = ops.broadcast_to(ops.arange(batch, dtype="int32")[:, None, None], shape)  # (batch, heads, time)
    head = ops.broadcast_to(ops.arange(heads, dtype="int32")[None, :, None], shape)  # (batch, heads, time)
    slots = ops.broadcast_to(positions[:, None, :], shape)  # (batch, heads, time)
    return ops.reshape(ops.stack([rows, head, slots], axis=-1), (-1, 3))


def _write(cache, new, indices):
    """`cache` `(batch, heads, slots, head_dim)` with `new` `(batch, heads, time, head_dim)` written at
    `indices` (`_cache_indices`): one scatter of the new vectors, so a step's cost does not grow with the cache."""
    updates = ops.reshape(ops.cast(new, cache.dtype), (-1, ops.shape(new)[3]))  # (batch * heads * time, head_dim)
    return ops.scatter_update(cache, indices, updates)


def _write_rows(cache, new, rows):
    """`cache` `(batch, heads, slots, head_dim)` with one step's `new` `(batch, heads * head_dim)` written at
    `rows` (`step_cache_inputs`), through the cache's `(batch * heads * slots, head_dim)` view (in place
    within a `cache_writes` scope)."""
    head_dim = cache.shape[3]
    flat = ops.reshape(cache, (-1, head_dim))  # (batch * heads * slots, head_dim): a view, no copy
    flat = cache_writes.write_rows(flat, rows, ops.reshape(ops.cast(new, cache.dtype), (-1, head_dim)))
    return ops.reshape(flat, ops.shape(cache))  # (batch, heads, slots, head_dim), static where the cache's is

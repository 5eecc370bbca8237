"""Causal Transformer decoder language model (pre-LayerNorm, GPT-style) with a fixed-shape key/value cache."""

import math

import keras
from keras import ops

from models.layers.causal_decoder_block import EPSILON, CausalDecoderBlock, step_cache_inputs
from models.layers.positional_embedding import PositionalEmbedding, sinusoidal_at
from models.checks import check_choice, check_positive_int, check_rate

_POSITIONS = ("learned", "sinusoidal")


def _concrete_max(x):
    """`max(x)` as a Python int when `x` holds values (eager); None while tracing (tf.function, jit, symbolic).

    Traced code has no values to check: there the cache clips positions instead (see the model's docstring).
    """
    try:
        return int(ops.convert_to_numpy(ops.max(x)))
    except Exception:  # a symbolic tensor or a tracer: nothing to check now
        return None


def _slots(states):
    """The cache's slots: a Python int where the shape is static, else a scalar tensor."""
    slots = states[0].shape[2]
    return ops.shape(states[0])[2] if slots is None else slots


def _real_lengths(ids):
    """`(batch,)` int32: 1 + the index of each row's last non-pad token (0 for an all-pad row)."""
    steps = ops.arange(1, ops.shape(ids)[1] + 1, dtype="int32")  # (time,)
    return ops.max(ops.where(ops.not_equal(ids, 0), steps[None, :], 0), axis=1)  # (batch,)


@keras.saving.register_keras_serializable(package="seqlab")
class TransformerLanguageModel(keras.Model):
    """Next-token Transformer decoder whose key/value cache can be passed in and out.

    `Embedding(vocab_size, embed_dim)` scaled by `sqrt(embed_dim)` (Vaswani et
    al., 2017: token and position vectors start at comparable sizes) +
    `PositionalEmbedding` -> `Dropout` -> `num_layers` x `CausalDecoderBlock`
    (pre-LayerNorm: why, in `CausalDecoderBlock`) -> `LayerNormalization` ->
    `Dense(vocab_size, dtype="float32")` logits. The mirror of `RNNLanguageModel`: the cache plays
    the part of the RNN states, and `step` costs one cached attention step per
    new token instead of a re-run over the prefix.

    Inputs are right-padded token ids (`[PAD]` = 0). Causality alone keeps the
    logits at real steps independent of the padding that follows them.

    The cache ("states") is a flat list of `2 * num_layers + 1` tensors with
    shapes that never change, so it can be a `tf.while_loop` / `ops.while_loop`
    loop variable:

        [key_0, value_0, ..., key_{num_layers-1}, value_{num_layers-1}, position]

    key_i / value_i: `(batch, num_heads, slots, embed_dim // num_heads)`
    in the compute dtype (`slots`: `max_length`, or the `cache_length` a
    caller that knows how long its sequences get asks `call` for), slot s
    holding the key/value of the token at position s (zeros or stale values
    beyond `position`, never attended);
    position: `(batch,)` int32, per row the next free slot, i.e. the number of
    tokens already in the cache. Every element's leading dimension is the
    batch, so `[ops.take(s, rows, axis=0) for s in states]` reorders,
    duplicates or drops sequences (a beam search's reordering), and no shape
    depends on how many tokens have been written (a fixed-shape loop variable
    for `tf.while_loop` and `jax.jit`).

    - `call(ids, return_state=True, cache_length=None)` runs the causal pass
      from position 0 and returns the cache filled with its keys/values;
      each row's `position` is 1 + the index of its last non-pad token, so a
      right-padded batch of prompts continues right after each prompt (the
      pad slots are overwritten before anyone attends to them).
    - `call(ids, initial_state=states)` continues from the cache: step j of
      row b sits at position `position[b] + j`; `position` then advances by
      the row's real (non-pad) length.
    - `step(token_ids, states)` writes one token per row at `position`
      (whatever its id, `[PAD]` included) and advances `position` by 1.

    Beyond the cache: eager calls raise a ValueError (`call` on an input
    longer than `max_length`; `step` / a continued `call` that would pass the
    slots). Traced code (tf.function, jit, a while loop) cannot raise on
    values, so there the positions are clipped to `slots - 1`: every further
    token overwrites the last slot, giving finite but meaningless logits;
    `position` stays at `slots`.

    Args:
        vocab_size: int, tokens (id 0 is `[PAD]`).
        embed_dim: int, model size.
        num_heads: int, divides `embed_dim`.
        ff_dim: int, feed-forward hidden size.
        num_layers: int >= 1, decoder blocks.
        max_length: int, the longest sequence (prompt + generated tokens), also the cache size.
        positions: `"learned"` or `"sinusoidal"`.
        dropout: float in [0, 1), on the embeddings and on both residual branches of every block.
        **kwargs: standard `keras.Model` arguments.

    Example:

    >>> model = TransformerLanguageModel(50, embed_dim=8, num_heads=2, ff_dim=16, max_length=16)
    >>> logits, states = model(np.array([[5, 6, 7]]), return_state=True)
    >>> next_logits, states = model.step(np.array([8]), states)
    >>> ops.shape(logits), ops.shape(next_logits), len(states)
    ((1, 3, 50), (1, 50), 5)
    """

    continues_padded_prompts = True  # `call` on right-padded prompts: each row continues after its own (above)

    def __init__(self, vocab_size, embed_dim=128, num_heads=4, ff_dim=512, num_layers=2, max_length=256,
                 positions="learned", dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("vocab_size", vocab_size), ("embed_dim", embed_dim), ("num_heads", num_heads),
                            ("ff_dim", ff_dim), ("num_layers", num_layers), ("max_length", max_length)):
            check_positive_int(name, value)
        check_choice("positions", positions, _POSITIONS)
        check_rate("dropout", dropout)
        self.vocab_size = vocab_size
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.ff_dim = ff_dim
        self.num_layers = num_layers
        self.max_length = max_length
        self.positions = positions
        self.dropout = dropout
        policy = self.dtype_policy
        self.blocks = [  # first: it checks num_heads against embed_dim
            CausalDecoderBlock(embed_dim, num_heads, ff_dim, dropout=dropout, dtype=policy, name=f"block_{i}")
            for i in range(num_layers)
        ]
        self.head_dim = embed_dim // num_heads
        self.token_embedding = keras.layers.Embedding(vocab_size, embed_dim, dtype=policy, name="token_embedding")
        self.position_embedding = PositionalEmbedding(max_length, mode=positions, dtype=policy, name="positions")
        self.dropout_layer = keras.layers.Dropout(dropout, dtype=policy, name="dropout")
        self.final_norm = keras.layers.LayerNormalization(epsilon=EPSILON, dtype=policy, name="final_norm")
        self.head = keras.layers.Dense(vocab_size, dtype="float32", name="logits")

    def initial_states(self, batch_size):
        """The empty cache for `batch_size` sequences: zero keys/values, position 0."""
        zeros = ops.zeros((batch_size, self.num_heads, self.max_length, self.head_dim), dtype=self.compute_dtype)
        return [zeros] * (2 * self.num_layers) + [ops.zeros((batch_size,), dtype="int32")]

    def build(self, input_shape):
        batch, time = input_shape[0], input_shape[1]
        features = (batch, time, self.embed_dim)
        self.token_embedding.build(input_shape)
        self.position_embedding.build(features)
        for block in self.blocks:
            block.build(features)
        self.final_norm.build(features)
        self.head.build(features)
        self.built = True

    def _embed(self, ids):
        x = self.token_embedding(ids)  # (batch, time, embed_dim)
        return x * ops.cast(math.sqrt(self.embed_dim), x.dtype)

    def _position_vectors(self, positions, dtype):
        """Rows `positions` `(...)` of the position table -> `(..., embed_dim)` (sinusoidal: only those rows)."""
        if self.positions == "learned":
            table = self.position_embedding.position_embeddings  # (max_length, embed_dim)
            return ops.cast(ops.take(table, positions, axis=0), dtype)
        return sinusoidal_at(positions, self.embed_dim, dtype)

    def _check_room(self, last_position, slots, what):
        """Eagerly raises when a row's cache would hold more than its `slots` tokens (a no-op when traced)."""
        needed = _concrete_max(last_position)
        if needed is not None and needed > slots:
            raise ValueError(
                f"Expected at most {slots} tokens per sequence (prompt + generated; max_length={self.max_length}). "
                f"Received: {what} would need {needed}. Raise `max_length` (or `cache_length`) or generate fewer."
            )

    def _continue(self, ids, states, advance, training):
        """Runs `ids` `(batch, time)` from the cache `states`; returns logits and the cache advanced by `advance`."""
        states = list(states)
        slots = _slots(states)
        start = ops.cast(states[-1], "int32")  # (batch,)
        steps = ops.arange(ops.shape(ids)[1], dtype="int32")  # (time,)
        positions = ops.minimum(start[:, None] + steps[None, :], slots - 1)  # (batch, time)
        x = self._embed(ids)  # (batch, time, embed_dim)
        x = self.dropout_layer(x + self._position_vectors(positions, x.dtype), training=training)
        new_states = []
        for i, block in enumerate(self.blocks):
            # x (batch, time, embed_dim); key/value (batch, heads, slots, head_dim), updated at `positions`
            x, key, value = block(x, key_cache=states[2 * i], value_cache=states[2 * i + 1], positions=positions,
                                  training=training)
            new_states += [key, value]
        new_states.append(ops.minimum(start + advance, slots))  # (batch,)
        logits = self.head(self.final_norm(x))  # (batch, time, vocab_size) float32
        return logits, new_states

    def call(self, inputs, initial_state=None, return_state=False, training=False, cache_length=None):
        """`cache_length`: the slots of the returned cache (default `max_length`), at least the inputs' length."""
        ids = ops.cast(inputs, "int32")  # (batch, time)
        if initial_state is not None:
            lengths = _real_lengths(ids)  # (batch,)
            self._check_room(ops.cast(initial_state[-1], "int32") + lengths, _slots(initial_state),
                             "continuing the cache")
            logits, states = self._continue(ids, initial_state, lengths, training)
            return (logits, states) if return_state else logits
        time = inputs.shape[1]
        if isinstance(time, int) and time > self.max_length:
            raise ValueError(
                f"Expected sequences of at most max_length={self.max_length} steps. "
                f"Received: inputs.shape={tuple(inputs.shape)}. Raise `max_length` or truncate the inputs."
            )
        x = self.position_embedding(self._embed(ids))  # (batch, time, embed_dim)
        x = self.dropout_layer(x, training=training)
        caches = []
        for block in self.blocks:
            x, key, value = block(x, training=training)  # (batch, time, embed_dim), 2 x (batch, heads, time, head_dim)
            caches += [key, value]
        logits = self.head(self.final_norm(x))  # (batch, time, vocab_size) float32
        if not return_state:
            return logits
        slots = self.max_length if cache_length is None else cache_length  # static max_length in graphs
        pad = [[0, 0], [0, 0], [0, slots - ops.shape(ids)[1]], [0, 0]]
        shape = (ops.shape(ids)[0], self.num_heads, slots, self.head_dim)
        states = [ops.reshape(ops.pad(c, pad), shape) for c in caches]  # 2 * num_layers x (b, heads, slots, hd)
        states.append(_real_lengths(ids))  # (batch,)
        return logits, states

    def step(self, token_ids, states):
        """One token per sequence `(batch,)` + cache -> (logits `(batch, vocab_size)` float32, new cache).

        One cached attention step: the token is written at `position` and attends to the slots up to it
        (`CausalDecoderBlock.step` in every block; the embedding, position vector, cache write rows and mask
        are computed once for all blocks).
        """
        if not self.built:
            self.build((None, 1))
        slots = _slots(states)
        position = ops.cast(states[-1], "int32")  # (batch,)
        self._check_room(position + 1, slots, "one more step")
        slot = ops.minimum(position, slots - 1)  # (batch,): clipped in traced code only (see above)
        x = self._embed(ops.cast(token_ids, "int32"))  # (batch, embed_dim)
        x = x + self._position_vectors(slot, x.dtype)  # no dropout: inference
        rows, bias = step_cache_inputs(slot, self.num_heads, slots)  # shared by every block
        new_states = []
        for i, block in enumerate(self.blocks):
            # x (batch, embed_dim); key/value (batch, heads, slots, head_dim), written at `slot`
            x, key, value = block.step(x, states[2 * i], states[2 * i + 1], slot, rows, bias)
            new_states += [key, value]
        new_states.append(ops.minimum(position + 1, slots))  # (batch,)
        return self.head(self.final_norm(x)), new_states  # (batch, vocab_size) float32

    def get_config(self):
        config = super().get_config()
        config.update({"vocab_size": self.vocab_size, "embed_dim": self.embed_dim, "num_heads": self.num_heads,
                       "ff_dim": self.ff_dim, "num_layers": self.num_layers, "max_length": self.max_length,
                       "positions": self.positions, "dropout": self.dropout})
        return config

"""Transformer encoder-decoder (Vaswani et al., 2017), pre-LayerNorm, with a cached decoder for greedy and beam search."""

import math

import keras
from keras import ops

from models.checks import check_choice, check_positive_int, check_rate
from models.layers.causal_decoder_block import EPSILON, CausalDecoderBlock, step_cache_inputs
from models.layers.positional_embedding import PositionalEmbedding, sinusoidal_at
from models.layers.transformer_encoder import TransformerEncoder

_POSITIONS = ("learned", "sinusoidal")


@keras.saving.register_keras_serializable(package="seqlab")
class TransformerSeq2Seq(keras.Model):
    """Encoder-decoder translation model built from the project's Transformer blocks.

    Encoder: `Embedding * sqrt(embed_dim)` + positions -> dropout -> `encoder_layers`
    pre-LN `TransformerEncoder` blocks (padding masked) -> LayerNorm = memory `(batch, S, embed_dim)`.

    Decoder: `Embedding * sqrt(embed_dim)` + positions -> dropout -> `decoder_layers`
    `CausalDecoderBlock(cross_attention=True)`: masked self-attention over the earlier
    target tokens, then encoder-decoder attention whose queries come from the layer
    below and whose keys/values come from the memory, then the feed-forward layer ->
    LayerNorm -> float32 logits (`Dense`, or the target embedding transposed with
    `tie_output`).

    Both stacks are pre-LN (norms inside the residual branches, one final norm per
    stack), the choice `CausalDecoderBlock` explains: it trains at a plain learning
    rate, and the inverse-square-root warm-up (`train.warmup_steps`) still helps it.

    Decoding (`encode` + `decode_step`, the contract of `models.decoding.decode_seq2seq`):
    the state list is, per decoder layer, the self-attention key/value cache
    `(batch, num_heads, max_length, head_dim)` (each step appends its key/value at its
    position), then per layer the encoder-decoder keys/values `(batch, num_heads, S,
    head_dim)` computed once per source sentence in `encode`, then the source mask
    `(batch, S)` and the position `(batch,)` int32:

        [k_1, v_1, ..., k_L, v_L, ck_1, cv_1, ..., ck_L, cv_L, source_mask, position]

    Args:
        source_vocab_size, target_vocab_size: ints (id 0 is `[PAD]`).
        embed_dim: int, model width `d`.
        num_heads: int, divides `embed_dim`.
        ff_dim: int, feed-forward hidden size.
        encoder_layers, decoder_layers: ints.
        max_length: int, the longest source and target sequence (position tables, decoder cache slots).
        positions: `"sinusoidal"` or `"learned"`.
        dropout: float in [0, 1), on embeddings, attention outputs and feed-forward outputs.
        share_embeddings: bool, one embedding matrix for both sides (needs equal vocabulary sizes:
            a joint vocabulary).
        tie_output: bool, logits = decoder output @ target embedding^T + bias.
        **kwargs: standard `keras.Model` arguments.

    Call arguments:
        inputs: `(source_ids (batch, S), target_in_ids (batch, T))`, right-padded, `target_in =
            [START] + target[:-1]` (teacher forcing).
        training: bool.

    Returns:
        float32 logits `(batch, T, target_vocab_size)`.

    Example:

    >>> model = TransformerSeq2Seq(20, 22, embed_dim=16, num_heads=2, ff_dim=32, max_length=8)
    >>> source, target_in = np.array([[5, 6, 7, 0]]), np.array([[2, 5, 6]])
    >>> ops.shape(model((source, target_in)))
    (1, 3, 22)
    >>> logits, states, weights = model.decode_step(np.array([2]), model.encode(source))
    >>> ops.shape(logits), ops.shape(weights)
    ((1, 22), (1, 4))
    """

    def __init__(self, source_vocab_size, target_vocab_size, embed_dim=256, num_heads=8, ff_dim=512,
                 encoder_layers=3, decoder_layers=3, max_length=64, positions="sinusoidal", dropout=0.1,
                 share_embeddings=False, tie_output=False, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("source_vocab_size", source_vocab_size), ("target_vocab_size", target_vocab_size),
                            ("embed_dim", embed_dim), ("num_heads", num_heads), ("ff_dim", ff_dim),
                            ("encoder_layers", encoder_layers), ("decoder_layers", decoder_layers),
                            ("max_length", max_length)):
            check_positive_int(name, value)
        check_choice("positions", positions, _POSITIONS)
        check_rate("dropout", dropout)
        if share_embeddings and source_vocab_size != target_vocab_size:
            raise ValueError(
                "Expected one vocabulary for both sides with share_embeddings=True. Received: "
                f"source_vocab_size={source_vocab_size}, target_vocab_size={target_vocab_size}. "
                "Use a joint vocabulary, or share_embeddings=False.")
        self.source_vocab_size = source_vocab_size
        self.target_vocab_size = target_vocab_size
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.ff_dim = ff_dim
        self.encoder_layers = encoder_layers
        self.decoder_layers = decoder_layers
        self.max_length = max_length
        self.positions = positions
        self.dropout = dropout
        self.share_embeddings = bool(share_embeddings)
        self.tie_output = bool(tie_output)
        self.head_dim = embed_dim // num_heads
        policy = self.dtype_policy
        self.decoder_blocks = [  # first: it checks num_heads against embed_dim
            CausalDecoderBlock(embed_dim, num_heads, ff_dim, dropout=dropout, cross_attention=True, dtype=policy,
                               name=f"decoder_{i}")
            for i in range(decoder_layers)
        ]
        self.encoder_blocks = [
            TransformerEncoder(embed_dim, num_heads, ff_dim, dropout=dropout, activation="gelu",
                               layer_norm_epsilon=EPSILON, norm_first=True, dtype=policy, name=f"encoder_{i}")
            for i in range(encoder_layers)
        ]
        self.source_embedding = keras.layers.Embedding(source_vocab_size, embed_dim, dtype=policy,
                                                       name="source_embedding")
        self.target_embedding = self.source_embedding if self.share_embeddings else keras.layers.Embedding(
            target_vocab_size, embed_dim, dtype=policy, name="target_embedding")
        self.source_positions = PositionalEmbedding(max_length, mode=positions, dtype=policy, name="source_positions")
        self.target_positions = PositionalEmbedding(max_length, mode=positions, dtype=policy, name="target_positions")
        self.dropout_layer = keras.layers.Dropout(dropout, dtype=policy, name="dropout")
        self.encoder_norm = keras.layers.LayerNormalization(epsilon=EPSILON, dtype=policy, name="encoder_norm")
        self.decoder_norm = keras.layers.LayerNormalization(epsilon=EPSILON, dtype=policy, name="decoder_norm")
        if not self.tie_output:
            self.head = keras.layers.Dense(target_vocab_size, dtype="float32", name="logits")

    def build(self, input_shape):
        source_shape, target_shape = input_shape
        batch = source_shape[0]
        self.source_embedding.build(source_shape)
        self.target_embedding.build(target_shape)
        source_features = (batch, source_shape[1], self.embed_dim)
        target_features = (batch, target_shape[1], self.embed_dim)
        self.source_positions.build(source_features)
        self.target_positions.build(target_features)
        for block in self.encoder_blocks:
            block.build(source_features)
        for block in self.decoder_blocks:
            block.build(target_features)
        self.encoder_norm.build(source_features)
        self.decoder_norm.build(target_features)
        if self.tie_output:
            self.output_bias = self.add_weight(shape=(self.target_vocab_size,), initializer="zeros",
                                               name="output_bias", dtype="float32")
        else:
            self.head.build(target_features)
        self.built = True

    def _embed(self, layer, ids):
        x = layer(ids)  # (..., embed_dim)
        return x * ops.cast(math.sqrt(self.embed_dim), x.dtype)

    def _logits(self, x):
        x = self.decoder_norm(x)  # (..., embed_dim)
        if not self.tie_output:
            return self.head(x)  # (..., target_vocab_size) float32
        table = ops.cast(self.target_embedding.embeddings, "float32")  # (target_vocab_size, embed_dim)
        return ops.matmul(ops.cast(x, "float32"), ops.transpose(table)) + ops.cast(self.output_bias, "float32")

    def _memory(self, source_ids, training):
        """Encoder output `(batch, S, embed_dim)` and the source mask `(batch, S)` bool."""
        source_mask = ops.not_equal(source_ids, 0)  # (batch, S)
        x = self.source_positions(self._embed(self.source_embedding, source_ids))  # (batch, S, embed_dim)
        x = self.dropout_layer(x, training=training)
        for block in self.encoder_blocks:
            x = block(x, mask=source_mask, training=training)  # (batch, S, embed_dim)
        return self.encoder_norm(x), source_mask

    def encode(self, source_ids, training=False):
        """Runs the encoder; returns the decoder's initial state list (see the class docstring)."""
        if not self.built:
            self.build(((None, None), (None, None)))
        source_ids = ops.cast(source_ids, "int32")
        memory, source_mask = self._memory(source_ids, training)
        batch = ops.shape(source_ids)[0]
        empty = ops.zeros((batch, self.num_heads, self.max_length, self.head_dim), dtype=self.compute_dtype)
        cross = [tensor for block in self.decoder_blocks for tensor in block.precompute_cross(memory)]
        position = ops.zeros((batch,), dtype="int32")
        return [empty] * (2 * self.decoder_layers) + cross + [ops.cast(source_mask, self.compute_dtype), position]

    def _position_vectors(self, positions, dtype):
        if self.positions == "learned":
            return ops.cast(ops.take(self.target_positions.position_embeddings, positions, axis=0), dtype)
        return sinusoidal_at(positions, self.embed_dim, dtype)

    def decode_step(self, prev_ids, states, training=False):
        """One cached decoder step: `(batch,)` previous tokens + states -> (logits `(batch, target_vocab_size)`
        float32, new states, encoder-decoder attention weights `(batch, S)` float32 of the last layer, heads
        averaged)."""
        layers = self.decoder_layers
        caches, cross = list(states[:2 * layers]), states[2 * layers:4 * layers]
        source_mask, position = states[-2], ops.cast(states[-1], "int32")
        slot = ops.minimum(position, self.max_length - 1)  # (batch,): past max_length the logits are meaningless
        x = self._embed(self.target_embedding, ops.cast(prev_ids, "int32"))  # (batch, embed_dim)
        x = x + self._position_vectors(slot, x.dtype)  # no dropout: inference
        rows, bias = step_cache_inputs(slot, self.num_heads, self.max_length)  # shared by every layer
        for i, block in enumerate(self.decoder_blocks):
            # x (batch, embed_dim); caches (batch, heads, max_length, head_dim); weights (batch, heads, S)
            x, caches[2 * i], caches[2 * i + 1], weights = block.step(
                x, caches[2 * i], caches[2 * i + 1], slot, rows, bias,
                cross=(cross[2 * i], cross[2 * i + 1], source_mask))
        new_states = caches + list(cross) + [source_mask, ops.minimum(position + 1, self.max_length)]
        return self._logits(x), new_states, ops.mean(weights, axis=1)

    def call(self, inputs, training=False, return_attention_scores=False):
        source_ids, target_in_ids = inputs
        memory, source_mask = self._memory(ops.cast(source_ids, "int32"), training)
        x = self.target_positions(self._embed(self.target_embedding, ops.cast(target_in_ids, "int32")))
        x = self.dropout_layer(x, training=training)  # (batch, T, embed_dim)
        for block in self.decoder_blocks:
            keys, values = block.precompute_cross(memory)  # 2 x (batch, heads, S, head_dim)
            x, _, _, weights = block(x, cross=(keys, values, source_mask), training=training)  # (batch, T, d)
        logits = self._logits(x)  # (batch, T, target_vocab_size) float32
        return (logits, ops.mean(weights, axis=1)) if return_attention_scores else logits

    def get_config(self):
        config = super().get_config()
        config.update({
            "source_vocab_size": self.source_vocab_size, "target_vocab_size": self.target_vocab_size,
            "embed_dim": self.embed_dim, "num_heads": self.num_heads, "ff_dim": self.ff_dim,
            "encoder_layers": self.encoder_layers, "decoder_layers": self.decoder_layers,
            "max_length": self.max_length, "positions": self.positions, "dropout": self.dropout,
            "share_embeddings": self.share_embeddings, "tie_output": self.tie_output})
        return config

"""Multiplicative (Luong) attention over an encoder memory: the generalized scalar product and the dot product."""

import math

import keras
from keras import ops

from models.checks import check_choice
from models.layers.bahdanau_attention import masked_softmax

SCORES = ("general", "dot")


@keras.saving.register_keras_serializable(package="seqlab")
class LuongAttention(keras.layers.Layer):
    """Multiplicative attention of Luong et al. (2015).

    For a decoder query `s_t` (the decoder state after step t) and encoder
    memory `h_1..h_S`:

        general:  e_tj = s_t^T W_a h_j        (the "generalized scalar product")
        dot:      e_tj = s_t^T h_j            (needs query_dim == memory_dim)
        alpha_tj = softmax_j(e_tj)            (over unpadded source positions only; e_tj / sqrt(query_dim)
                                               with `scaled=True`)
        c_t      = sum_j alpha_tj h_j

    `scaled=True` is Vaswani et al.'s 1/sqrt(d), against softmax saturation: trained unscaled on Multi30k
    (GRU 256, bidirectional memory 512), the general scores of a step differ by 20-200 between the best
    and the second source word, every weight is 0.95-1.00 and the softmax's gradient is gone
    (benchmarks/README.md, "Luong vs Bahdanau"). For `general` the constant is absorbed by `W_a` (the same
    functions); it changes how fast the scores grow, and early learning is slower with it.

    The keys `W_a h_j` (or `h_j` for `dot`) do not depend on the decoder step:
    compute them once with `precompute_keys(memory)` and pass them as `keys=`.
    Scores and weights are float32; padded positions get exactly zero weight.
    The call contract is `BahdanauAttention`'s, so a decoder can hold either.

    Args:
        score: `"general"` or `"dot"`.
        scaled: bool, divide the scores by `sqrt(query_dim)` (see above); False: the lecture's score.
        **kwargs: standard layer arguments (`name`, `dtype`, ...).

    Call arguments:
        query: `(batch, query_dim)` or `(batch, target_len, query_dim)`.
        memory: `(batch, source_len, memory_dim)` encoder outputs.
        mask: optional `(batch, source_len)`, true for real source positions.
        keys: optional `(batch, source_len, query_dim)`, `precompute_keys(memory)`.
        return_attention_scores: bool; if true, also return the weights.

    Returns:
        context `(batch[, target_len], memory_dim)` in the compute dtype and, if
        requested, float32 weights `(batch[, target_len], source_len)`.

    Example:

    >>> layer = LuongAttention("general")
    >>> query = np.random.rand(2, 6).astype("float32")
    >>> memory = np.random.rand(2, 5, 4).astype("float32")
    >>> context, weights = layer(query, memory, mask=np.array([[1, 1, 1, 0, 0]] * 2, bool),
    ...                          return_attention_scores=True)
    >>> ops.shape(context), ops.shape(weights)
    ((2, 4), (2, 5))
    """

    def __init__(self, score="general", scaled=False, **kwargs):
        super().__init__(**kwargs)
        check_choice("score", score, SCORES)
        self.score = score
        self.scaled = bool(scaled)
        self.supports_masking = True  # the context is never masked; see BahdanauAttention

    def build(self, query_shape, memory_shape):
        if self.score == "dot" and query_shape[-1] != memory_shape[-1]:
            raise ValueError(
                "The dot score s_t^T h_j needs queries and memory of one size. Received: query_dim="
                f"{query_shape[-1]}, memory_dim={memory_shape[-1]}. Use score='general' (W_a maps between them)."
            )
        if self.score == "general":
            self.key_dense = keras.layers.Dense(query_shape[-1], use_bias=False, dtype=self.dtype_policy,
                                                name="key_dense")  # W_a h_j
            self.key_dense.build(memory_shape)
        self.built = True

    def precompute_keys(self, memory):
        """Returns `W_a h` (`general`) or `h` (`dot`), shape `(batch, source_len, query_dim)`."""
        return self.key_dense(memory) if self.score == "general" else memory

    def call(self, query, memory, mask=None, keys=None, return_attention_scores=False):
        if keys is None:
            keys = self.precompute_keys(memory)  # (batch, source_len, query_dim)
        single_step = len(query.shape) == 2
        queries = ops.expand_dims(query, 1) if single_step else query  # (batch, target_len, query_dim)
        scores = ops.matmul(ops.cast(queries, "float32"),
                            ops.transpose(ops.cast(keys, "float32"), (0, 2, 1)))  # (batch, target_len, source_len)
        if self.scaled:
            scores = scores * (1.0 / math.sqrt(queries.shape[-1]))
        if mask is not None:
            mask = ops.expand_dims(ops.cast(mask, "bool"), 1)  # (batch, 1, source_len)
        weights = masked_softmax(scores, mask)  # (batch, target_len, source_len) float32
        context = ops.matmul(ops.cast(weights, memory.dtype), memory)  # (batch, target_len, memory_dim)
        if single_step:
            context, weights = context[:, 0], weights[:, 0]  # (batch, memory_dim), (batch, source_len)
        return (context, weights) if return_attention_scores else context

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, query_shape, memory_shape):
        return tuple(query_shape[:-1]) + (memory_shape[-1],)

    def get_config(self):
        return {**super().get_config(), "score": self.score, "scaled": self.scaled}

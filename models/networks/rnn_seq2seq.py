"""RNN encoder-decoder with Bahdanau or Luong attention."""

import keras
from keras import ops

from models.checks import check_choice, check_positive_int, check_rate
from models.layers.attention_decoder_cell import AttentionDecoderCell

_CELLS = ("gru", "lstm")


@keras.saving.register_keras_serializable(package="seqlab")
class AttentionSeq2Seq(keras.Model):
    """Encoder-decoder translation model with additive (Bahdanau) or multiplicative (Luong) attention.

    Encoder: `Embedding(mask_zero=True)` -> `encoder_layers` GRU/LSTM layers
    (optionally `Bidirectional`, dropout between layers, cuDNN-eligible
    defaults) -> memory `(batch, source_len, memory_dim)` where `memory_dim`
    is `2 * units` if bidirectional, else `units`. The initial decoder state
    is `Dense(tanh)` of the masked mean of the memory.

    Decoder: `Embedding(mask_zero=True)` -> `RNN(AttentionDecoderCell)` ->
    `Dense(target_vocab_size, dtype="float32")` logits. `attention` picks the
    cell's attention and where it sits (see `AttentionDecoderCell`).

    The decoder RNN runs over every target position: padding is on the right,
    so padded steps come after all real ones and cannot change them. Loss
    masking is the caller's job (weight by `target_ids != PAD`).

    Args:
        source_vocab_size: int, source vocabulary size (id 0 is `[PAD]`).
        target_vocab_size: int, target vocabulary size (id 0 is `[PAD]`).
        embed_dim: int, embedding size for source and target tokens.
        units: int, recurrent size of each encoder direction and the decoder.
        cell: `"gru"` or `"lstm"`.
        encoder_layers: int, number of stacked encoder RNN layers.
        bidirectional: bool, whether encoder layers are bidirectional.
        attention_units: int, size of the attention space (Bahdanau).
        attention: `"bahdanau"`, `"luong_general"` or `"luong_dot"` (which needs
            `memory_dim == units`: a unidirectional encoder).
        dropout: float in [0, 1), dropout on embeddings, between encoder
            layers and before the output head (never recurrent dropout).
        **kwargs: standard `keras.Model` arguments (`name`, `dtype`).

    Call arguments:
        inputs: tuple `(source_ids (batch, source_len), target_in_ids
            (batch, target_len))` of ints, with `target_in = [START] +
            target[:-1]` (teacher forcing).
        training: bool.

    Returns:
        float32 logits `(batch, target_len, target_vocab_size)`.

    Example:

    >>> model = AttentionSeq2Seq(20, 20, embed_dim=8, units=16)
    >>> source = np.array([[5, 6, 7, 0]])
    >>> target_in = np.array([[2, 5, 6, 7]])
    >>> ops.shape(model((source, target_in)))
    (1, 4, 20)
    >>> states = model.encode(source)
    >>> logits, states, weights = model.decode_step(np.array([2]), states)
    >>> ops.shape(logits), ops.shape(weights)
    ((1, 20), (1, 4))
    """

    def __init__(
        self,
        source_vocab_size,
        target_vocab_size,
        embed_dim=32,
        units=128,
        cell="gru",
        encoder_layers=1,
        bidirectional=True,
        attention_units=64,
        dropout=0.0,
        attention="bahdanau",
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_choice("cell", cell, _CELLS)
        check_positive_int("encoder_layers", encoder_layers)
        check_rate("dropout", dropout)
        self.source_vocab_size = source_vocab_size
        self.target_vocab_size = target_vocab_size
        self.embed_dim = embed_dim
        self.units = units
        self.cell = cell
        self.encoder_layers = encoder_layers
        self.bidirectional = bidirectional
        self.attention_units = attention_units
        self.attention = attention
        self.dropout = dropout
        self.memory_dim = units * (2 if bidirectional else 1)
        policy = self.dtype_policy

        self.source_embedding = keras.layers.Embedding(
            source_vocab_size, embed_dim, mask_zero=True, dtype=policy,
            name="source_embedding",
        )
        rnn_class = keras.layers.LSTM if cell == "lstm" else keras.layers.GRU
        self.encoder_rnns = []
        for i in range(encoder_layers):
            rnn = rnn_class(
                units, return_sequences=True, dtype=policy, name=f"encoder_{cell}_{i}"
            )
            if bidirectional:
                rnn = keras.layers.Bidirectional(
                    rnn, dtype=policy, name=f"encoder_bidirectional_{i}"
                )
            self.encoder_rnns.append(rnn)
        self.dropout_layer = keras.layers.Dropout(dropout, dtype=policy, name="dropout")
        num_states = 2 if cell == "lstm" else 1
        self.initial_state_dense = [
            keras.layers.Dense(
                units, activation="tanh", dtype=policy, name=f"initial_state_{i}"
            )
            for i in range(num_states)
        ]
        self.target_embedding = keras.layers.Embedding(
            target_vocab_size, embed_dim, mask_zero=True, dtype=policy,
            name="target_embedding",
        )
        self.decoder_cell = AttentionDecoderCell(
            units, attention_units, self.memory_dim, cell=cell, attention=attention, dtype=policy,
            name="decoder_cell",
        )
        self.decoder = keras.layers.RNN(
            self.decoder_cell, return_sequences=True, dtype=policy, name="decoder"
        )
        self.output_projection = keras.layers.Dense(
            target_vocab_size, dtype="float32", name="logits"
        )

    def build(self, input_shape):
        source_shape, target_shape = input_shape
        batch = source_shape[0]
        self.source_embedding.build(source_shape)
        shape = (batch, source_shape[1], self.embed_dim)
        for rnn in self.encoder_rnns:
            rnn.build(shape)
            shape = (batch, source_shape[1], self.memory_dim)
        for dense in self.initial_state_dense:
            dense.build((batch, self.memory_dim))
        self.target_embedding.build(target_shape)
        self.decoder.build((batch, target_shape[1], self.embed_dim))
        self.output_projection.build((batch, self.decoder_cell.output_size))
        self.built = True

    def encode(self, source_ids, training=False):
        """Runs the encoder and returns the decoder's initial state list.

        Args:
            source_ids: int `(batch, source_len)`, right-padded with 0.
            training: bool.

        Returns:
            `[s0, memory, keys, source_mask]` (GRU) or
            `[h0, c0, memory, keys, source_mask]` (LSTM), in the compute dtype;
            Luong attention adds `s~_0 = 0` `(batch, units)` before `memory`.
        """
        if not self.built:
            self.build(((None, None), (None, None)))
        source_mask = ops.not_equal(source_ids, 0)  # (batch, source_len)
        x = self.source_embedding(source_ids)  # (batch, source_len, embed_dim)
        x = self.dropout_layer(x, training=training)
        for i, rnn in enumerate(self.encoder_rnns):
            x = rnn(x, mask=source_mask, training=training)
            if i < len(self.encoder_rnns) - 1:
                x = self.dropout_layer(x, training=training)
        memory = x  # (batch, source_len, memory_dim)
        mask_f = ops.cast(source_mask, memory.dtype)  # (batch, source_len)
        count = ops.maximum(ops.sum(mask_f, axis=1, keepdims=True), 1.0)
        mean = ops.sum(memory * ops.expand_dims(mask_f, -1), axis=1) / count
        # mean: (batch, memory_dim)
        recurrent = [dense(mean) for dense in self.initial_state_dense]
        if self.decoder_cell.luong:
            recurrent.append(ops.zeros_like(recurrent[0]))  # s~_0: (batch, units)
        keys = self.decoder_cell.attention.precompute_keys(memory)
        # keys: (batch, source_len, key_dim)
        return recurrent + [memory, keys, mask_f]

    def decode_step(self, prev_ids, states, training=False):
        """One greedy/beam decoding step.

        Args:
            prev_ids: int `(batch,)`, the previous target token.
            states: state list from `encode` or a previous `decode_step`.
            training: bool.

        Returns:
            `(logits (batch, target_vocab_size) float32, new_states,
            attention_weights (batch, source_len) float32)`.
        """
        y = self.target_embedding(prev_ids)  # (batch, embed_dim)
        output, new_states, weights = self.decoder_cell.step(
            y, states, training=training
        )  # output: (batch, output_size)
        output = self.dropout_layer(output, training=training)
        logits = self.output_projection(output)  # (batch, target_vocab_size)
        return logits, new_states, weights

    def call(self, inputs, training=False):
        source_ids, target_in_ids = inputs
        states = self.encode(source_ids, training=training)
        y = self.target_embedding(target_in_ids)  # (batch, target_len, embed_dim)
        y = self.dropout_layer(y, training=training)
        outputs = self.decoder(y, initial_state=states, training=training)
        # outputs: (batch, target_len, output_size)
        outputs = self.dropout_layer(outputs, training=training)
        return self.output_projection(outputs)  # (batch, target_len, vocab)

    def get_config(self):
        names = ("source_vocab_size", "target_vocab_size", "embed_dim", "units", "cell", "encoder_layers",
                 "bidirectional", "attention_units", "attention", "dropout")
        return {**super().get_config(), **{name: getattr(self, name) for name in names}}

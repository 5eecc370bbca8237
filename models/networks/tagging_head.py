"""The input layers, tagging loss and decoding shared by the tagger families (softmax or CRF output).

A tagger model mixes in `TaggingHead`, calls `_init_head` in `__init__`, `_build_inputs` / `_build_outputs` in
`build` and `_embed` first in `call`, which must return float32 scores `(batch, time, num_tags)`: softmax logits or CRF
emissions. Non-zero word ids are real tokens.

Example:

>>> class MyTagger(TaggingHead, keras.Model): ...  # doctest: +SKIP
"""

import keras
from keras import ops

from models.layers.char_bilstm_word_encoder import CharBiLSTMWordEncoder
from models.layers.char_word_encoder import CharWordEncoder
from models.layers.crf import CRF
from models.checks import check_choice, check_rate

OUTPUTS = ("softmax", "crf")
CHAR_ENCODERS = ("cnn", "bilstm")


class TaggingHead:
    """Mixin: the word/char input layers and the output layers every tagger shares, `predict_tags`,
    `tagging_loss` and the `compute_loss` that uses it.

    Training: `call` returns the float32 scores `(batch, time, num_tags)` —
    softmax logits or CRF emissions. Compile with **no loss**: `compute_loss`
    supplies the tagging loss per real token (`tagging_loss`; a loss given to
    `compile` wins). Tag ids are what `predict_tags` returns (argmax or
    Viterbi, 0 at padding); `model.predict` returns the scores.

    Args (shared by the taggers; `_init_head` takes them):
        vocab_size: int, word vocabulary size (id 0 is `[PAD]`).
        num_tags: int, number of tags (id 0 is the `[PAD]` tag).
        embed_dim: int, word embedding size.
        dropout: float in [0, 1), on the features, between layers and before
            the output layer.
        output: `"softmax"` or `"crf"` (stored as `output_type`, since
            `keras.Model.output` is a read-only property).
        char_vocab_size: int, character vocabulary size; 0 disables the
            character encoder (then inputs are word ids only).
        char_embed_dim: int, character embedding size.
        char_filters: int, size of the character-level word features (for
            `"bilstm"`, even: `char_filters // 2` LSTM units a direction).
        char_encoder: `"cnn"` (`CharWordEncoder`, Ma & Hovy's char CNN) or
            `"bilstm"` (`CharBiLSTMWordEncoder`, Lample et al.'s char BiLSTM);
            stored as `char_encoder_type`, since `char_encoder` is the layer.
        tag_names: optional list of `num_tags` tag names (`["[PAD]", "O",
            "B-PER", ...]`), needed for `bio_constraints`.
        bio_constraints: bool, forbid invalid BIO transitions in the CRF.
        word_dropout: float in [0, 1), training only: a real word id becomes
            `[UNK]` with this probability (the characters still see the word).

    Call arguments:
        inputs: word ids `(batch, time)`, or, with a character encoder, a
            tuple `(word_ids (batch, time), char_ids (batch, time, chars))`;
            ints right-padded with 0.
        training: bool.

    Returns:
        float32 scores `(batch, time, num_tags)`.
    """

    # No class-level defaults for `crf` / `char_encoder`: on PyTorch a sub-layer lives in the module's
    # `_modules`, so a class attribute of the same name would shadow it (`_init_head` sets both).

    def _init_head(self, vocab_size, num_tags, embed_dim, dropout, output, char_vocab_size, char_embed_dim,
                   char_filters, tag_names, bio_constraints, word_dropout, char_encoder="cnn"):
        """Validates and stores the shared arguments; creates `word_embedding`, `char_encoder`
        (or None), `dropout_layer`, the float32 `scores_dense` and the `crf` (or None)."""
        check_choice("output", output, OUTPUTS)
        check_rate("dropout", dropout)
        check_rate("word_dropout", word_dropout)
        check_choice("char_encoder", char_encoder, CHAR_ENCODERS)
        if char_encoder == "bilstm" and char_vocab_size > 0 and char_filters % 2:
            raise ValueError("The character BiLSTM's features are two directions of char_filters // 2 units, so "
                             f"char_filters must be even. Received: char_filters={char_filters!r}")
        if tag_names is not None and len(tag_names) != num_tags:
            raise ValueError(f"Expected one tag name per tag id ({num_tags}). Received: tag_names={tag_names!r}")
        if bio_constraints and (output != "crf" or tag_names is None):
            raise ValueError(
                "BIO constraints need `output='crf'` and `tag_names`. Received: "
                f"bio_constraints={bio_constraints!r}, output={output!r}, tag_names={tag_names!r}"
            )
        self.vocab_size = vocab_size
        self.num_tags = num_tags
        self.embed_dim = embed_dim
        self.dropout = dropout
        self.output_type = output  # `keras.Model.output` is a read-only property
        self.char_vocab_size = char_vocab_size
        self.char_embed_dim = char_embed_dim
        self.char_filters = char_filters
        self.tag_names = None if tag_names is None else list(tag_names)
        self.bio_constraints = bio_constraints
        self.word_dropout = word_dropout
        self.char_encoder_type = char_encoder  # `self.char_encoder` is the layer
        self._word_dropout_seed = keras.random.SeedGenerator()  # from the global seed (train.seed)
        policy = self.dtype_policy
        self.word_embedding = keras.layers.Embedding(
            vocab_size, embed_dim, mask_zero=True, dtype=policy, name="word_embedding"
        )
        self.char_encoder = None
        if char_vocab_size > 0 and char_encoder == "bilstm":
            self.char_encoder = CharBiLSTMWordEncoder(
                char_vocab_size, embed_dim=char_embed_dim, units=char_filters // 2, dtype=policy, name="char_encoder"
            )
        elif char_vocab_size > 0:
            self.char_encoder = CharWordEncoder(
                char_vocab_size, embed_dim=char_embed_dim, filters=char_filters, dtype=policy, name="char_encoder"
            )
        self.dropout_layer = keras.layers.Dropout(dropout, dtype=policy, name="dropout")
        self.scores_dense = keras.layers.Dense(num_tags, dtype="float32", name="tag_scores")
        self.crf = None
        if output == "crf":
            self.crf = CRF(num_tags, bio_constraints=self.tag_names if bio_constraints else None,
                           dtype="float32", name="crf")

    def get_config(self):
        names = ("vocab_size", "num_tags", "embed_dim", "dropout", "char_vocab_size", "char_embed_dim", "char_filters",
                 "tag_names", "bio_constraints", "word_dropout")
        return {**super().get_config(), **{name: getattr(self, name) for name in names}, "output": self.output_type,
                "char_encoder": self.char_encoder_type}

    def _build_inputs(self, input_shape):
        """Builds the word embedding and the character encoder; returns the inputs' (batch, time)."""
        word_shape, char_shape = self._split_inputs(input_shape, shapes=True)
        self.word_embedding.build(word_shape)
        if char_shape is not None:
            self.char_encoder.build(char_shape)
        return word_shape[0], word_shape[1]

    def _build_outputs(self, batch, time, encoded_dim):
        """Builds the score layer (over `encoded_dim` features) and the CRF, last."""
        self.scores_dense.build((batch, time, encoded_dim))
        if self.crf is not None:
            self.crf.build((batch, time, self.num_tags))
        self.built = True

    def _embed(self, inputs, training):
        """The word embeddings (word dropout applied) [+ the character features], and the real-token mask."""
        word_ids, char_ids = self._split_inputs(inputs)
        mask = ops.not_equal(word_ids, 0)  # (batch, time)
        x = self.word_embedding(self._drop_words(word_ids, training))  # (batch, time, embed_dim)
        if char_ids is not None:
            chars = self.char_encoder(char_ids)  # (batch, time, char_filters)
            x = ops.concatenate([x, ops.cast(chars, x.dtype)], axis=-1)  # (batch, time, embed_dim + char_filters)
        return x, mask

    def _split_inputs(self, inputs, shapes=False):
        """`word_ids` or `(word_ids, char_ids)` -> (word_ids, char_ids or None)."""
        if self.char_encoder is None:
            return inputs, None
        pair = isinstance(inputs, (tuple, list)) and len(inputs) == 2
        if shapes:  # a pair of shapes, not a single (batch, time) shape
            pair = pair and all(isinstance(s, (tuple, list)) for s in inputs)
        if not pair:
            raise ValueError(
                "With a character encoder (char_vocab_size > 0) the inputs must be "
                f"a tuple (word_ids, char_ids). Received: inputs={inputs!r}"
            )
        return inputs[0], inputs[1]

    def _word_ids(self, inputs):
        return self._split_inputs(inputs)[0]

    def _drop_words(self, word_ids, training):
        """Training only: each real word id becomes [UNK] (id 1) with probability `word_dropout`.

        Teaches the model what to do with unknown words: rely on the characters
        and the context (Kiperwasser & Goldberg 2016; Plank et al. 2016).
        """
        rate = getattr(self, "word_dropout", 0.0)
        if not training or not rate:
            return word_ids
        drop = keras.random.uniform(ops.shape(word_ids), seed=self._word_dropout_seed) < rate
        return ops.where(ops.logical_and(drop, ops.greater(word_ids, 1)), ops.ones_like(word_ids), word_ids)

    def predict_tags(self, inputs):
        """Best tag ids `(batch, time)` int32, 0 at padding (argmax or Viterbi)."""
        mask = ops.not_equal(self._word_ids(inputs), 0)  # (batch, time)
        scores = self(inputs, training=False)  # (batch, time, num_tags)
        if self.crf is not None:
            return self.crf(scores, mask=mask)
        tags = ops.cast(ops.argmax(scores, axis=-1), "int32")
        return tags * ops.cast(mask, "int32")

    def tagging_loss(self, inputs, tags, scores, sample_weight=None):
        """Mean per-token tagging loss, float32 scalar.

        Softmax: sparse cross-entropy from logits, positions whose word id or
        gold tag id is 0 (`[PAD]`) ignored. CRF: negative log-likelihood of the
        gold sequences (forward algorithm), summed, divided by the real tokens.
        """
        tags = ops.cast(tags, "int32")
        mask = ops.not_equal(self._word_ids(inputs), 0)  # (batch, time)
        scores = ops.cast(scores, "float32")
        if self.crf is not None:
            per_example = -self.crf.log_likelihood(scores, tags, mask)  # (batch,)
        else:
            mask = ops.logical_and(mask, ops.not_equal(tags, 0))
            per_token = ops.sparse_categorical_crossentropy(
                ops.where(mask, tags, 0), scores, from_logits=True
            )  # (batch, time)
        mask_f = ops.cast(mask, "float32")
        if sample_weight is not None:
            sample_weight = ops.cast(sample_weight, "float32")
            if len(sample_weight.shape) == 1:
                sample_weight = ops.expand_dims(sample_weight, 1)  # (batch, 1)
            if self.crf is not None:
                per_example = per_example * sample_weight[:, 0]
            mask_f = mask_f * sample_weight
        tokens = ops.maximum(ops.sum(ops.cast(mask, "float32")), 1.0)
        if self.crf is not None:
            return ops.sum(per_example) / tokens
        return ops.sum(per_token * mask_f) / tokens

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if self.loss is not None or y is None:  # a loss given to `compile` wins
            return super().compute_loss(x, y, y_pred, sample_weight, training=training)
        loss = self.tagging_loss(x, y, y_pred, sample_weight)
        for extra in self.losses:  # e.g. regularizers
            loss = loss + ops.cast(ops.sum(extra), "float32")
        return loss

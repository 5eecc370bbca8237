"""Language-model signatures: in-graph generation and scoring on raw strings.

`LanguageModelFunctions(model, processor, max_new_tokens, decode)`
holds the three functions that `export_language_model` writes as SavedModel
signatures (the evaluator calls the same ones for its report samples):

    serving_default  prompt string [batch] -> text string [batch], num_tokens int32 [batch]
                     (push.max_new_tokens tokens with push.decode's strategy, a fresh seed per request)
    generate         prompt string [batch], max_new_tokens int32 [], temperature float32 [],
                     top_k int32 [], seed int64 [] -> text, num_tokens (sampling)
    score            text string [batch] -> log_likelihood float32 [batch] (nats),
                     perplexity float32 [batch], num_tokens int32 [batch]

Every prompt is `[END]` + its tokens (the transform's stream puts `[END]` before each text, so an empty
prompt starts a new text); a batch of prompts decodes together in `models.decoding.generate`
(`models/decoding/` says how mixed lengths and seeds behave) and stops at the first generated `[END]`. A
model with a context limit (`max_length`) keeps the last `max_length - 1` prompt tokens and generates at
most up to its limit; `score` reads the first `max_length` tokens after `[END]`.

Example:

>>> fns = LanguageModelFunctions(model, processor, max_new_tokens=50)  # doctest: +SKIP
>>> fns.generate(tf.constant(["ROMEO:"]), 50, 0.3, 0, tf.constant(7, tf.int64))["text"]  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import keras
import tensorflow as tf

from serving import schema
from models.decoding import Sampling, generate, strategy_from_settings
from serving.inplace_writes import with_inplace_cache_writes
from serving.warmup import write_warmup

logger = logging.getLogger(__name__)

PROMPT_NAME = "prompt"
GENERATE_SIGNATURE = "generate"
SCORE_SIGNATURE = "score"
DEFAULT_WARMUP_PROMPTS: tuple[str, ...] = ("", "The ")


class LanguageModelFunctions(tf.Module):
    """Generation and scoring around a language model and its text processor (see module docstring).

    Args:
        model: an `RNNLanguageModel` or `TransformerLanguageModel` (built).
        processor: the transform's `TextProcessor` for the "text" vocabulary.
        max_new_tokens: serving_default's generation length.
        decode: serving_default's decoding, an object with `strategy`, `beam_width`, `length_penalty`,
            `temperature`, `top_k`, `top_p` (the config's `push.decode`); None: sampling at temperature 0.7.
    """

    def __init__(self, model: keras.Model, processor, max_new_tokens: int = 200, decode=None):
        super().__init__(name="language_model_functions")
        if max_new_tokens <= 0:
            raise ValueError(f"max_new_tokens must be positive. Received: max_new_tokens={max_new_tokens}")
        self.model = model
        self.processor = processor
        self.default_max_new_tokens = int(max_new_tokens)
        self.decode_settings = decode
        if decode is not None:
            strategy_from_settings(decode)  # bad settings fail here, not inside the traced graph
        self.max_length = getattr(model, "max_length", None)  # context limit of a Transformer decoder

    def _after_end(self, texts: tf.Tensor) -> tf.RaggedTensor:
        """Strings (batch,) -> ragged int32 ids (batch, None): [END] + each text's tokens."""
        ids = tf.cast(self.processor.encode(texts), tf.int32)
        return tf.concat([tf.RaggedTensor.from_tensor(tf.fill([ids.nrows(), 1], schema.END_ID)), ids], axis=1)

    def _prompt_ids(self, prompt: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Prompt strings (batch,) -> int32 ids (batch, P), right-padded, and lengths (batch,):
        [END] + each prompt's tokens, cut to the model's context."""
        ids = self._after_end(prompt)
        if self.max_length is not None:
            ids = ids[:, -(self.max_length - 1):]  # room for at least one new token
        return ids.to_tensor(default_value=schema.PAD_ID), tf.cast(ids.row_lengths(), tf.int32)

    @with_inplace_cache_writes
    def _generate(self, prompt, max_new_tokens, strategy):
        ids, lengths = self._prompt_ids(prompt)
        out = generate(self.model, ids, lengths, strategy, tf.cast(max_new_tokens, tf.int32),
                       context=self.max_length)
        new, count = out["new_tokens"][:, 0], out["new_lengths"][:, 0]  # (batch, T), (batch,)
        ended = tf.reduce_any(tf.equal(new, schema.END_ID), axis=1)
        return {"text": self.processor.decode(new),  # stops at [END]
                "num_tokens": count - tf.cast(ended, tf.int32)}  # tokens before [END]

    @tf.function(input_signature=[
        tf.TensorSpec([None], tf.string, name=PROMPT_NAME),
        tf.TensorSpec([], tf.int32, name="max_new_tokens"),
        tf.TensorSpec([], tf.float32, name="temperature"),
        tf.TensorSpec([], tf.int32, name="top_k"),
        tf.TensorSpec([], tf.int64, name="seed"),
    ])
    def generate(self, prompt, max_new_tokens, temperature, top_k, seed):
        """Sampling with an explicit length, temperature, top-k and seed (see module docstring)."""
        return self._generate(prompt, max_new_tokens, Sampling(temperature=temperature, top_k=top_k, seed=seed))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=PROMPT_NAME)])
    def serving_default(self, prompt):
        """The configured length and decoding, a fresh random seed per request."""
        seed = tf.random.uniform([], maxval=2**31 - 1, dtype=tf.int64)
        strategy = Sampling(0.7, seed=seed) if self.decode_settings is None else \
            strategy_from_settings(self.decode_settings, seed=seed)
        return self._generate(prompt, self.default_max_new_tokens, strategy)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def score(self, text):
        """Log-likelihood (nats) of each text's tokens after [END], and its perplexity."""
        ids = self._after_end(text)  # ragged (batch, 1 + T)
        if self.max_length is not None:
            ids = ids[:, : self.max_length + 1]
        dense = ids.to_tensor(default_value=schema.PAD_ID)
        dense = tf.pad(dense, [[0, 0], [0, tf.maximum(0, 2 - tf.shape(dense)[1])]])  # (batch, T + 1), T >= 1
        inputs, targets = dense[:, :-1], dense[:, 1:]
        logits = tf.cast(self.model(inputs, training=False), tf.float32)  # (batch, T, vocab)
        log_probs = tf.nn.log_softmax(logits, axis=-1)
        token_ll = tf.gather(log_probs, targets, batch_dims=2)  # (batch, T)
        real = tf.cast(tf.not_equal(targets, schema.PAD_ID), tf.float32)
        log_likelihood = tf.reduce_sum(token_ll * real, axis=1)
        count = tf.reduce_sum(real, axis=1)
        return {
            "log_likelihood": log_likelihood,
            "perplexity": tf.exp(-log_likelihood / tf.maximum(count, 1.0)),
            "num_tokens": tf.cast(count, tf.int32),
        }


def write_signatures(fns: LanguageModelFunctions, export_dir: str | Path, names: Sequence[str]) -> None:
    """Writes a SavedModel of `fns`' model, text processor and the named signatures (methods of `fns`)."""
    archive = keras.export.ExportArchive()
    for obj in (fns.model, fns.processor, fns):
        archive.track(obj)
    for name in names:
        archive.add_endpoint(name, getattr(fns, name))  # each a tf.function with its own input signature
    archive.write_out(str(export_dir), verbose=False)


def export_language_model(model: keras.Model, transform_dir: str | Path, export_dir: str | Path,
                          max_new_tokens: int = 200, decode=None, model_name: str = "",
                          warmup_prompts: Sequence[str] = DEFAULT_WARMUP_PROMPTS) -> Path:
    """Writes the SavedModel with `serving_default`, `generate` and `score` (see module docstring).

    `max_new_tokens` and `decode` (a `decode` config section, strategy resolved) set `serving_default`.
    """
    from serving.text_processor import TextProcessor

    processor = TextProcessor.from_manifest(transform_dir, "text")
    fns = LanguageModelFunctions(model, processor, max_new_tokens, decode)
    write_signatures(fns, export_dir, ("serving_default", GENERATE_SIGNATURE, SCORE_SIGNATURE))
    if warmup_prompts:
        write_warmup(export_dir, warmup_prompts, model_name, input_name=PROMPT_NAME)
    logger.info("Exported language model to %s (serving_default, generate, score)", export_dir)
    return Path(export_dir)

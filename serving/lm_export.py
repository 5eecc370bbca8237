"""Language-model signatures: in-graph generation and scoring on raw strings.

`LanguageModelFunctions(model, processor, max_new_tokens, temperature)`
holds the three functions that `export_language_model` writes as SavedModel
signatures (the evaluator calls the same ones for its report samples):

    serving_default  prompt string [batch] -> text string [batch], num_tokens int32 [batch]
                     (push.max_new_tokens tokens at push.temperature, a fresh seed per request)
    generate         prompt string [batch], max_new_tokens int32 [], temperature float32 [],
                     top_k int32 [], seed int64 [] -> text, num_tokens
    score            text string [batch] -> log_likelihood float32 [batch] (nats),
                     perplexity float32 [batch], num_tokens int32 [batch]

Every prompt is `[END]` + its tokens (the transform's stream puts `[END]`
before each text, so an empty prompt starts a new text). The decode loop is a
`tf.while_loop` inside the graph: the prompt runs once, then each new token
is one `model.step` (an RNN cell step or a cached attention step). Sampling
is float32, never draws `[PAD]` or `[START]`: temperature 0 is greedy (argmax), `top_k` > 0 keeps the k most
likely tokens, and token i of a request is drawn with the stateless seed
`(seed, i)`, so a prompt and a seed give the same text in any batch, in this
process or in a fresh one. The new text stops at the first `[END]` the model
generates. A model with a context limit (`max_length`, the Transformer
decoder) keeps the last `max_length - 1` prompt tokens and generates at most
up to its limit; `score` reads the first `max_length` tokens after `[END]`.

Example:

>>> fns = LanguageModelFunctions(model, processor, max_new_tokens=50, temperature=0.7)  # doctest: +SKIP
>>> fns.generate(tf.constant(["ROMEO:"]), 50, 0.3, 0, tf.constant(7, tf.int64))["text"]  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import keras
import tensorflow as tf

from components import schema

logger = logging.getLogger(__name__)

PROMPT_NAME = "prompt"
GENERATE_SIGNATURE = "generate"
SCORE_SIGNATURE = "score"
DEFAULT_WARMUP_PROMPTS: tuple[str, ...] = ("", "The ")
_NEG = -1e9  # float32 "minus infinity" for filtered logits
NEVER_GENERATED: tuple[int, ...] = (schema.PAD_ID, schema.START_ID)


def filter_top_k(logits: tf.Tensor, top_k: tf.Tensor) -> tf.Tensor:
    """Float32 logits (batch, vocab): all but the `top_k` largest set to -1e9 (`top_k` <= 0: unchanged)."""
    vocab = tf.shape(logits)[-1]
    k = tf.clip_by_value(top_k, 1, vocab)
    kth = tf.math.top_k(logits, k=k).values[:, -1:]  # (batch, 1)
    return tf.where((top_k > 0) & (logits < kth), tf.constant(_NEG, logits.dtype), logits)


def sample_token(logits: tf.Tensor, temperature: tf.Tensor, top_k: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """One token per row (batch,) int32 from logits (batch, vocab); `seed` is a stateless int64 pair.

    `[PAD]` and `[START]` (`NEVER_GENERATED`) are never drawn: no language-model target is either.
    """
    from models.decoding.sampling import ban_tokens

    logits = filter_top_k(ban_tokens(logits, NEVER_GENERATED), top_k)
    greedy = tf.cast(tf.argmax(logits, axis=-1), tf.int32)
    safe_t = tf.maximum(temperature, 1e-6)
    sampled = tf.random.stateless_categorical(logits / safe_t, 1, seed=seed, dtype=tf.int32)[:, 0]
    return tf.where(temperature > 0, sampled, greedy)


class LanguageModelFunctions(tf.Module):
    """Generation and scoring around a language model and its text processor (see module docstring).

    Args:
        model: an `RNNLanguageModel` or `TransformerLanguageModel` (built).
        processor: the transform's `TextProcessor` for the "text" vocabulary.
        max_new_tokens: serving_default's generation length.
        temperature: serving_default's temperature.
    """

    def __init__(self, model: keras.Model, processor, max_new_tokens: int = 200, temperature: float = 0.7):
        super().__init__(name="language_model_functions")
        if max_new_tokens <= 0 or temperature < 0:
            raise ValueError(
                "max_new_tokens must be positive and temperature >= 0. "
                f"Received: max_new_tokens={max_new_tokens}, temperature={temperature}"
            )
        self.model = model
        self.processor = processor
        self.default_max_new_tokens = int(max_new_tokens)
        self.default_temperature = float(temperature)
        self.max_length = getattr(model, "max_length", None)  # context limit of a Transformer decoder

    def _prompt_ids(self, prompt: tf.Tensor) -> tf.Tensor:
        """One prompt string -> int32 (1, P): [END] + its tokens, cut to the model's context."""
        ids = tf.cast(self.processor.encode(prompt[None])[0], tf.int32)
        ids = tf.concat([[schema.END_ID], ids], axis=0)
        if self.max_length is not None:
            ids = ids[-(self.max_length - 1):]  # room for at least one new token
        return ids[None, :]

    def _generate_one(self, prompt, max_new_tokens, temperature, top_k, seed):
        ids = self._prompt_ids(prompt)  # (1, P)
        steps = max_new_tokens
        if self.max_length is not None:
            steps = tf.minimum(steps, self.max_length - tf.shape(ids)[1])
        steps = tf.maximum(steps, 0)
        logits, states = self.model(ids, return_state=True)  # (1, P, vocab)
        tokens = tf.TensorArray(tf.int32, size=steps)

        def body(i, next_logits, states, tokens):
            token = sample_token(next_logits, temperature, top_k, tf.stack([seed, tf.cast(i, tf.int64)]))  # (1,)
            tokens = tokens.write(i, token[0])
            next_logits, states = self.model.step(token, states)  # (1, vocab)
            return i + 1, next_logits, states, tokens

        _, _, _, tokens = tf.while_loop(
            lambda i, *_: i < steps, body, (tf.constant(0), logits[:, -1, :], states, tokens)
        )
        new = tokens.stack()  # (steps,)
        ended = tf.cumsum(tf.cast(tf.equal(new, schema.END_ID), tf.int32))
        count = tf.reduce_sum(tf.cast(ended == 0, tf.int32))  # tokens before the first [END]
        text = self.processor.decode(new[None, :])[0]  # stops at [END]
        return text, count

    def _generate(self, prompt, max_new_tokens, temperature, top_k, seed):
        max_new_tokens = tf.cast(max_new_tokens, tf.int32)
        temperature = tf.cast(temperature, tf.float32)
        top_k = tf.cast(top_k, tf.int32)
        seed = tf.cast(seed, tf.int64)
        text, count = tf.map_fn(
            lambda p: self._generate_one(p, max_new_tokens, temperature, top_k, seed),
            prompt, fn_output_signature=(tf.TensorSpec([], tf.string), tf.TensorSpec([], tf.int32)),
        )
        return {"text": text, "num_tokens": count}

    @tf.function(input_signature=[
        tf.TensorSpec([None], tf.string, name=PROMPT_NAME),
        tf.TensorSpec([], tf.int32, name="max_new_tokens"),
        tf.TensorSpec([], tf.float32, name="temperature"),
        tf.TensorSpec([], tf.int32, name="top_k"),
        tf.TensorSpec([], tf.int64, name="seed"),
    ])
    def generate(self, prompt, max_new_tokens, temperature, top_k, seed):
        """Explicit length, temperature, top-k and seed (see module docstring)."""
        return self._generate(prompt, max_new_tokens, temperature, top_k, seed)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=PROMPT_NAME)])
    def serving_default(self, prompt):
        """The configured length and temperature, a fresh random seed per request."""
        seed = tf.random.uniform([], maxval=2**31 - 1, dtype=tf.int64)
        return self._generate(prompt, self.default_max_new_tokens, self.default_temperature, 0, seed)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def score(self, text):
        """Log-likelihood (nats) of each text's tokens after [END], and its perplexity."""
        ids = tf.cast(self.processor.encode(text), tf.int32)  # ragged (batch, T)
        starts = tf.fill([ids.nrows(), 1], schema.END_ID)
        ids = tf.concat([tf.RaggedTensor.from_tensor(starts), ids], axis=1)
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


def export_language_model(config, model: keras.Model, transform_dir: str | Path, export_dir: str | Path,
                          model_name: str = "", warmup_prompts: Sequence[str] = DEFAULT_WARMUP_PROMPTS) -> Path:
    """Writes the SavedModel with `serving_default`, `generate` and `score` (see module docstring)."""
    from serving.export import write_warmup
    from serving.text_processor import TextProcessor

    processor = TextProcessor.from_manifest(transform_dir, "text")
    fns = LanguageModelFunctions(model, processor, config.push.max_new_tokens, config.push.temperature)
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.track(processor)
    archive.track(fns)
    archive.add_endpoint("serving_default", fns.serving_default)
    archive.add_endpoint(GENERATE_SIGNATURE, fns.generate)
    archive.add_endpoint(SCORE_SIGNATURE, fns.score)
    archive.write_out(str(export_dir), verbose=False)
    if warmup_prompts:
        write_warmup(export_dir, warmup_prompts, model_name, input_name=PROMPT_NAME)
    logger.info("Exported language model to %s (serving_default, generate, score)", export_dir)
    return Path(export_dir)

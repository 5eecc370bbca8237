"""Generation speed: one cached step per new token against re-running the whole prefix.

For each model, `--new-tokens` tokens are generated greedily after a prompt of
`--prompt-length` tokens, two ways, each a `tf.while_loop` inside one
`tf.function` (as the serving graph runs it):

    cached     the prompt runs once with `return_state=True`; then each new
               token is one `model.step` (the RNN's carried states; the
               Transformer decoder's key/value cache, written in place as the
               served graphs write it): O(1) work per token
    prefix     each new token re-runs the model over the whole prefix and
               keeps the last position's logits: O(prefix) per token

Models (random weights; speed does not depend on training): the char-LSTM
of `configs/shakespeare_char.yaml` (embedding 64 -> LSTM 512) and a
Transformer decoder (`--d-model`, `--layers`, `--heads`; context = prompt +
new tokens). The script checks that both ways produce the same tokens, then
reports new tokens per second (median of `--repeats` timed calls after one
untimed call that traces), the cached way's milliseconds per new token (one
`model.step`, plus the prompt pass spread over the new tokens) and the
speed-up cached / prefix.

    python benchmarks/generation_speed.py --new-tokens 100,500
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from models.layers import cache_writes  # noqa: E402
from models.networks.rnn_language_model import RNNLanguageModel  # noqa: E402
from models.networks.transformer_language_model import TransformerLanguageModel  # noqa: E402
from serving.inplace_writes import with_inplace_cache_writes  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--new-tokens", default="100,500")
    parser.add_argument("--prompt-length", type=int, default=20)
    parser.add_argument("--vocab-size", type=int, default=68)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", default="lstm,transformer")
    parser.add_argument("--d-model", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    args = parser.parse_args(argv)
    args.new_tokens = [int(v) for v in args.new_tokens.split(",") if v]
    args.models = [m for m in args.models.split(",") if m]
    return args


def cached_fn(model):
    @tf.function
    @with_inplace_cache_writes  # as the served graphs write a Transformer's cache
    def generate(prompt, steps):
        logits, states = model(prompt, return_state=True)
        states = tf.nest.map_structure(cache_writes.own, states)  # buffers the loop may write in place
        tokens = tf.TensorArray(tf.int32, size=steps)

        def body(i, next_logits, states, tokens):
            token = tf.cast(tf.argmax(next_logits, axis=-1), tf.int32)  # (batch,)
            tokens = tokens.write(i, token)
            next_logits, states = model.step(token, states)
            return i + 1, next_logits, states, tokens

        _, _, _, tokens = tf.while_loop(lambda i, *_: i < steps, body,
                                        (tf.constant(0), logits[:, -1, :], states, tokens))
        return tf.transpose(tokens.stack())  # (batch, steps)

    return generate


def prefix_fn(model):
    @tf.function
    def generate(prompt, steps):
        def body(i, ids):
            logits = model(ids)  # (batch, prefix, vocab): the whole prefix again
            token = tf.cast(tf.argmax(logits[:, -1, :], axis=-1), tf.int32)
            return i + 1, tf.concat([ids, token[:, None]], axis=1)

        _, ids = tf.while_loop(lambda i, _: i < steps, body, (tf.constant(0), prompt),
                               shape_invariants=(tf.TensorShape([]), tf.TensorShape([None, None])))
        return ids[:, tf.shape(prompt)[1]:]

    return generate


def timed(fn, prompt, steps, repeats):
    out = fn(prompt, tf.constant(steps))  # traces
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn(prompt, tf.constant(steps))
        seconds.append(time.perf_counter() - start)
    return out.numpy(), statistics.median(seconds)


def build(name, args, context):
    keras.utils.set_random_seed(0)
    if name == "lstm":
        model = RNNLanguageModel(args.vocab_size, embed_dim=64, units=512, cell="lstm")
        label = "LSTM 512 (embedding 64)"
    else:
        model = TransformerLanguageModel(args.vocab_size, embed_dim=args.d_model, num_heads=args.heads,
                                         ff_dim=4 * args.d_model, num_layers=args.layers, max_length=context)
        label = f"Transformer decoder {args.layers}x{args.d_model}, {args.heads} heads, context {context}"
    model(np.ones((1, 2), "int32"))
    return model, label


def main(argv=None):
    args = parse_args(argv)
    rng = np.random.default_rng(0)
    prompt = tf.constant(rng.integers(4, args.vocab_size, (1, args.prompt_length)), tf.int32)
    context = args.prompt_length + max(args.new_tokens)
    rows = []
    for name in args.models:
        model, label = build(name, args, context)
        cached, prefix = cached_fn(model), prefix_fn(model)
        for steps in args.new_tokens:
            cached_tokens, cached_s = timed(cached, prompt, steps, args.repeats)
            prefix_tokens, prefix_s = timed(prefix, prompt, steps, args.repeats)
            agree = float(np.mean(cached_tokens == prefix_tokens))
            rows.append((label, steps, steps / cached_s, 1e3 * cached_s / steps, steps / prefix_s,
                         prefix_s / cached_s, agree))
            print(f"{label:55s} {steps:4d} new tokens: cached {steps / cached_s:8.1f} tok/s "
                  f"({1e3 * cached_s / steps:.3f} ms/step), prefix {steps / prefix_s:8.1f} tok/s, "
                  f"speed-up {prefix_s / cached_s:6.1f}x, same tokens {agree:.3f}", flush=True)
    print(f"\nprompt {args.prompt_length} tokens, batch 1, greedy, TensorFlow {tf.__version__} CPU, "
          f"median of {args.repeats} calls after one tracing call")
    print("| model | new tokens | cached tok/s | cached ms/step | prefix tok/s | speed-up | same tokens |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, steps, c, ms, p, ratio, agree in rows:
        print(f"| {label} | {steps} | {c:.1f} | {ms:.3f} | {p:.1f} | {ratio:.1f}x | {agree:.3f} |")
    return rows


if __name__ == "__main__":
    main()

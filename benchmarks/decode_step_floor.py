"""What bounds batched Transformer generation on CPU: the cached step at batch 32 against its two floors.

`lm_generate_batch.py` compares a batch of 32 prompts decoded together with the same loop run one prompt
at a time. This script takes the step apart at those sizes (the 4x256 decoder, 4 heads, feed-forward
1024, 66 tokens, 141 cache slots: 40-character prompts + 100 new tokens + 1), each timed in a
`tf.while_loop` of `--steps` steps, side by side, median of `--repeats`:

- `batch 1 step x 32`: `model.step` at batch 1 (the fast 2-D path), the per-token cost of one-by-one decoding;
- `batch 32 step`: `model.step` at batch 32, cache writes in place (as the served `generate` runs it);
- `weights floor`: only the step's matrix products at batch 32 (q, k, v, output, two feed-forward, logits);
- `cache floor`: only reading every key and value of the 32-row caches once (what attention must read).

The best the batched step can do is about the sum of the two floors, so `32 x batch-1 / (sum of floors)`
bounds the speed-up of batching on this machine, whatever attention kernel is used.

    python benchmarks/decode_step_floor.py --steps 100 --repeats 5
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

from models.networks.transformer_language_model import TransformerLanguageModel  # noqa: E402
from serving.inplace_writes import with_inplace_cache_writes  # noqa: E402

BATCH, SLOTS, VOCAB = 32, 141, 66


def looped(body, steps: int):
    """`body(i)` `steps` times inside one `tf.while_loop` (a traced function)."""
    @tf.function
    def run():
        return tf.while_loop(lambda i, acc: i < steps, lambda i, acc: (i + 1, acc + body(i)),
                             [tf.constant(0), tf.constant(0.0)])[1]
    return run


def step_loop(model, batch: int, steps: int):
    """`steps` cached steps of `model` at `batch` rows, from a cache holding 40 tokens, writes in place."""
    @with_inplace_cache_writes
    @tf.function
    def run():
        _, states = model(tf.ones((batch, 40), tf.int32), return_state=True, cache_length=SLOTS)

        def body(i, tokens, states):
            logits, states = model.step(tokens, states)
            return i + 1, tf.argmax(logits, -1, output_type=tf.int32), states

        return tf.while_loop(lambda i, *_: i < steps, body, [tf.constant(0), tf.ones((batch,), tf.int32), states])[1]
    return run


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)
    model = TransformerLanguageModel(VOCAB, embed_dim=256, num_heads=4, ff_dim=1024, num_layers=4, max_length=256)
    model(np.ones((1, 2), "int32"))
    # every kernel as the 2-D matrix the step multiplies by: (in, out); attention_output's (heads, head_dim, out)
    kernels = [tf.reshape(v, (-1, v.shape[-1]) if "attention_output" in v.path else (v.shape[0], -1))
               for v in model.trainable_variables if v.path.endswith("kernel")]
    x = tf.constant(np.random.rand(BATCH, 256).astype("float32"))
    hidden = tf.constant(np.random.rand(BATCH, 1024).astype("float32"))
    caches = [tf.constant(np.random.rand(BATCH, 4, SLOTS, 64).astype("float32")) for _ in range(8)]

    def gemms(i):
        return tf.add_n([tf.reduce_sum(tf.matmul(hidden if k.shape[0] == 1024 else x, k)) for k in kernels]) * 1e-9

    def reads(i):
        return tf.add_n([tf.reduce_sum(c) for c in caches]) * 1e-9

    fns = {"batch 1 step x 32": step_loop(model, 1, args.steps * BATCH), "batch 32 step": step_loop(model, BATCH, args.steps),
           "weights floor": looped(gemms, args.steps), "cache floor": looped(reads, args.steps)}
    seconds = {name: [] for name in fns}
    for fn in fns.values():
        fn()
    for _ in range(args.repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            seconds[name].append(time.perf_counter() - start)
    ms = {name: statistics.median(s) / args.steps * 1000 for name, s in seconds.items()}
    floor = ms["weights floor"] + ms["cache floor"]
    print(f"{len(kernels)} weight matrices at batch {BATCH}; caches {8 * BATCH * 4 * SLOTS * 64 * 4 / 2**20:.0f} MiB")
    for name, value in ms.items():
        print(f"{name:18s} {value:7.2f} ms a step of {BATCH} tokens")
    print(f"batching now {ms['batch 1 step x 32'] / ms['batch 32 step']:.1f}x; at best (sum of floors) "
          f"{ms['batch 1 step x 32'] / floor:.1f}x")


if __name__ == "__main__":
    main()

"""Training and greedy-decoding throughput of the `rnn_attention` model.

Backend-agnostic (imports `keras` only; the backend comes from
`KERAS_BACKEND`). Builds `models.registry.build_model("rnn_attention", ...)`
with the date-translation sizes (source vocabulary 40, target vocabulary 15),
fits it on random right-padded int data (a warm-up, then `--steps` timed
steps), then times greedy `decode_seq2seq` on a batch of `--decode-batch-size`
sources. Under JAX the decoder is `jax.jit`-compiled with the model's
variables passed in through a `keras.StatelessScope`; on other backends (or
if that fails) it runs eagerly.

    KERAS_BACKEND=jax python benchmarks/seq2seq_throughput.py --steps 100 \
        --batch-size 256 --precision mixed_bfloat16

"Target tokens" counts every target position of a batch
(`batch_size * target_length`), padding included.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from models.decoding import Greedy, decode_seq2seq  # noqa: E402
from models.registry import build_model  # noqa: E402

PAD, START, END = 0, 2, 3
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--embed-dim", type=int, default=32)
    parser.add_argument("--attention-units", type=int, default=64)
    parser.add_argument("--source-vocab-size", type=int, default=40)
    parser.add_argument("--target-vocab-size", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--source-length", type=int, default=30)
    parser.add_argument("--target-length", type=int, default=11)
    parser.add_argument("--steps", type=int, default=100, help="timed training steps")
    parser.add_argument("--warmup-steps", type=int, default=5)
    parser.add_argument("--precision", choices=PRECISIONS, default="float32")
    parser.add_argument("--decode-batch-size", type=int, default=256)
    parser.add_argument("--decode-max-length", type=int, default=16)
    parser.add_argument("--decode-repeats", type=int, default=20)
    parser.add_argument("--no-jit", action="store_true", help="decode eagerly")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def random_source(rng, n, length, vocab):
    """Int32 `(n, length)` ids in [4, vocab), right-padded with 0."""
    ids = rng.integers(4, vocab, size=(n, length), dtype=np.int32)
    lengths = rng.integers(max(1, length // 2), length + 1, size=(n,))
    ids[np.arange(length)[None, :] >= lengths[:, None]] = PAD
    return ids


def random_pairs(rng, n, source_length, target_length, source_vocab, target_vocab):
    """`((source, target_in), target)` with `target_in = [START] + target[:-1]`."""
    source = random_source(rng, n, source_length, source_vocab)
    target = rng.integers(4, target_vocab, size=(n, target_length), dtype=np.int32)
    lengths = rng.integers(min(3, target_length), target_length + 1, size=(n,))
    pos = np.arange(target_length)[None, :]
    target[pos == (lengths[:, None] - 1)] = END
    target[pos >= lengths[:, None]] = PAD
    target_in = np.concatenate(
        [np.full((n, 1), START, np.int32), target[:, :-1]], axis=1
    )
    return (source, target_in), target


def list_devices():
    try:
        return [str(d) for d in keras.distribution.list_devices()]
    except Exception as e:  # not every backend implements it
        return [f"<list_devices failed: {type(e).__name__}: {e}>"]


def make_decoder(model, max_length, use_jit):
    """Returns `(decode(source) -> dict of numpy arrays, mode string)`."""
    backend = keras.backend.backend()

    def eager(source):
        out = decode_seq2seq(model, source, Greedy(), max_length=max_length)
        return keras.tree.map_structure(keras.ops.convert_to_numpy, out)

    if not use_jit or backend != "jax":
        return eager, "eager"

    import jax  # only reached under the jax backend

    variables = list(model.variables)

    def stateless_decode(values, source):
        with keras.StatelessScope(state_mapping=list(zip(variables, values))):
            return decode_seq2seq(model, source, Greedy(), max_length=max_length)

    jitted = jax.jit(stateless_decode)

    def run(source):
        out = jitted([v.value for v in variables], source)
        return keras.tree.map_structure(np.asarray, out)

    return run, "jax.jit"


def main(argv=None):
    args = parse_args(argv)
    keras.config.set_dtype_policy(args.precision)
    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    backend = keras.backend.backend()
    print(f"backend: {backend} (keras {keras.__version__})")
    print(f"devices: {list_devices()}")
    print(f"precision: {args.precision}")

    model = build_model(
        "rnn_attention",
        source_vocab_size=args.source_vocab_size,
        target_vocab_size=args.target_vocab_size,
        embed_dim=args.embed_dim,
        units=args.units,
        attention_units=args.attention_units,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(clipnorm=1.0),
        loss=keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, ignore_class=PAD
        ),
    )

    b = args.batch_size
    (src, tin), tgt = random_pairs(
        rng, b * max(args.steps, args.warmup_steps), args.source_length,
        args.target_length, args.source_vocab_size, args.target_vocab_size,
    )
    fit_kwargs = dict(batch_size=b, epochs=1, shuffle=False, verbose=0)

    t0 = time.perf_counter()
    warm = model.fit(
        (src[: b * args.warmup_steps], tin[: b * args.warmup_steps]),
        tgt[: b * args.warmup_steps], **fit_kwargs,
    )
    warmup_s = time.perf_counter() - t0
    n = b * args.steps
    t0 = time.perf_counter()
    hist = model.fit((src[:n], tin[:n]), tgt[:n], **fit_kwargs)
    train_s = time.perf_counter() - t0

    train_examples_s = n / train_s
    train_tokens_s = n * args.target_length / train_s
    loss0 = float(warm.history["loss"][-1])
    loss1 = float(hist.history["loss"][-1])
    print(
        f"model: units={args.units} embed_dim={args.embed_dim} "
        f"attention_units={args.attention_units} params={model.count_params()} "
        f"optimizer={type(model.optimizer).__name__} "
        f"variable_dtype={model.dtype_policy.variable_dtype} "
        f"compute_dtype={model.dtype_policy.compute_dtype}"
    )
    print(
        f"train: batch_size={b} source_length={args.source_length} "
        f"target_length={args.target_length} warmup_steps={args.warmup_steps} "
        f"({warmup_s:.2f} s, compile included) timed_steps={args.steps} ({train_s:.3f} s)"
    )
    print(f"train loss: warm-up {loss0:.4f}, timed {loss1:.4f}")
    print(f"train examples/s: {train_examples_s:.1f}")
    print(f"train target tokens/s: {train_tokens_s:.1f}")

    source = random_source(
        rng, args.decode_batch_size, args.source_length, args.source_vocab_size
    )
    decode, mode = make_decoder(model, args.decode_max_length, not args.no_jit)
    t0 = time.perf_counter()
    try:
        out = decode(source)
    except Exception as e:
        if mode == "eager":
            raise
        print(f"decode: {mode} failed ({type(e).__name__}: {e}); falling back to eager")
        decode, mode = make_decoder(model, args.decode_max_length, False)
        t0 = time.perf_counter()
        out = decode(source)
    first_s = time.perf_counter() - t0
    if mode != "eager":  # the compiled decoder must agree with the eager one
        eager_decode, _ = make_decoder(model, args.decode_max_length, False)
        ref = eager_decode(source)
        agree = float(np.mean(np.all(ref["tokens"] == out["tokens"], axis=1)))
        max_diff = float(np.max(np.abs(ref["scores"] - out["scores"])))
        print(
            f"decode check: {mode} vs eager, identical token rows {agree:.4f}, "
            f"max |score diff| {max_diff:.2e}"
        )
    t0 = time.perf_counter()
    for _ in range(args.decode_repeats):
        out = decode(source)
    decode_s = time.perf_counter() - t0
    decode_seq_s = args.decode_batch_size * args.decode_repeats / decode_s
    finite = bool(np.all(np.isfinite(out["scores"])))
    print(
        f"decode: {mode} batch={args.decode_batch_size} "
        f"max_length={args.decode_max_length} first call {first_s:.2f} s, "
        f"{args.decode_repeats} timed calls {decode_s:.3f} s; "
        f"tokens {out['tokens'].dtype}{out['tokens'].shape} "
        f"scores finite={finite} mean_length={out['lengths'].mean():.2f}"
    )
    print(f"decode sequences/s: {decode_seq_s:.1f}")
    summary = {
        "backend": backend,
        "precision": args.precision,
        "batch_size": b,
        "units": args.units,
        "train_examples_per_s": round(train_examples_s, 1),
        "train_target_tokens_per_s": round(train_tokens_s, 1),
        "loss": round(loss1, 4),
        "decode_mode": mode,
        "decode_sequences_per_s": round(decode_seq_s, 1),
    }
    print("SUMMARY " + json.dumps(summary))


if __name__ == "__main__":
    main()

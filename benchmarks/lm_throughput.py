"""Language-model training throughput: the pipeline's trainer against a plain Keras script.

The model is the TensorFlow text-generation tutorial's char-RNN: embedding 256
-> GRU 1024 -> softmax, batch 64, windows of 100 characters. Both sides train
it on the same text for about the same wall time, each in a fresh process,
and report steady-state tokens per second (time between consecutive training
batches; the first batch of each epoch, i.e. tracing and warm-up, and all
validation excluded):

    pipeline  `seqlab run` with task=language_model on the text: once up to the
              transform, then again up to the trainer (the upstream steps
              come from the pipeline's cache, so the trainer runs in a fresh
              process, as the plain script does); the trainer reads the
              transform's TFRecords into windows (`lm_input.windows_dataset`)
              and fits `RNNLanguageModel` with every pipeline callback
              (checkpoint backups, CSV log, early stopping, time budget,
              throughput); the figure is the trainer's `train_tokens_per_second`
    plain     a script that reads the text itself, maps characters to ids in
              Python, slices windows into an in-memory `tf.data` pipeline
              (from_tensor_slices -> shuffle -> batch) and calls `model.fit`
              on `Sequential([Embedding, GRU, Dense])` with one callback that
              measures the same way

Ratio = pipeline / plain (>= 0.95: the pipeline adds no overhead worth
naming). The runs alternate (plain then pipeline, pipeline then plain, ...
`--repeats` of each) so drift in the machine's load hits both; the medians
are compared, and each pair's ratio is printed. The same is done for the
median step time, which a few slow steps (a busy machine) do not move.

    python benchmarks/lm_throughput.py --data /work/shared/data/tinyshakespeare/train.txt \\
        --eval-data /work/shared/data/tinyshakespeare/valid.txt --minutes 2 --repeats 2

`--units/--embed-dim/--batch-size/--length` change the shape (the defaults
are the tutorial's).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="a plain-text file (e.g. Tiny Shakespeare train.txt)")
    parser.add_argument("--eval-data", default="",
                        help="text for the pipeline's per-epoch validation (default: --data); small keeps runs short")
    parser.add_argument("--minutes", type=float, default=2.0, help="training wall time per run")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each side, alternating")
    parser.add_argument("--units", type=int, default=1024)
    parser.add_argument("--embed-dim", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--length", type=int, default=100)
    parser.add_argument("--root", default="", help="run root for the pipeline (default: a temp dir)")
    parser.add_argument("--plain", action="store_true", help=argparse.SUPPRESS)  # the plain side, in a subprocess
    return parser.parse_args(argv)


def plain_run(args) -> dict:
    """The plain Keras script (run in its own process)."""
    import keras
    import numpy as np
    import tensorflow as tf

    text = Path(args.data).read_text(encoding="utf-8")
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    ids = np.array([index[c] for c in text], dtype=np.int32)
    n = (len(ids) - 1) // args.length
    x = ids[: n * args.length].reshape(n, args.length)
    y = ids[1: n * args.length + 1].reshape(n, args.length)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(n, seed=42).batch(args.batch_size, drop_remainder=True)
    ds = ds.prefetch(tf.data.AUTOTUNE)
    model = keras.Sequential([
        keras.Input((None,), dtype="int32"),
        keras.layers.Embedding(len(chars), args.embed_dim),
        keras.layers.GRU(args.units, return_sequences=True),
        keras.layers.Dense(len(chars)),
    ])
    model.compile(optimizer=keras.optimizers.Adam(1e-3, clipnorm=1.0),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))

    sys.path.insert(0, str(REPO))
    from components.trainer.train import Throughput, TimeBudget

    throughput = Throughput()
    model.fit(ds, epochs=100, callbacks=[throughput, TimeBudget(args.minutes)], verbose=0)
    return {**token_rates(args, 1.0 / throughput.steps_per_second, throughput.median_step_seconds),
            "steps": throughput.steps}


def token_rates(args, mean_step_seconds: float, median_step_seconds: float) -> dict:
    """tokens/s from the mean and the median step time."""
    tokens = args.batch_size * args.length
    return {"tokens_per_second": tokens / mean_step_seconds, "median_tokens_per_second": tokens / median_step_seconds}


def plain_subprocess(args, env: dict) -> dict:
    """`plain_run` in a fresh process."""
    cmd = [sys.executable, __file__, "--plain", "--data", args.data, "--minutes", str(args.minutes),
           "--units", str(args.units), "--embed-dim", str(args.embed_dim),
           "--batch-size", str(args.batch_size), "--length", str(args.length)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"plain run failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def pipeline_run(args, root: Path) -> dict:
    """`seqlab run` up to the trainer; its `train_tokens_per_second`."""
    sets = [
        "task=language_model", f"data.source={args.data}", "data.text_unit=file", "data.test_fraction=0",
        f"data.eval_source={args.eval_data or args.data}",  # feeds only the validation (not timed)
        "transform.tokenizer=char", "transform.lowercase=false", "transform.normalization=none",
        "transform.whitespace=keep", "model.family=rnn_language_model", "model.cell=gru",
        f"model.units={args.units}", f"model.embed_dim={args.embed_dim}", "model.encoder_layers=1",
        "train.lm_input=windows", f"train.sequence_length={args.length}", f"train.batch_size={args.batch_size}",
        "train.learning_rate=0.001", "train.epochs=100", f"train.max_minutes={args.minutes}",
        "train.precision=float32", "model.dropout=0",
    ]
    base = [sys.executable, "-m", "pipeline.cli", "run", "shakespeare_char", "--root", str(root),
            *[a for s in sets for a in ("--set", s)]]
    # example_gen..transform once (cached by the pipeline), then the trainer step in a process of its own
    for until in ("transform", "trainer"):
        cmd = base + ["--until", until]
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"pipeline run failed:\n{proc.stderr[-3000:]}")
    summary = json.loads((root / "summary.json").read_text())
    trainer = next(s for s in summary["steps"] if s["name"] == "trainer")["outputs"]
    return {**token_rates(args, 1.0 / trainer["train_steps_per_second"], trainer["train_median_step_seconds"]),
            "steps": None, "command": " ".join(cmd[1:])}


def main(argv=None):
    args = parse_args(argv)
    if args.plain:
        print(json.dumps(plain_run(args)))
        return None
    root = Path(args.root or tempfile.mkdtemp(prefix="lm_throughput_"))
    results = {"plain": [], "pipeline": []}
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    for repeat in range(args.repeats):
        # alternate which side goes first, so a drift in the machine's load does not always favour one side
        for side in ("plain", "pipeline") if repeat % 2 == 0 else ("pipeline", "plain"):
            start = time.perf_counter()
            if side == "plain":
                results["plain"].append(plain_subprocess(args, env))
            else:
                results["pipeline"].append(pipeline_run(args, root / f"run{repeat}"))
            r = results[side][-1]
            print(f"{side:8s} #{repeat + 1}: {r['tokens_per_second']:8.0f} tokens/s (median step: "
                  f"{r['median_tokens_per_second']:.0f}) ({time.perf_counter() - start:.0f} s)", flush=True)
    summary = {}
    for key in ("tokens_per_second", "median_tokens_per_second"):
        plain = statistics.median(r[key] for r in results["plain"])
        pipeline = statistics.median(r[key] for r in results["pipeline"])
        pairs = [p[key] / q[key] for p, q in zip(results["pipeline"], results["plain"])]
        summary[key] = {"plain": plain, "pipeline": pipeline, "ratio": pipeline / plain, "pair_ratios": pairs}
    print(f"\nmodel: embedding {args.embed_dim} -> GRU {args.units} -> softmax, batch {args.batch_size}, "
          f"length {args.length}; {args.minutes} training min per run, float32, {args.repeats} runs per side")
    for key, label in (("tokens_per_second", "mean over steps"), ("median_tokens_per_second", "median step")):
        s = summary[key]
        print(f"{label:16s} median tokens/s: plain {s['plain']:.0f}, pipeline {s['pipeline']:.0f}; ratio "
              f"pipeline/plain {s['ratio']:.3f} (per pair: {', '.join(f'{r:.3f}' for r in s['pair_ratios'])})")
    (root / "lm_throughput.json").write_text(json.dumps({"args": vars(args), "runs": results, **summary}, indent=2))
    return summary["tokens_per_second"]["ratio"]


if __name__ == "__main__":
    main()

"""Decoding a trained translation run: greedy vs beam search quality, and in-graph vs Python-loop decode speed.

Reads a finished run (`seqlab run ... --root ROOT`): the trainer's `model.keras` and the transform artifact.

Quality, on the eval split (the validation set): corpus BLEU with sacrebleu (13a) lowercased and cased (against
the corpus's own casing) and chrF of greedy decoding and of beam search at each width and GNMT length penalty
of `--widths` x `--alphas` (choose them here, on validation); the teacher-forced perplexity of the references;
and the mean loss (nats per token, [END] included) of the model's own greedy outputs, reported apart.

Speed (`--speed`): a batch of `--batch` validation sources decoded greedily two ways, same model, same outputs
(checked): the SavedModel's `serving_default` (the whole loop in the graph, as served), and a Python `for`
loop that calls a `tf.function` of one cached decode step per output token, as the TensorFlow NMT tutorial
decodes (raw strings in and out on both sides). Medians of `--repeats` calls after one that traces.

    python benchmarks/translation_decoding.py --root /tmp/m30k/multi30k_gru_attention --speed
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from components.evaluator import metrics  # noqa: E402
from components.evaluator.evaluate import decode_split, make_decode_fn, teacher_forced_nats  # noqa: E402
from components.registry import get_task  # noqa: E402
from models.decoding import BeamSearch, Greedy  # noqa: E402
from serving import schema  # noqa: E402
from serving.export import _padded_ids, export_translation, load_trained_model  # noqa: E402
from serving.parity import run_artifacts  # noqa: E402
from serving.text_processor import TextProcessor, TokenizerSpec, normalize  # noqa: E402


def quality(model, transform_dir: Path, task, spec, max_length: int, strategy, batch_size: int) -> dict:
    target = TextProcessor.from_manifest(transform_dir, "target")
    decode_fn = make_decode_fn(model, target, max_length, strategy)
    result = decode_split(transform_dir, task, "eval", decode_fn, lambda t: normalize(t, spec), batch_size)
    scores = metrics.compute_metrics(result["predictions"], result["references"], tokenizer=spec.kind,
                                     raw_references=result["raw_references"])
    return {**scores, "predictions": result["predictions"]}


def own_greedy_nats(model, transform_dir: Path, task, max_length: int, batch_size: int) -> float:
    """Mean -log P per token of the model's own greedy outputs ([END] included)."""
    from components.trainer.task_input import make_task_dataset
    from models.decoding import decode_seq2seq

    total, count = 0.0, 0.0
    for batch in make_task_dataset(transform_dir, task, "eval", batch_size, with_raw=True):
        out = decode_seq2seq(model, tf.cast(batch[schema.SOURCE_IDS], tf.int32), Greedy(), max_length)
        total -= float(tf.reduce_sum(out["log_probs"][:, 0]))
        count += float(tf.reduce_sum(out["lengths"][:, 0]))
    return total / max(count, 1.0)


def python_loop_decoder(model, source: TextProcessor, target: TextProcessor, max_length: int):
    """Greedy decoding the NMT tutorial's way: a Python loop over a tf.function of one cached step."""
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def encode(text):
        ids = _padded_ids(source.encode(text))
        return model.encode(ids)

    @tf.function
    def step(prev, states):
        logits, states, _ = model.decode_step(prev, states)
        logits = tf.tensor_scatter_nd_update(  # as the in-graph loop: [PAD] and [START] are never emitted
            tf.transpose(logits), [[schema.PAD_ID], [schema.START_ID]],
            tf.fill([2, tf.shape(logits)[0]], -1e9))
        return tf.cast(tf.argmax(tf.transpose(logits), axis=-1), tf.int32), states

    def translate(text):
        return target.decode(python_loop(step, encode(text), tf.shape(text)[0], max_length))

    return translate


def python_loop(step, states, batch, max_length: int) -> tf.Tensor:
    """The Python `for` loop: `step(prev, states) -> (next ids, states)` per token until every row has [END]."""
    prev = tf.fill([batch], schema.START_ID)
    tokens, done = [], tf.zeros([batch], tf.bool)
    for _ in range(max_length):
        prev, states = step(prev, states)
        prev = tf.where(done, schema.PAD_ID, prev)
        tokens.append(prev)
        done = done | tf.equal(prev, schema.END_ID)
        if bool(tf.reduce_all(done)):
            break
    return tf.stack(tokens, axis=1)  # (batch, steps)


def python_call_overhead(model, source: TextProcessor, texts, max_length: int, repeats: int) -> float:
    """Seconds for `max_length` steps of the Python loop around a tf.function that returns the decoder state
    untouched: what the loop spends outside the model, the most an in-graph loop can save."""
    states = model.encode(_padded_ids(source.encode(texts)))

    @tf.function
    def same(prev, states):
        return prev, states

    return timed(lambda: python_loop(same, states, tf.shape(texts)[0], max_length), repeats)[1]


def timed(fn, repeats: int):
    out = fn()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        seconds.append(time.perf_counter() - start)
    return out, statistics.median(seconds)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", required=True, help="the run root of a finished translation run")
    parser.add_argument("--widths", default="2,4,5,8")
    parser.add_argument("--alphas", default="0,0.6,1.0")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--speed", action="store_true")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    transform_dir, trainer_dir, config = run_artifacts(args.root)
    manifest = schema.read_manifest(transform_dir)
    spec = TokenizerSpec.from_dict(manifest["tokenizer"])
    task = get_task(config["task"])
    model = load_trained_model(trainer_dir)
    max_length = config["eval"]["max_decode_length"]

    nats = teacher_forced_nats(model, transform_dir, task, "eval", args.batch_size)
    greedy_nats = own_greedy_nats(model, transform_dir, task, max_length, args.batch_size)
    print(f"teacher-forced: {nats:.4f} nats/token, perplexity {math.exp(nats):.2f}; "
          f"own greedy outputs: {greedy_nats:.4f} nats/token (perplexity {math.exp(greedy_nats):.2f})")
    rows = [("greedy", 1, 0.0, quality(model, transform_dir, task, spec, max_length, Greedy(), args.batch_size))]
    for width in [int(w) for w in args.widths.split(",") if w]:
        for alpha in [float(a) for a in args.alphas.split(",") if a]:
            strategy = BeamSearch(width, length_penalty=alpha)
            rows.append(("beam", width, alpha, quality(model, transform_dir, task, spec, max_length, strategy,
                                                      args.batch_size)))
            print(f"beam {width} alpha {alpha}: BLEU lowercase {rows[-1][3]['bleu_lowercase']:.2f}", flush=True)
    print(f"\n{config['name']}: {rows[0][3]['num_examples']} validation sentences")
    print("| decoding | width | length penalty | BLEU lowercase | BLEU cased | chrF |\n|---|---:|---:|---:|---:|---:|")
    for name, width, alpha, q in rows:
        print(f"| {name} | {width} | {alpha} | {q['bleu_lowercase']:.2f} | {q['bleu_cased']:.2f} | {q['chrf']:.2f} |")
    best = max(rows[1:], key=lambda r: r[3]["bleu_lowercase"]) if len(rows) > 1 else rows[0]
    print(f"best beam on validation: width {best[1]}, length penalty {best[2]}: "
          f"{best[3]['bleu_lowercase']:.2f} vs greedy {rows[0][3]['bleu_lowercase']:.2f} "
          f"({best[3]['bleu_lowercase'] - rows[0][3]['bleu_lowercase']:+.2f})")

    if args.speed:
        source = TextProcessor.from_manifest(transform_dir, "source")
        target = TextProcessor.from_manifest(transform_dir, "target")
        from components.trainer.task_input import make_task_dataset

        batch = next(iter(make_task_dataset(transform_dir, task, "eval", args.batch, with_raw=True)))
        texts = batch[schema.RAW_SOURCE]
        with tempfile.TemporaryDirectory() as tmp:
            export_translation(model, transform_dir, Path(tmp) / "1", max_length, Greedy(), warmup_texts=())
            served = tf.saved_model.load(str(Path(tmp) / "1")).signatures["serving_default"]
            graph_out, graph_s = timed(lambda: served(text=texts)["translation"], args.repeats)
            loop = python_loop_decoder(model, source, target, max_length)
            loop_out, loop_s = timed(lambda: loop(texts), args.repeats)
            overhead_s = python_call_overhead(model, source, texts, max_length, args.repeats)
        same = float(np.mean(graph_out.numpy() == loop_out.numpy()))
        print(f"\ngreedy, batch {args.batch}, {max_length} steps at most, TensorFlow {tf.__version__} CPU, median of "
              f"{args.repeats}:\n| decoding | ms per batch | sentences/s |\n|---|---:|---:|\n"
              f"| in-graph (SavedModel serving_default) | {graph_s * 1e3:.0f} | {args.batch / graph_s:.1f} |\n"
              f"| Python loop over a tf.function step | {loop_s * 1e3:.0f} | {args.batch / loop_s:.1f} |\n"
              f"speed-up {loop_s / graph_s:.1f}x, same outputs {same:.3f}\n"
              f"the Python loop's own cost: {max_length} steps around a tf.function that returns the state "
              f"untouched take {overhead_s * 1e3:.0f} ms: removing the Python loop alone gains at most "
              f"{loop_s / max(loop_s - overhead_s, 1e-9):.1f}x at this size (the rest is the model's own steps)")


if __name__ == "__main__":
    main()

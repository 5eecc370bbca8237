"""Batched generation: a batch of prompts decoded together against one prompt at a time.

The served `generate` signature (`serving/lm_export.py`) decodes a batch of prompts of mixed lengths
in one loop of `models.decoding`. Before it, the signature ran one `tf.while_loop` per prompt under
`tf.map_fn`; the reference here is that structure, rebuilt on today's loop: the same
`LanguageModelFunctions._generate` mapped over the prompts one by one inside one `tf.function`. Both
sample with the same seed, so they must give the same texts (checked), and the ratio is the speed-up
of batching alone.

Models have random weights (speed does not depend on training): the char-LSTM of
`configs/shakespeare_char.yaml` (embedding 64 -> LSTM 512) and the Transformer decoder of
`configs/shakespeare_transformer.yaml` sizes (`--d-model`, `--layers`, `--heads`). Prompts are
`--batch` random strings of 5 to 40 characters; each gets `--new-tokens` tokens at temperature 0.8.

    python benchmarks/lm_generate_batch.py --batch 32 --new-tokens 100 --repeats 3

`--filed COMMIT` adds the `generate` signature as the code at COMMIT exported it (58e0d03: the tree
when the batching issue was filed, one `tf.while_loop` per prompt under `tf.map_fn` on that day's
step). The code is taken with `git archive` into a temporary folder and run in a subprocess that
exports the same weights; this process exports today's with the exporter's `write_signatures`, loads
both SavedModels and times them side by side. Sampling draws differ between the two versions, so their
texts are compared greedily (temperature 0), once:

    python benchmarks/lm_generate_batch.py --batch 32 --new-tokens 100 --repeats 3 --filed 58e0d03
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

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from serving import schema  # noqa: E402
from models.decoding import Sampling  # noqa: E402
from models.networks.rnn_language_model import RNNLanguageModel  # noqa: E402
from models.networks.transformer_language_model import TransformerLanguageModel  # noqa: E402
from serving.lm_export import GENERATE_SIGNATURE, LanguageModelFunctions, write_signatures  # noqa: E402
from serving.text_processor import TextProcessor, TokenizerSpec  # noqa: E402

CHARS = list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ .,;:!?'-")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", default="lstm,transformer")
    parser.add_argument("--d-model", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--filed", metavar="COMMIT", default="",
                        help="also time the generate signature exported by the code at COMMIT (e.g. 58e0d03)")
    return parser.parse_args(argv)


def model_spec(name: str, args, vocab_size: int) -> tuple[str, dict, str]:
    """The model's class name, constructor arguments and label (also what `--filed`'s subprocess builds)."""
    if name == "lstm":
        return "RNNLanguageModel", dict(vocab_size=vocab_size, embed_dim=64, units=512, cell="lstm"), \
            "LSTM 512 (embedding 64)"
    return "TransformerLanguageModel", dict(vocab_size=vocab_size, embed_dim=args.d_model, num_heads=args.heads,
                                            ff_dim=4 * args.d_model, num_layers=args.layers, max_length=256), \
        f"Transformer decoder {args.layers}x{args.d_model}, {args.heads} heads"


def build(name: str, args, vocab_size: int):
    keras.utils.set_random_seed(0)
    class_name, kwargs, label = model_spec(name, args, vocab_size)
    model = {"RNNLanguageModel": RNNLanguageModel, "TransformerLanguageModel": TransformerLanguageModel}[class_name](
        **kwargs)
    model(np.ones((1, 2), "int32"))
    return model, label


def one_by_one(fns: LanguageModelFunctions):
    """Today's loop on one prompt at a time under `tf.map_fn`: the structure the signature had before."""
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string), tf.TensorSpec([], tf.int32),
                                  tf.TensorSpec([], tf.float32), tf.TensorSpec([], tf.int64)])
    def generate(prompt, max_new_tokens, temperature, seed):
        def one(p):
            out = fns._generate(p[None], max_new_tokens, Sampling(temperature=temperature, seed=seed))
            return out["text"][0], out["num_tokens"][0]

        text, count = tf.map_fn(one, prompt, fn_output_signature=(tf.TensorSpec([], tf.string),
                                                                  tf.TensorSpec([], tf.int32)))
        return {"text": text, "num_tokens": count}

    return generate


def copying_writes(fns: LanguageModelFunctions):
    """The batched signature with the default cache writes (a copy of each cache per write): what the
    in-place writes of `serving.inplace_writes` save."""
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string), tf.TensorSpec([], tf.int32),
                                  tf.TensorSpec([], tf.float32), tf.TensorSpec([], tf.int64)])
    def generate(prompt, max_new_tokens, temperature, seed):
        return LanguageModelFunctions._generate.__wrapped__(fns, prompt, max_new_tokens,
                                                            Sampling(temperature=temperature, seed=seed))

    return generate


# Run in a subprocess on the archived tree: builds the model `model_spec` names, loads this process's
# weights into it and writes that version's `generate` signature the way its exporter did.
FILED_EXPORT = """
import json, sys
import keras, numpy as np
from serving.lm_export import LanguageModelFunctions
from serving.text_processor import TextProcessor, TokenizerSpec
from models.networks.rnn_language_model import RNNLanguageModel
from models.networks.transformer_language_model import TransformerLanguageModel
a = json.loads(sys.argv[1])
model = {"RNNLanguageModel": RNNLanguageModel, "TransformerLanguageModel": TransformerLanguageModel}[a["class"]](
    **a["kwargs"])
model(np.ones((1, 2), "int32"))
weights = np.load(a["weights"])
model.set_weights([weights[f"arr_{i}"] for i in range(len(weights.files))])
spec = TokenizerSpec(kind="char", lowercase=False, normalization="none", whitespace="keep")
fns = LanguageModelFunctions(model, TextProcessor(spec, a["vocab"]), max_new_tokens=a["new_tokens"])
archive = keras.export.ExportArchive()
for obj in (model, fns.processor, fns):
    archive.track(obj)
archive.add_endpoint("generate", fns.generate)
archive.write_out(a["out"], verbose=False)
"""


def export_filed(commit: str, name: str, model, vocab_size: int, args, vocab: Path, tmp: Path) -> Path:
    """The same weights behind the `generate` signature of the code at `commit` (a SavedModel folder)."""
    tree = tmp / f"tree-{commit}"
    if not tree.exists():
        tree.mkdir()
        repo = Path(__file__).resolve().parent.parent
        archive = subprocess.run(["git", "-C", str(repo), "archive", commit], check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    weights = tmp / f"{name}.npz"
    np.savez(weights, *model.get_weights())
    out = tmp / f"filed-{name}"
    class_name, kwargs, _ = model_spec(name, args, vocab_size)
    spec = {"class": class_name, "kwargs": kwargs, "weights": str(weights), "vocab": str(vocab), "out": str(out),
            "new_tokens": args.new_tokens}
    env = {**os.environ, "PYTHONPATH": str(tree)}
    subprocess.run([sys.executable, "-c", FILED_EXPORT, json.dumps(spec)], cwd=tree, env=env, check=True)
    return out


def timed_side_by_side(fns: dict, repeats: int):
    """Each of `fns` once to trace, then `repeats` rounds calling each in turn: outputs and median seconds."""
    outs = {name: fn() for name, fn in fns.items()}
    seconds = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            outs[name] = fn()
            seconds[name].append(time.perf_counter() - start)
    return outs, {name: statistics.median(s) for name, s in seconds.items()}


def main(argv=None):
    args = parse_args(argv)
    rng = np.random.default_rng(0)
    prompts = tf.constant(["".join(rng.choice(CHARS, size=rng.integers(5, 41))) for _ in range(args.batch)])
    with tempfile.TemporaryDirectory() as tmp:
        vocab = Path(tmp) / "text.txt"
        tokens = [schema.PAD, schema.UNK, schema.START, schema.END, *CHARS]
        vocab.write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
        spec = TokenizerSpec(kind="char", lowercase=False, normalization="none", whitespace="keep")
        processor = TextProcessor(spec, str(vocab))
        rows, filed_rows = [], []
        for name in [m for m in args.models.split(",") if m]:
            model, label = build(name, args, len(tokens))
            fns = LanguageModelFunctions(model, processor, max_new_tokens=args.new_tokens)
            reference = one_by_one(fns)
            n, t, seed = tf.constant(args.new_tokens), tf.constant(0.8), tf.constant(7, tf.int64)
            copying = copying_writes(fns)
            runs = {"batched": lambda: fns.generate(prompts, n, t, tf.constant(0), seed),
                    "copying": lambda: copying(prompts, n, t, seed), "single": lambda: reference(prompts, n, t, seed)}
            if args.filed:
                write_signatures(fns, Path(tmp) / f"today-{name}", [GENERATE_SIGNATURE])  # as the exporter writes it
                exported = tf.saved_model.load(str(Path(tmp) / f"today-{name}"))
                filed = tf.saved_model.load(str(export_filed(args.filed, name, model, len(tokens), args, vocab,
                                                             Path(tmp))))
                signatures = {"exported": exported.signatures["generate"], "filed": filed.signatures["generate"]}
                for key, signature in signatures.items():
                    runs[key] = lambda s=signature: s(prompt=prompts, max_new_tokens=n, temperature=t,
                                                      top_k=tf.constant(0), seed=seed)
                greedy = [s(prompt=prompts, max_new_tokens=n, temperature=tf.constant(0.0), top_k=tf.constant(0),
                            seed=seed)["text"].numpy() for s in signatures.values()]
            outs, seconds = timed_side_by_side(runs, args.repeats)
            batched_s, copying_s, single_s = seconds["batched"], seconds["copying"], seconds["single"]
            same = min(float(np.mean(outs["batched"]["text"].numpy() == outs[k]["text"].numpy()))
                       for k in ("copying", "single"))
            new = int(outs["batched"]["num_tokens"].numpy().sum())
            rows.append((label, batched_s, copying_s, single_s, new, same))
            print(f"{label:45s} batched {batched_s * 1000:8.0f} ms ({new / batched_s:7.0f} tok/s), copying writes "
                  f"{copying_s * 1000:8.0f} ms, one by one {single_s * 1000:8.0f} ms, speed-up "
                  f"{single_s / batched_s:5.1f}x, same texts {same:.3f}", flush=True)
            if args.filed:
                greedy_same = float(np.mean(greedy[0] == greedy[1]))
                filed_rows.append((label, seconds["exported"], seconds["filed"], greedy_same))
                print(f"{'':45s} SavedModel generate: today's {seconds['exported'] * 1000:8.0f} ms, as exported at "
                      f"{args.filed} {seconds['filed'] * 1000:8.0f} ms, speed-up "
                      f"{seconds['filed'] / seconds['exported']:5.1f}x, same greedy texts {greedy_same:.3f}",
                      flush=True)
    print(f"\n{args.batch} prompts of 5-40 characters, {args.new_tokens} new tokens each, temperature 0.8, "
          f"TensorFlow {tf.__version__} CPU, median of {args.repeats} calls after one tracing call")
    print("| model | batched ms | batched, copying writes ms | one by one ms | speed-up | new tokens | same texts |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, b, c, s, new, same in rows:
        print(f"| {label} | {b * 1000:.0f} | {c * 1000:.0f} | {s * 1000:.0f} | {s / b:.1f}x | {new} | {same:.3f} |")
    if filed_rows:
        print(f"\nThe generate signature through loaded SavedModels, timed in the same rounds: today's export "
              f"against the one the code at {args.filed} writes (same weights)")
        print(f"| model | today's export ms | {args.filed} export ms | speed-up | same greedy texts |")
        print("|---|---:|---:|---:|---:|")
        for label, today, then, same in filed_rows:
            print(f"| {label} | {today * 1000:.0f} | {then * 1000:.0f} | {then / today:.1f}x | {same:.3f} |")
    return rows


if __name__ == "__main__":
    main()

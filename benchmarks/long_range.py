"""Long-range dependencies: SimpleRNN vs GRU vs LSTM on the temporal-order task.

The vanishing gradient, made visible. Hochreiter & Schmidhuber (1997),
experiment 6a: a sequence of distractors `a b c d` between a start symbol `B`
and an end symbol `E` carries two marked symbols, each `X` or `Y`, at a random
position in `[0.1 L, 0.2 L]` and one in `[0.5 L, 0.6 L]`; the class (4 of them:
XX, XY, YX, YY; chance = 0.25) is their order. The evidence sits 40-90 % of the
sequence before the end, so a recurrent net must carry it through `~0.8 L`
steps. Data: `components.example_gen.temporal_order.temporal_order_arrays`.

For every (cell, length) the model is `Embedding(vocab, --embed-dim)` ->
`RNNStack(--units, cell, num_layers=1, return_state=True)` -> final hidden
state -> `Dense(4)` logits, trained with Adam (`--lr`, `clipnorm=1.0`) on
softmax cross-entropy. The cells (`--cells`, see `CELL_NAMES`):

    simple             SimpleRNN as the lectures' Elman net starts: recurrent
                       kernel U(-a, a), a = --uniform-init (0.1: spectral radius
                       ~0.33 at 32 units, a contracting map)
    simple_orthogonal  SimpleRNN with the project's (and Keras's) default
                       orthogonal recurrent kernel: norm-preserving at the start
    gru                GRU, project defaults (orthogonal recurrent kernel)
    lstm               LSTM, project defaults (orthogonal, forget-gate bias 1)
    lstm_fb3           LSTM with forget-gate bias 3 (sigma(3) = 0.95 kept per
                       step at init instead of sigma(1) = 0.73): the
                       forget-bias lore pushed to a long horizon

Same budget for every cell: `--steps` optimizer steps of `--batch-size` fresh
sequences each (`--steps * --batch-size` sequences in all), the *same*
sequences in the same order for every cell at a given (length, seed); no
early stopping. Each `--seeds` value seeds the initialization and the training
data, and every (cell, length) runs once per seed: training on this task is
bimodal (a run either finds the long-range solution or sits at a plateau: 0.25,
or about 0.5-0.75 when it uses only the second marker) and a run that has found it can
fall back to the plateau later, so one seed says little. Final accuracy is on
`--eval-size` held-out sequences after the last step; every `--eval-every`
steps the accuracy on `--check-size` *other* held-out sequences is recorded
(`best check` = its maximum, the run's best moment). Training wall time (fit
calls only) is reported beside the result.

Gradient measurement. The loss `L = sum_i CE(logits_i, y_i)` of
`--grad-size` held-out sequences is written as a function of perturbations
`delta_t` (zero) added to the hidden state `h_t` at every step: the cell of the
trained Keras layer is unrolled by hand (`h_t, s_t = cell(x_t, s_{t-1});
h_t += delta_t`, the perturbed `h_t` is what the next step and, at `t = T`,
the classifier see), so `dL/d delta_t = dL/dh_t` through the whole recurrence
(for the LSTM, `h_t` is the output state; the cell state `c_t` is left
alone). The table reports the mean over sequences of the per-sequence norm
`||dL_i/dh_t||` at `t = 1` and `t = T` (geometric mean over seeds), at
initialization and after training, and their ratio `first/last`; 0 means the
float32 gradient underflowed. The unrolled logits are asserted equal to the
Keras model's within `1e-5 * max(1, max |logit|)`, so the measured
graph is the trained one. Training runs on any backend (`KERAS_BACKEND`); the
gradient needs `jax` or `tensorflow`.

Outputs in `--out` (default `/tmp/long_range`): `results.json` and
`long_range.png` (left: held-out accuracy vs length per cell, mean over seeds
with one dot per seed, chance line; right: `||dL/dh_t||` vs `t` at
`--plot-length`, log scale, geometric mean over seeds, after training solid and
at initialization dashed).

    KERAS_BACKEND=jax nice -n 10 python benchmarks/long_range.py --lengths 20,50,100,200 \
        --cells simple,simple_orthogonal,gru,lstm,lstm_fb3 --seeds 0,1,2 --steps 3000

`--merge a.json,b.json` re-tabulates and re-plots the runs of earlier
invocations together, with no training. Figures measured on the 2-core CPU:
`benchmarks/README.md`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from components.example_gen.temporal_order import (  # noqa: E402
    VOCAB_SIZE,
    marker_ranges,
    temporal_order_arrays,
)
from models.layers.rnn_stack import RNNStack  # noqa: E402

NUM_CLASSES = 4
CHANCE = 1.0 / NUM_CLASSES
CELL_NAMES = {
    "simple": "SimpleRNN",  # Elman init: recurrent kernel U(-a, a), a = --uniform-init
    "simple_orthogonal": "SimpleRNN-O",  # the project's default orthogonal recurrent kernel
    "gru": "GRU",
    "lstm": "LSTM",  # forget-gate bias 1 (the project default)
    "lstm_fb3": "LSTM-F3",  # forget-gate bias 3
}
STACK_CELLS = {"simple": "simple", "simple_orthogonal": "simple", "gru": "gru", "lstm": "lstm", "lstm_fb3": "lstm"}
LSTM_FORGET_BIAS = {"lstm_fb3": 3.0}  # other LSTMs keep the default 1
UNROLL_TOLERANCE = 1e-5

# Seeds of the data: training chunk k of run seed s uses TRAIN_SEED_BASE + 1000 * s + k (the
# same for every cell); the held-out sets (one per length, shared by all runs) use their own.
TRAIN_SEED_BASE = 1_000_000
EVAL_SEED_BASE = 500_000
CHECK_SEED_BASE = 600_000
GRAD_SEED_BASE = 700_000


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lengths", default="20,50,100,200", help="comma-separated sequence lengths")
    parser.add_argument("--cells", default="simple,simple_orthogonal,gru,lstm,lstm_fb3",
                        help=f"comma-separated, from {list(CELL_NAMES)} (see the module docstring)")
    parser.add_argument("--steps", type=int, default=3000, help="optimizer steps per (cell, length)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (clipnorm 1.0)")
    parser.add_argument("--units", type=int, default=32)
    parser.add_argument("--embed-dim", type=int, default=8)
    parser.add_argument("--uniform-init", type=float, default=0.1,
                        help="a of the U(-a, a) recurrent kernel of the Elman cell `simple`")
    parser.add_argument("--eval-every", type=int, default=250, help="steps between held-out checks")
    parser.add_argument("--eval-size", type=int, default=2000, help="held-out sequences for accuracy")
    parser.add_argument("--check-size", type=int, default=500,
                        help="separate held-out sequences checked every --eval-every steps")
    parser.add_argument("--grad-size", type=int, default=256, help="held-out sequences for gradients")
    parser.add_argument("--plot-length", type=int, default=100, help="length of the gradient panel")
    parser.add_argument("--seeds", "--seed", default="0,1,2",
                        help="comma-separated seeds; each seeds the initialization and the training data")
    parser.add_argument("--out", default="/tmp/long_range")
    parser.add_argument("--merge", default="",
                        help="comma-separated results.json files: re-tabulate and re-plot their runs "
                             "together (no training; their budgets must agree)")
    args = parser.parse_args(argv)
    args.lengths = [int(v) for v in args.lengths.split(",") if v]
    args.cells = [v.strip() for v in args.cells.split(",") if v.strip()]
    args.seeds = [int(v) for v in args.seeds.split(",") if v]
    for cell in args.cells:
        if cell not in CELL_NAMES:
            parser.error(f"unknown cell {cell!r}; choose from {sorted(CELL_NAMES)}")
    if args.steps <= 0 or args.eval_every <= 0:
        parser.error("--steps and --eval-every must be positive")
    if math.ceil(args.steps / args.eval_every) > 1000:
        parser.error("at most 1000 training chunks (--steps / --eval-every) per run")
    if not args.seeds or min(args.seeds) < 0:
        parser.error("--seeds must be non-negative ints")
    return args


def build_model(cell, units, embed_dim, vocab_size, length, lr, seed, uniform_init=0.1):
    keras.utils.set_random_seed(seed)
    ids = keras.Input((length,), dtype="int32", name="ids")
    x = keras.layers.Embedding(vocab_size, embed_dim, name="embedding")(ids)
    rnn = RNNStack(units, cell=STACK_CELLS[cell], num_layers=1, return_state=True, name="rnn")
    _, h, *_ = rnn(x)
    logits = keras.layers.Dense(NUM_CLASSES, name="logits")(h)
    model = keras.Model(ids, logits, name=f"temporal_order_{cell}")
    rnn_cell = rnn.rnn_layers[0].cell
    if cell == "simple":
        rng = np.random.default_rng(seed)
        shape = rnn_cell.recurrent_kernel.shape
        rnn_cell.recurrent_kernel.assign(rng.uniform(-uniform_init, uniform_init, shape).astype("float32"))
    if cell in LSTM_FORGET_BIAS:  # Keras LSTM bias layout: [input, forget, cell, output] gates
        bias = ops.convert_to_numpy(rnn_cell.bias).copy()
        bias[units:2 * units] = LSTM_FORGET_BIAS[cell]
        rnn_cell.bias.assign(bias)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=lr, clipnorm=1.0),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def training_chunks(args, length, seed):
    """The run's training data: chunks of `--eval-every` batches, fixed by (seed, length)."""
    chunks = []
    for k, first in enumerate(range(0, args.steps, args.eval_every)):
        n_steps = min(args.eval_every, args.steps - first)
        chunks.append(temporal_order_arrays(
            n_steps * args.batch_size, seed=TRAIN_SEED_BASE + 1000 * seed + k, length=length
        ))
    return chunks


def accuracy(model, ids, labels):
    logits = model.predict(ids, batch_size=500, verbose=0)
    return float(np.mean(np.argmax(logits, axis=-1) == labels))


# --- hand-unrolled recurrence with per-step perturbations ------------------------------------


def unrolled_loss_and_logits(model, ids, labels, deltas):
    """Runs the trained layers step by step; `deltas` (T, batch, units) is added to each h_t."""
    embedding = model.get_layer("embedding")
    rnn_stack = model.get_layer("rnn")
    dense = model.get_layer("logits")
    cell = rnn_stack.rnn_layers[0].cell
    x = embedding(ids)  # (batch, T, embed_dim)
    batch, steps = ids.shape
    zeros = ops.zeros((batch, rnn_stack.units), dtype=x.dtype)
    states = [zeros] * len(rnn_stack.state_names)  # LSTM [h, c]; GRU/SimpleRNN [h]
    h = zeros
    for t in range(steps):
        _, states = cell(x[:, t, :], states, training=False)
        h = states[0] + deltas[t]  # the hidden state seen by step t+1 and, at T, the head
        states = [h] + list(states[1:])
    logits = dense(h)  # (batch, 4)
    loss = ops.sum(
        keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    )
    return loss, logits


def hidden_state_gradients(model, ids, labels):
    """Returns (grad (T, batch, units) of the summed loss w.r.t. each h_t, unrolled logits)."""
    backend = keras.backend.backend()
    units = model.get_layer("rnn").units
    deltas = np.zeros((ids.shape[1], ids.shape[0], units), dtype="float32")
    ids = ops.convert_to_tensor(ids, dtype="int32")
    labels = ops.convert_to_tensor(labels, dtype="int32")
    if backend == "jax":
        import jax

        def loss_fn(d):
            return unrolled_loss_and_logits(model, ids, labels, d)

        (_, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(jax.numpy.asarray(deltas))
    elif backend == "tensorflow":
        import tensorflow as tf

        d = tf.constant(deltas)
        with tf.GradientTape() as tape:
            tape.watch(d)
            loss, logits = unrolled_loss_and_logits(model, ids, labels, d)
        grads = tape.gradient(loss, d)
    else:
        raise NotImplementedError(
            f"the hidden-state gradient needs KERAS_BACKEND=jax or tensorflow (got {backend!r})"
        )
    return ops.convert_to_numpy(grads), ops.convert_to_numpy(logits)


def measure_gradients(model, ids, labels):
    """Per-step mean (over sequences) of ||dL_i/dh_t||, after checking the unroll."""
    grads, logits = hidden_state_gradients(model, ids, labels)
    reference = model.predict(ids, batch_size=len(ids), verbose=0)
    drift = float(np.max(np.abs(logits - reference)))
    scale = max(1.0, float(np.max(np.abs(reference))))
    if not drift <= UNROLL_TOLERANCE * scale:
        raise AssertionError(
            f"hand-unrolled logits drift from the Keras model's: max |diff| = {drift:.3g} "
            f"(allowed {UNROLL_TOLERANCE * scale:.3g}); the gradient would not be the model's"
        )
    # The summed loss is separable, so grads[t, i] = dL_i/dh_t for sequence i.
    per_step = np.linalg.norm(grads.astype("float64"), axis=-1).mean(axis=1)  # (T,)
    return per_step, drift


# --- one (cell, length, seed) run --------------------------------------------------------------


def run_one(args, cell, length, seed, train_chunks, eval_data, check_data, grad_data, vocab_size):
    model = build_model(cell, args.units, args.embed_dim, vocab_size, length, args.lr, seed,
                        args.uniform_init)
    grad_ids, grad_labels = grad_data
    eval_ids, eval_labels = eval_data
    grad_init, drift_init = measure_gradients(model, grad_ids, grad_labels)
    curve = [(0, accuracy(model, *check_data))]
    train_seconds = 0.0
    step = 0
    for ids, labels in train_chunks:
        start = time.perf_counter()
        model.fit(ids, labels, batch_size=args.batch_size, epochs=1, shuffle=False, verbose=0)
        train_seconds += time.perf_counter() - start
        step += len(ids) // args.batch_size
        curve.append((step, accuracy(model, *check_data)))
    final_accuracy = accuracy(model, eval_ids, eval_labels)
    grad_trained, drift_trained = measure_gradients(model, grad_ids, grad_labels)
    keras.backend.clear_session()
    result = {
        "cell": cell,
        "length": length,
        "seed": seed,
        "steps": args.steps,
        "batch_size": args.batch_size,
        "sequences_seen": args.steps * args.batch_size,
        "train_seconds": train_seconds,
        "accuracy": final_accuracy,
        "best_check_accuracy": max(acc for _, acc in curve),
        "accuracy_curve": curve,  # (step, accuracy on the check set)
        "grad_norm_init": grad_init.tolist(),
        "grad_norm_trained": grad_trained.tolist(),
        "grad_first_init": float(grad_init[0]),
        "grad_last_init": float(grad_init[-1]),
        "grad_first_trained": float(grad_trained[0]),
        "grad_last_trained": float(grad_trained[-1]),
        "ratio_init": _ratio(grad_init[0], grad_init[-1]),
        "ratio_trained": _ratio(grad_trained[0], grad_trained[-1]),
        "unroll_max_abs_diff": max(drift_init, drift_trained),
    }
    print(
        f"  {CELL_NAMES[cell]:11s} L={length:<4d} seed {seed}: accuracy {final_accuracy:.3f} "
        f"(checks {' '.join(f'{a:.2f}' for _, a in curve[1:])})  |dL/dh_1|/|dL/dh_T| init "
        f"{result['ratio_init']:.1e} trained {result['ratio_trained']:.1e}  "
        f"{train_seconds / 60:.2f} train min",
        flush=True,
    )
    return result


def _ratio(first, last):
    return float(first / last) if last > 0 else float("nan")


def _geomean(values):
    values = np.asarray(values, dtype="float64")
    with np.errstate(divide="ignore"):
        return float(np.exp(np.mean(np.log(values)))) if np.all(values > 0) else 0.0


def summarize(results, args):
    """One row per (cell, length): accuracies over seeds, their mean, gradient norms (geometric means)."""
    rows = []
    for length in args.lengths:
        for cell in args.cells:
            runs = [r for r in results if r["cell"] == cell and r["length"] == length]
            if not runs:
                continue
            accs = [r["accuracy"] for r in runs]
            row = {
                "cell": cell,
                "length": length,
                "seeds": [r["seed"] for r in runs],
                "steps": args.steps,
                "train_minutes_mean": float(np.mean([r["train_seconds"] for r in runs]) / 60),
                "accuracies": accs,
                "accuracy_mean": float(np.mean(accs)),
                "solved": sum(a >= 0.95 for a in accs),
                "best_checks": [r["best_check_accuracy"] for r in runs],
                "reached": sum(r["best_check_accuracy"] >= 0.95 for r in runs),
            }
            for key in ("grad_first_init", "grad_last_init", "grad_first_trained", "grad_last_trained"):
                row[key] = _geomean([r[key] for r in runs])
            row["ratio_init"] = _ratio(row["grad_first_init"], row["grad_last_init"])
            row["ratio_trained"] = _ratio(row["grad_first_trained"], row["grad_last_trained"])
            rows.append(row)
    return rows


# --- report ---------------------------------------------------------------------------------------


def print_table(rows, args, backend):
    header = (
        f"{'cell':11s} {'length':>6s} {'steps':>6s} {'train min':>9s} {'accuracy per seed':>18s} "
        f"{'mean':>6s} {'best check per seed':>19s} {'|g1| init':>9s} {'|gT| init':>9s} {'ratio init':>10s} "
        f"{'|g1| trained':>12s} {'|gT| trained':>12s} {'ratio trained':>13s}"
    )
    print()
    print(header)
    print("-" * len(header))
    for r in rows:
        accs = " ".join(f"{a:.2f}" for a in r["accuracies"])
        best = " ".join(f"{a:.2f}" for a in r["best_checks"])
        print(
            f"{CELL_NAMES[r['cell']]:11s} {r['length']:6d} {r['steps']:6d} {r['train_minutes_mean']:9.2f} "
            f"{accs:>18s} {r['accuracy_mean']:6.2f} {best:>19s} {r['grad_first_init']:9.1e} "
            f"{r['grad_last_init']:9.1e} {r['ratio_init']:10.1e} {r['grad_first_trained']:12.1e} "
            f"{r['grad_last_trained']:12.1e} {r['ratio_trained']:13.1e}"
        )
    print(
        f"\nBudget: {args.steps} Adam steps (lr {args.lr:g}, clipnorm 1.0) x batch {args.batch_size} = "
        f"{args.steps * args.batch_size} training sequences per (cell, length, seed), the same "
        f"sequences for every cell; {args.units} units, embedding {args.embed_dim}; seeds "
        f"{args.seeds}. 'train min' = mean training wall time of one run. Accuracy on "
        f"{args.eval_size} held-out sequences after the last step (chance {CHANCE:.2f}); "
        f"'best check' = best accuracy on {args.check_size} other held-out sequences checked "
        f"every {args.eval_every} steps. "
        f"|g1|, |gT| = mean over {args.grad_size} held-out sequences of ||dL_i/dh_1||, "
        f"||dL_i/dh_T|| (geometric mean over seeds); ratio = |g1| / |gT|. "
        f"Backend {backend}."
    )


def plot(results, rows, args, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"simple": "tab:red", "simple_orthogonal": "tab:orange", "gru": "tab:green", "lstm": "tab:blue",
              "lstm_fb3": "tab:purple"}
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for cell in args.cells:
        cell_rows = [r for r in rows if r["cell"] == cell]
        left.plot([r["length"] for r in cell_rows], [r["accuracy_mean"] for r in cell_rows], "o-",
                  color=colors[cell], label=f"{CELL_NAMES[cell]} (mean)")
        runs = [r for r in results if r["cell"] == cell]
        offset = {"simple": -0.04, "simple_orthogonal": -0.02, "gru": 0.0, "lstm": 0.02, "lstm_fb3": 0.04}[cell]
        left.scatter([r["length"] * (1 + offset) for r in runs], [r["accuracy"] for r in runs],
                     color=colors[cell], alpha=0.35, s=14)
    left.axhline(CHANCE, color="gray", linestyle=":", label="chance (0.25)")
    left.set_xscale("log")
    left.set_xticks(args.lengths)
    left.set_xticklabels([str(n) for n in args.lengths])
    left.minorticks_off()
    left.set_xlabel("sequence length T")
    left.set_ylabel("held-out accuracy")
    left.set_ylim(0.0, 1.05)
    left.set_title(f"Temporal order: {args.steps} steps x {args.batch_size} seqs, "
                   f"{len(args.seeds)} seed(s) (dots)", fontsize=10)
    left.legend(fontsize=8)

    plot_length = min(args.lengths, key=lambda n: abs(n - args.plot_length))
    t = np.arange(1, plot_length + 1)
    for cell in args.cells:
        runs = [r for r in results if r["cell"] == cell and r["length"] == plot_length]
        if not runs:
            continue
        for key, style, alpha, label in (("grad_norm_trained", "-", 1.0, "trained"),
                                         ("grad_norm_init", "--", 0.6, "init")):
            curves = np.asarray([r[key] for r in runs], dtype="float64")
            with np.errstate(divide="ignore"):
                curve = np.exp(np.mean(np.log(curves), axis=0))  # geometric mean over seeds
            curve = np.where(curve > 0, curve, np.nan)  # float32 underflow: leave a gap
            right.semilogy(t, curve, style, color=colors[cell], alpha=alpha,
                           label=f"{CELL_NAMES[cell]} {label}")
    (lo1, hi1), (lo2, hi2) = marker_ranges(plot_length)
    right.axvspan(lo1 + 1, hi1 + 1, color="gray", alpha=0.15, label="1st marker window")
    right.axvspan(lo2 + 1, hi2 + 1, color="gray", alpha=0.08, label="2nd marker window")
    right.set_xlabel("time step t")
    right.set_ylabel("||dL/dh_t|| (mean over sequences)")
    right.set_title(f"Gradient w.r.t. the hidden state, T = {plot_length} "
                    f"(geometric mean over seeds)", fontsize=10)
    right.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


MERGE_MUST_AGREE = ("steps", "batch_size", "lr", "units", "embed_dim", "eval_every", "eval_size",
                    "check_size", "grad_size")


def merge(args, paths, out):
    """Re-tabulates and re-plots the runs of several results.json files (no training)."""
    payloads = [json.loads(Path(p).read_text()) for p in paths]
    first = payloads[0]
    for payload, path in zip(payloads, paths):
        for key in MERGE_MUST_AGREE:
            if payload["config"][key] != first["config"][key]:
                raise SystemExit(f"{path}: {key}={payload['config'][key]!r} differs from "
                                 f"{paths[0]}: {first['config'][key]!r}; runs are not comparable")
        if payload["backend"] != first["backend"]:
            raise SystemExit(f"{path}: backend {payload['backend']} differs from {first['backend']}")
    for key in MERGE_MUST_AGREE:
        setattr(args, key, first["config"][key])
    runs = [run for payload in payloads for run in payload["runs"]]
    args.cells = list(dict.fromkeys(run["cell"] for run in runs))
    args.lengths = sorted({run["length"] for run in runs})
    args.seeds = sorted({run["seed"] for run in runs})
    rows = summarize(runs, args)
    print_table(rows, args, first["backend"])
    total_seconds = sum(payload["total_seconds"] for payload in payloads)
    print(f"Total wall time of the merged runs {total_seconds / 60:.1f} min.")
    payload = {"config": vars(args), "backend": first["backend"], "total_seconds": total_seconds,
               "merged_from": [str(p) for p in paths], "summary": rows, "runs": runs}
    (out / "results.json").write_text(json.dumps(payload, indent=1))
    plot(runs, rows, args, out / "long_range.png")
    print(f"Wrote {out / 'results.json'} and {out / 'long_range.png'}")
    return payload


def main(argv=None):
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.merge:
        paths = [p for p in args.merge.split(",") if p]
        if any(Path(p).resolve() == (out / "results.json").resolve() for p in paths):
            raise SystemExit("--out would overwrite one of the --merge inputs")
        return merge(args, paths, out)
    print(f"backend {keras.backend.backend()}; cells {args.cells}; lengths {args.lengths}; seeds "
          f"{args.seeds}; {args.steps} steps x batch {args.batch_size} per (cell, length, seed)",
          flush=True)
    results = []
    total_start = time.perf_counter()
    for length in args.lengths:
        eval_data = temporal_order_arrays(args.eval_size, seed=EVAL_SEED_BASE, length=length)
        grad_data = temporal_order_arrays(args.grad_size, seed=GRAD_SEED_BASE, length=length)
        vocab_size = max(VOCAB_SIZE, int(eval_data[0].max()) + 1)
        check_data = temporal_order_arrays(args.check_size, seed=CHECK_SEED_BASE, length=length)
        for seed in args.seeds:
            train_chunks = training_chunks(args, length, seed)  # shared by every cell
            for cell in args.cells:
                results.append(run_one(args, cell, length, seed, train_chunks, eval_data, check_data,
                                       grad_data, vocab_size))
    total_seconds = time.perf_counter() - total_start
    rows = summarize(results, args)
    print_table(rows, args, keras.backend.backend())
    print(f"Total wall time {total_seconds / 60:.1f} min.")
    payload = {
        "config": vars(args),
        "backend": keras.backend.backend(),
        "total_seconds": total_seconds,
        "summary": rows,
        "runs": results,
    }
    (out / "results.json").write_text(json.dumps(payload, indent=1))
    plot(results, rows, args, out / "long_range.png")
    print(f"Wrote {out / 'results.json'} and {out / 'long_range.png'}")
    return payload


if __name__ == "__main__":
    main()

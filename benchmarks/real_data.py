"""Quality runs of the classification, tagging, language-model and translation configs on the real corpora.

Runs `seqlab run <config>` for each chosen run (a fresh process each, data read in
place by path) and prints one table row per run from its summary.json: the eval
metric, the training minutes and epochs, and the wall time of the whole run.

With `--seeds 0,1,2` every run trains once per seed (`train.seed`; the split, `data.seed`, stays, so dev
figures stay comparable) under `<root>/<run>/seed<N>`, and a last table gives each run's mean, standard
deviation and range over the seeds. Seeded runs have no time budget unless `--max-minutes` is given: a
budget in minutes makes the number of steps depend on the machine's load, so the figure would not be
reproducible; the configs' `train.epochs` (with early stopping) bounds them instead.

Examples:

    python benchmarks/real_data.py --data /work/shared/data --runs ud_pos,conll_ner --root /tmp/quality
    python benchmarks/real_data.py --data /work/shared/data --runs ud_pos --seeds 0,1,2 --root /tmp/quality
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

# run name -> (config, --set overrides with {data} for the data folder, metric to report)
RUNS: dict[str, tuple[str, list[str], str]] = {
    "imdb_rnn": ("imdb_rnn", ["data.source={data}/imdb/train.jsonl.gz"], "accuracy"),
    "imdb_transformer": ("imdb_transformer", ["data.source={data}/imdb/train.jsonl.gz"], "accuracy"),
    "conll_ner": ("conll_ner", [
        "data.source={data}/conll2003/eng.train", "data.eval_source={data}/conll2003/eng.testa",
        "data.format=conll", "data.iob2=true", "data.test_fraction=0"], "entity_f1"),
    "conll_ner_softmax": ("conll_ner", [
        "data.source={data}/conll2003/eng.train", "data.eval_source={data}/conll2003/eng.testa",
        "data.format=conll", "data.iob2=true", "data.test_fraction=0",
        "model.output=softmax", "model.bio_constraints=false"], "entity_f1"),
    "conll_ner_transformer": ("conll_ner_transformer", [
        "data.source={data}/conll2003/eng.train", "data.eval_source={data}/conll2003/eng.testa",
        "data.format=conll", "data.iob2=true", "data.test_fraction=0"], "entity_f1"),
    "ud_pos": ("ud_pos", [
        "data.source={data}/ud_english_ewt/en_ewt-ud-train.conllu.gz",
        "data.eval_source={data}/ud_english_ewt/en_ewt-ud-dev.conllu", "data.test_fraction=0"], "token_accuracy"),
    "ud_pos_transformer": ("ud_pos_transformer", [
        "data.source={data}/ud_english_ewt/en_ewt-ud-train.conllu.gz",
        "data.eval_source={data}/ud_english_ewt/en_ewt-ud-dev.conllu", "data.test_fraction=0"], "token_accuracy"),
    # Tiny Shakespeare: stateful truncated BPTT (the config) and stateless shuffled windows of the same
    # length over the same tokens per epoch, at the same time budget.
    "shakespeare_char": ("shakespeare_char", [
        "data.source={data}/tinyshakespeare/train.txt", "data.eval_source={data}/tinyshakespeare/valid.txt"],
        "nats_per_token"),
    "shakespeare_char_windows": ("shakespeare_char", [
        "data.source={data}/tinyshakespeare/train.txt", "data.eval_source={data}/tinyshakespeare/valid.txt",
        "train.lm_input=windows"], "nats_per_token"),
    "shakespeare_transformer": ("shakespeare_transformer", [
        "data.source={data}/tinyshakespeare/train.txt", "data.eval_source={data}/tinyshakespeare/valid.txt"],
        "nats_per_token"),
    # Multi30k German -> English: train.{de,en}.gz for training, val.{de,en}.gz for evaluation.
    **{name: (name, [
        "data.source={data}/multi30k/train.de.gz", "data.target_source={data}/multi30k/train.en.gz",
        "data.eval_source={data}/multi30k/val.de.gz", "data.eval_target_source={data}/multi30k/val.en.gz"], "bleu")
       for name in ("multi30k_gru_attention", "multi30k_luong", "multi30k_transformer")},
}


def command(name: str, data: str, root: Path, minutes: float, extra: list[str]) -> list[str]:
    """`seqlab run` of run `name` under `root` (which names the run's folder)."""
    config, overrides, _ = RUNS[name]
    sets = [o.format(data=data) for o in overrides] + [f"train.max_minutes={minutes}"] + list(extra)
    return ["seqlab", "run", config, "--root", str(root)] + [a for s in sets for a in ("--set", s)]


def spread(values: list[float]) -> str:
    """`mean ± sample standard deviation (min-max)` of `values`."""
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.4f} ± {std:.4f} ({min(values):.4f}-{max(values):.4f})"


def step_outputs(summary: dict, step: str) -> dict:
    return next((s.get("outputs") or {} for s in summary["steps"] if s["name"] == step), {})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--runs", default=",".join(RUNS), help=f"comma-separated, from {list(RUNS)}")
    parser.add_argument("--root", default="/tmp/seqlab_quality")
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="train.max_minutes of every run (default 25; none with --seeds)")
    parser.add_argument("--seeds", default="", help="comma-separated train.seed values: one run per seed")
    parser.add_argument("--set", action="append", default=[], dest="extra", help="more overrides, every run")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s]
    minutes = args.max_minutes if args.max_minutes is not None else (0.0 if seeds else 25.0)
    rows = []
    for name in args.runs.split(","):
        if name not in RUNS:
            parser.error(f"unknown run {name!r}; choose from {list(RUNS)}")
        for seed in seeds or [None]:
            label, root = (name, Path(args.root) / name) if seed is None else (
                f"{name} seed {seed}", Path(args.root) / name / f"seed{seed}")
            extra = args.extra + ([] if seed is None else [f"train.seed={seed}"])
            cmd = command(name, args.data, root, minutes, extra)
            print("+", " ".join(cmd), flush=True)
            start = time.perf_counter()
            log = root.with_suffix(".log")
            log.parent.mkdir(parents=True, exist_ok=True)
            with log.open("w") as f:
                code = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=dict(os.environ)).returncode
            wall = (time.perf_counter() - start) / 60
            if code:
                print(f"{label}: failed (exit {code}); see {log}", file=sys.stderr)
                continue
            summary = json.loads((root / "summary.json").read_text())
            trainer = step_outputs(summary, "trainer")
            metric = RUNS[name][2]
            rows.append((name, label, metric, summary["metrics"]["eval"].get(metric), trainer.get("train_minutes"),
                         trainer.get("epochs_run"), wall))
            print(f"{label}: eval {metric}={rows[-1][3]:.4f}, training {rows[-1][4]} min, "
                  f"{rows[-1][5]} epochs, whole run {wall:.1f} min", flush=True)
    print("\n| run | eval metric | value | training min | epochs | whole run min |\n|---|---|---:|---:|---:|---:|")
    for _, label, metric, value, minutes_run, epochs, wall in rows:
        print(f"| {label} | {metric} | {value:.4f} | {minutes_run} | {epochs} | {wall:.1f} |")
    if seeds:
        print("\n| run | eval metric | seeds | mean ± std (min-max) |\n|---|---|---:|---|")
        for name in dict.fromkeys(r[0] for r in rows):
            values = [r[3] for r in rows if r[0] == name]
            print(f"| {name} | {RUNS[name][2]} | {len(values)} | {spread(values)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Does the pushed SavedModel, reloaded in a fresh process, answer like the trained Keras model?

For a finished classification, tagging or translation run (`--root`), takes the raw eval
texts (tagging: the eval sentences' words joined by spaces; translation: the sources), predicts them with
the run's Keras model in this process (`serving.parity.keras_predictions`) and
with the exported `serving_default` in a fresh Python process
(`serving.predict.predict`), and prints how many agree.

Example:

    python benchmarks/serving_agreement.py --root /tmp/q/real/imdb_rnn --limit 1000
    python benchmarks/serving_agreement.py --root /tmp/m30k/multi30k_gru_attention --reexport
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def eval_texts(transform_dir: Path, task: str, limit: int) -> list[str]:
    import tensorflow as tf

    from serving import schema
    from components.registry import get_task
    from components.trainer.task_input import read_task_examples

    texts = []
    for ex in read_task_examples(transform_dir, get_task(task), "eval", with_raw=True).take(limit):
        if task == "classification":
            texts.append(ex[schema.RAW_TEXT].numpy().decode("utf-8"))
        elif task == "translation":
            texts.append(ex[schema.RAW_SOURCE].numpy().decode("utf-8"))
        else:
            texts.append(" ".join(w.decode("utf-8") for w in ex[schema.RAW_TOKENS].numpy()))
    del tf
    return texts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="the run root of a finished run (has summary.json)")
    parser.add_argument("--limit", type=int, default=100000)
    parser.add_argument("--batch-size", type=int, default=256, help="texts per eager batch of the Keras side")
    parser.add_argument("--reexport", action="store_true",
                        help="compare a fresh export of the run's model by today's code, not the pushed one")
    args = parser.parse_args(argv)
    from serving.parity import keras_predictions, run_artifacts

    summary = json.loads((Path(args.root) / "summary.json").read_text())
    if not summary.get("export_dir") and not args.reexport:
        parser.error(f"{args.root} has no pushed export (not blessed?)")
    transform_dir, trainer_dir, config = run_artifacts(args.root)
    task = config["task"]
    texts = eval_texts(transform_dir, task, args.limit)
    start = time.perf_counter()
    expected = keras_predictions(args.root, texts, batch_size=args.batch_size)
    keras_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        if args.reexport:  # what the pusher writes today, from the run's trained model and effective config
            from components.registry import get_task
            from pipeline.config import FAMILY_KEYS, load_config
            from serving.export import load_trained_model

            family = config["model"]["family"]
            if family == "auto":
                family = get_task(task).families[0]
            reads = FAMILY_KEYS[family]  # the config file may set only the keys its family reads
            model = {k: v for k, v in config["model"].items() if k == "family" or k in reads}
            (Path(tmp) / "config.yaml").write_text(json.dumps({**config, "model": model}))
            cfg = load_config([str(Path(tmp) / "config.yaml")])
            summary["export_dir"] = str(get_task(task).export(cfg, load_trained_model(trainer_dir), transform_dir,
                                                              Path(tmp) / "export" / "1"))
        (Path(tmp) / "texts.json").write_text(json.dumps(texts))
        script = (
            "import json, sys, time\nfrom serving.predict import predict\n"
            f"texts = json.load(open({str(Path(tmp) / 'texts.json')!r}))\n"
            f"start = time.perf_counter(); rows = predict({summary['export_dir']!r}, texts)\n"
            "print(json.dumps({'rows': rows, 'seconds': time.perf_counter() - start}))\n"
        )
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                              cwd=str(Path(__file__).resolve().parents[1]), check=True)
    fresh = json.loads(proc.stdout.strip().splitlines()[-1])
    key = {"classification": "label", "translation": "translation"}.get(task, "tags")
    got = [row[key] for row in fresh["rows"]]
    same = sum(g == e for g, e in zip(got, expected))
    print(f"{args.root}: {task}, {len(texts)} eval texts; fresh-process SavedModel == in-process Keras model "
          f"on {same}/{len(texts)} ({same / max(len(texts), 1):.4%}); Keras {keras_s:.1f} s, "
          f"SavedModel {fresh['seconds']:.1f} s (Keras in batches of {args.batch_size}, the SavedModel in one)")
    return 0 if same == len(texts) else 1


if __name__ == "__main__":
    sys.exit(main())

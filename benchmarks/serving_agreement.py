"""Does the pushed SavedModel, reloaded in a fresh process, answer like the trained Keras model?

For a finished classification, tagging or translation run (`--root`), takes the raw eval
texts (tagging: the eval sentences' words joined by spaces; translation: the sources), predicts them with
the run's Keras model in this process (`serving.parity.keras_predictions`) and
with the exported `serving_default` in a fresh Python process
(`serving.predict.predict`), and prints how many agree.

Example:

    python benchmarks/serving_agreement.py --root /tmp/q/real/imdb_rnn --limit 1000
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
    args = parser.parse_args(argv)
    from serving.parity import keras_predictions, run_artifacts

    summary = json.loads((Path(args.root) / "summary.json").read_text())
    if not summary.get("export_dir"):
        parser.error(f"{args.root} has no pushed export (not blessed?)")
    transform_dir, _, config = run_artifacts(args.root)
    task = config["task"]
    texts = eval_texts(transform_dir, task, args.limit)
    start = time.perf_counter()
    expected = keras_predictions(args.root, texts)
    keras_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
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
          f"SavedModel {fresh['seconds']:.1f} s (one batch each)")
    return 0 if same == len(texts) else 1


if __name__ == "__main__":
    sys.exit(main())

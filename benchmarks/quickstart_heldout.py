"""Held-out check of the quickstart's pushed SavedModel, in a fresh process.

Generates date strings in every surface form and case variant with a seed the
pipeline never used, drops any string that occurs in the training split, loads
the pushed SavedModel with `tf.saved_model.load` (after `import
tensorflow_text`) and prints accuracy per form and overall.

    python benchmarks/quickstart_heldout.py --root seqlab_runs --n 3000
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import tensorflow as tf  # noqa: E402
import tensorflow_text  # noqa: E402,F401  (registers the ops the graph uses)

from components.example_gen.dates import FORMATS, cases_for, format_date, random_date  # noqa: E402
from components.statistics import read_raw_texts  # noqa: E402


def heldout_strings(n: int, seed: int, seen: set[str]) -> list[tuple[str, str, str]]:
    rng = random.Random(seed)
    rows = []
    forms = sorted(FORMATS)
    while len(rows) < n:
        date = random_date(rng)
        form = forms[len(rows) % len(forms)]
        case = rng.choice(cases_for(form))
        text = format_date(date, form, case)
        if text not in seen:
            rows.append((form, text, date.isoformat()))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default="seqlab_runs")
    parser.add_argument("--export-dir", help="default: export_dir of <root>/summary.json")
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=20261125)
    args = parser.parse_args()

    summary = json.loads((Path(args.root) / "summary.json").read_text())
    export_dir = args.export_dir or summary["export_dir"]
    raw_dir = next(s["artifact"] for s in summary["steps"] if s["name"] == "example_gen")
    seen = {source for source, _ in read_raw_texts(raw_dir, "train", "translation")}
    rows = heldout_strings(args.n, args.seed, seen)

    model = tf.saved_model.load(export_dir)
    serve = model.signatures["serving_default"]
    example = serve(text=tf.constant(["Tuesday, March 3, 1998"]))["translation"].numpy()[0].decode()
    print(f"'Tuesday, March 3, 1998' -> '{example}'")

    started = time.perf_counter()
    correct: dict[str, list[bool]] = defaultdict(list)
    for i in range(0, len(rows), 256):
        chunk = rows[i:i + 256]
        out = serve(text=tf.constant([t for _, t, _ in chunk]))["translation"].numpy()
        for (form, _, target), pred in zip(chunk, out):
            correct[form].append(pred.decode() == target)
    seconds = time.perf_counter() - started
    for form in sorted(correct):
        print(f"{form:<14} {sum(correct[form]) / len(correct[form]):.4f}  (n={len(correct[form])})")
    total = [c for v in correct.values() for c in v]
    print(f"overall        {sum(total) / len(total):.4f}  (n={len(total)}, unseen in training; "
          f"{len(total) / seconds:.0f} strings/s through the SavedModel)")


if __name__ == "__main__":
    main()

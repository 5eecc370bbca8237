"""Where a trained language model's loss comes from: position in the window, and carried context.

For each run root (a `seqlab run` of a recurrent language model), reads the
eval stream and the trained `model.keras` and prints:

    carried     nats/token with the states carried through the stream (the evaluator's figure)
    windows     nats/token over non-overlapping windows from zero states
    by position mean nats/token at window positions 0-9, 10-49, 50-99 (windows from zero states): how
                much of the windows' cost is the cold start, and how well the model does once
                it has 50+ tokens of context in both readings

Used to compare stateful truncated BPTT with stateless windows on the same
data (benchmarks/README.md, "stateful vs stateless").

    python benchmarks/lm_context.py /tmp/q/lm/shakespeare_char /tmp/q/lm/shakespeare_char_windows
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from serving.export import load_trained_model  # noqa: E402
from components.evaluator.evaluate_lm import stream_loss_carried, window_position_losses  # noqa: E402
from components.trainer import lm_input  # noqa: E402
from serving.parity import run_artifacts  # noqa: E402

BANDS = ((0, 10), (10, 50), (50, None))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("roots", nargs="+", help="run roots of recurrent language models")
    args = parser.parse_args(argv)
    print("| run | lm_input | carried | windows | pos 0-9 | pos 10-49 | pos 50-99 |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for root in args.roots:
        transform_dir, trainer_dir, config = run_artifacts(root)
        train = config["train"]
        model = load_trained_model(trainer_dir)
        stream = lm_input.read_stream(transform_dir, "eval")
        length, batch = train["sequence_length"], train["batch_size"]
        nats, tokens = window_position_losses(model, stream, length, batch)
        by_position = nats / tokens  # mean nats at each window position, windows from zero states
        rows = lm_input.carried_rows(len(stream), length, batch)
        total, count = stream_loss_carried(model, stream, length, rows)
        bands = [float(by_position[a:b].mean()) for a, b in BANDS]
        print(f"| {Path(root).name} | {train['lm_input']} | {total / count:.4f} | {by_position.mean():.4f} | "
              + " | ".join(f"{v:.4f}" for v in bands) + " |", flush=True)
        (Path(root) / "lm_context.json").write_text(json.dumps(
            {"carried": total / count, "windows": float(by_position.mean()), "by_position": by_position.tolist()}))


if __name__ == "__main__":
    main()

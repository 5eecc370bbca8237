"""The attention maps of several translation runs on the same validation sentences, side by side.

For each finished translation run (`--roots`, comma-separated), loads the trained model and runs the export's
`align` function (`serving.export.make_translation_fns`: the configured decoding, the best translation's
tokens and encoder-decoder attention `[target, source]`; the last decoder layer's heads averaged for the
Transformer) on the validation sources numbered `--sentences`. Writes one PNG per sentence with one panel per
run, and prints a Markdown table of the translations with each map's mean largest weight per output token
(1.0: every token looks at one source word; 1/S: spread evenly).

    python benchmarks/attention_maps.py --roots /tmp/m30k/multi30k_gru_attention,/tmp/m30k/multi30k_luong \
        --sentences 0,1,2 --out /tmp/m30k/maps
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from components.registry import get_task  # noqa: E402
from components.trainer.task_input import read_task_examples  # noqa: E402
from models.decoding import strategy_from_name  # noqa: E402
from serving import schema  # noqa: E402
from serving.export import load_trained_model, make_translation_fns  # noqa: E402
from serving.parity import run_artifacts  # noqa: E402
from serving.text_processor import TextProcessor  # noqa: E402


def validation_pairs(transform_dir: Path, indices: list[int]) -> list[tuple[str, str]]:
    """(source, reference) of the eval examples numbered `indices`, in the transform's eval order."""
    wanted, pairs = set(indices), {}
    examples = read_task_examples(transform_dir, get_task("translation"), "eval", with_raw=True)
    for i, ex in enumerate(examples.take(max(indices) + 1)):
        if i in wanted:
            pairs[i] = (ex[schema.RAW_SOURCE].numpy().decode(), ex[schema.RAW_TARGET].numpy().decode())
    return [pairs[i] for i in indices]


def align_run(root: Path, sources: list[str]) -> list[dict]:
    """The run's best translation of each source: output tokens, source tokens, attention `[T, S]`."""
    transform_dir, trainer_dir, config = run_artifacts(root)
    decode = config["push"]["decode"]
    strategy = strategy_from_name(decode["strategy"], beam_width=decode["beam_width"],
                                  length_penalty=decode["length_penalty"])
    fns = make_translation_fns(load_trained_model(trainer_dir), TextProcessor.from_manifest(transform_dir, "source"),
                               TextProcessor.from_manifest(transform_dir, "target"),
                               config["eval"]["max_decode_length"], strategy)
    out = fns["align"](tf.constant(sources))
    rows = []
    for words, source_words, attention in zip(out["tokens"].numpy(), out["source_tokens"].numpy(),
                                              out["attention"].numpy()):
        words = [w.decode() for w in words if w]
        source_words = [w.decode() for w in source_words if w]
        rows.append({"tokens": words, "source_tokens": source_words,
                     "attention": attention[: len(words), : len(source_words)]})
    return rows


def sharpness(attention: np.ndarray) -> float:
    """Mean over output tokens of the largest attention weight."""
    return float(attention.max(axis=1).mean()) if attention.size else float("nan")


def plot(sentence: str, panels: list[tuple[str, dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    width = sum(max(3.0, 0.32 * len(p["source_tokens"]) + 1.5) for _, p in panels)
    height = max(3.5, 0.3 * max(len(p["tokens"]) for _, p in panels) + 2.0)
    fig, axes = plt.subplots(1, len(panels), figsize=(width, height), squeeze=False)
    for ax, (name, p) in zip(axes[0], panels):
        ax.imshow(p["attention"], cmap="viridis", aspect="auto", vmin=0.0, vmax=1.0)
        ax.set_xticks(range(len(p["source_tokens"])))
        ax.set_xticklabels(p["source_tokens"], rotation=90, fontsize=8)
        ax.set_yticks(range(len(p["tokens"])))
        ax.set_yticklabels(p["tokens"], fontsize=8)
        ax.set_title(name, fontsize=9)
    fig.suptitle("\n".join(textwrap.wrap(sentence, 90)), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--roots", required=True, help="comma-separated run roots of finished translation runs")
    parser.add_argument("--sentences", default="0,1,2", help="validation sentence numbers")
    parser.add_argument("--out", required=True, help="folder for the PNGs")
    args = parser.parse_args(argv)
    roots = [Path(r) for r in args.roots.split(",") if r]
    indices = [int(i) for i in args.sentences.split(",") if i]
    pairs = validation_pairs(run_artifacts(roots[0])[0], indices)
    runs = {root.name: align_run(root, [source for source, _ in pairs]) for root in roots}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print("| sentence | " + " | ".join(runs) + " |\n|---|" + "---|" * len(runs))
    for k, (index, (source, reference)) in enumerate(zip(indices, pairs)):
        panels = [(name, rows[k]) for name, rows in runs.items()]
        plot(f"{source}  (reference: {reference})", panels, out / f"val_{index}.png")
        cells = [f"{' '.join(p['tokens'])} (max weight {sharpness(p['attention']):.2f})" for _, p in panels]
        print(f"| {index}: {source} | " + " | ".join(cells) + " |")
    print(f"\nmaps: {out}/val_<n>.png")


if __name__ == "__main__":
    main()

"""The PNG plots of the steps: learning curves (trainer), attention maps and confusion matrices (evaluator)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np


def _pyplot():
    """matplotlib.pyplot on the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    _pyplot().close(fig)


def plot_learning_curves(history: dict[str, list[float]], path: str | Path) -> None:
    """Loss and accuracy (perplexity when there is no accuracy) vs epoch, train and eval, as a PNG."""
    epochs = history.get("epoch", [])
    fig, axes = _pyplot().subplots(1, 2, figsize=(10, 4))
    second = "perplexity" if "perplexity" in history else "accuracy"  # language models log perplexity
    for ax, metric in zip(axes, ("loss", second)):
        for key, label in ((metric, "train"), (f"val_{metric}", "eval")):
            if history.get(key):
                ax.plot(epochs, history[key], marker="o", label=label)
        if metric != "accuracy" and all(v > 0 for k in (metric, f"val_{metric}") for v in history.get(k, [])):
            ax.set_yscale("log")  # losses and perplexities fall over orders of magnitude
        ax.set(xlabel="epoch", ylabel=metric, title=metric)
        ax.grid(True, alpha=0.3)
        ax.legend()
    _save(fig, path)


def _label(token: str) -> str:
    return "␣" if token == " " else token


def plot_attention(
    weights: np.ndarray,
    source_tokens: Sequence[str],
    output_tokens: Sequence[str],
    path: str | Path,
    title: str = "",
) -> None:
    """Saves one attention map as a PNG.

    Args:
        weights: (output_len, source_len) attention weights; trimmed to the
            token lists.
        source_tokens: labels across (x axis).
        output_tokens: labels down (y axis).
        path: where the PNG goes.
        title: the figure title.
    """
    import textwrap

    weights = np.asarray(weights, dtype=np.float32)[: len(output_tokens), : len(source_tokens)]
    words = max((len(t) for t in source_tokens), default=1) > 1  # word/subword labels: written downwards
    width = max(4.0, (0.35 if words else 0.3) * len(source_tokens) + 2)
    height = max(3.0, 0.3 * len(output_tokens) + 1.5)
    fig, ax = _pyplot().subplots(figsize=(width, height))
    image = ax.imshow(weights, cmap="viridis", aspect="auto", vmin=0.0)
    ax.set_xticks(range(len(source_tokens)), [_label(t) for t in source_tokens], fontsize=8,
                  rotation=90 if words else 0)
    ax.set_yticks(range(len(output_tokens)), [_label(t) for t in output_tokens], fontsize=8)
    ax.set(xlabel="source", ylabel="output")
    if title:
        ax.set_title("\n".join(textwrap.wrap(title, width=int(12 * width))), fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    _save(fig, path)


def plot_confusion_matrix(
    matrix: np.ndarray,
    labels: Sequence[str],
    path: str | Path,
    normalize: bool = True,
    title: str = "Confusion matrix",
) -> None:
    """Saves a confusion matrix as a PNG: gold labels down, predicted labels across.

    Args:
        matrix: (num_labels, num_labels) counts, row = gold, column = predicted
            (as `classification_metrics.confusion_matrix` returns).
        labels: the class names, in matrix order.
        path: where the PNG goes.
        normalize: color and annotate each row as fractions of its gold count
            (rows with no gold examples stay 0); otherwise raw counts.
        title: the figure title; "(row-normalized)" is appended when normalizing.
    """
    counts = np.asarray(matrix)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or counts.shape[0] != len(labels):
        raise ValueError(
            "matrix must be square with one row per label. "
            f"Received: matrix.shape={counts.shape}, len(labels)={len(labels)}"
        )
    if normalize:
        totals = counts.sum(axis=1, keepdims=True)
        values = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    else:
        values = counts
    n = len(labels)
    longest = max((len(str(label)) for label in labels), default=1)
    size = max(4.0, 0.55 * n + 0.08 * longest + 2)
    fig, ax = _pyplot().subplots(figsize=(size, size))
    image = ax.imshow(values, cmap="Blues", vmin=0.0, vmax=1.0 if normalize else None)
    if n <= 30:  # beyond that the numbers are unreadable; the colors still tell
        threshold = (1.0 if normalize else max(float(values.max()), 1.0)) / 2
        fontsize = 8 if n <= 12 else 6
        for i in range(n):
            for j in range(n):
                text = f"{values[i, j]:.2f}" if normalize else f"{int(values[i, j])}"
                color = "white" if values[i, j] > threshold else "black"
                ax.text(j, i, text, ha="center", va="center", color=color, fontsize=fontsize)
    rotate = longest > 3 or n > 10
    names = [str(label) for label in labels]
    ax.set_xticks(range(n), names, fontsize=8, rotation=45 if rotate else 0, ha="right" if rotate else "center",
                  rotation_mode="anchor")
    ax.set_yticks(range(n), names, fontsize=8)
    ax.set(xlabel="predicted", ylabel="gold")
    ax.set_title(f"{title} (row-normalized)" if normalize else title, fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    _save(fig, path)

"""Attention map plots: source tokens across, output tokens down."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np


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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    weights = np.asarray(weights, dtype=np.float32)[: len(output_tokens), : len(source_tokens)]
    width = max(4.0, 0.3 * len(source_tokens) + 2)
    height = max(3.0, 0.3 * len(output_tokens) + 1.5)
    fig, ax = plt.subplots(figsize=(width, height))
    image = ax.imshow(weights, cmap="viridis", aspect="auto", vmin=0.0)
    ax.set_xticks(range(len(source_tokens)))
    ax.set_xticklabels([_label(t) for t in source_tokens], fontsize=8)
    ax.set_yticks(range(len(output_tokens)))
    ax.set_yticklabels([_label(t) for t in output_tokens], fontsize=8)
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    if title:
        ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)

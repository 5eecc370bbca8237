"""Run an exported translation SavedModel on raw strings.

Example:

>>> predict("seqlab_runs/serving/dates/1", ["march 3, 2024"])  # doctest: +SKIP
[{'text': 'march 3, 2024', 'translation': '2024-03-03', 'score': -0.01}]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence


def load(export_dir: str | Path):
    """Loads a SavedModel (registering the tensorflow-text ops first)."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers ops the graph may use)

    path = Path(export_dir)
    if not (path / "saved_model.pb").exists():
        raise ValueError(f"No SavedModel found. Received: export_dir={str(export_dir)!r}")
    return tf.saved_model.load(str(path))


def predict(export_dir: str | Path, texts: Sequence[str]) -> list[dict[str, Any]]:
    """Translates `texts`; one dict per input with `text`, `translation`, `score`."""
    import tensorflow as tf

    texts = list(texts)
    if not texts:
        return []
    fn = load(export_dir).signatures["serving_default"]
    out = fn(text=tf.constant(texts, dtype=tf.string))
    translations = [t.decode("utf-8") for t in out["translation"].numpy()]
    scores = [float(s) for s in out["score"].numpy()]
    return [
        {"text": text, "translation": translation, "score": score}
        for text, translation, score in zip(texts, translations, scores)
    ]

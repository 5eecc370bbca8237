"""Run an exported SavedModel (any task) on raw strings.

Example:

>>> predict("seqlab_runs/serving/dates/1", ["march 3, 2024"])  # doctest: +SKIP
[{'text': 'march 3, 2024', 'translation': '2024-03-03', 'score': -0.01}]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence


def versions_on_disk(base_path: str | Path) -> list[int]:
    """Integer version folders holding a SavedModel, ascending (other names are ignored, as TF Serving does)."""
    base = Path(base_path)
    if not base.is_dir():
        return []
    return sorted(int(p.name) for p in base.iterdir() if p.name.isdigit() and (p / "saved_model.pb").exists())


def resolve_export_dir(path: str | Path) -> Path:
    """A SavedModel folder as given, or a model's base path's latest integer version (as TF Serving picks).

    Example:

    >>> resolve_export_dir("seqlab_runs/serving/dates")  # doctest: +SKIP
    PosixPath('seqlab_runs/serving/dates/3')
    """
    path = Path(path)
    if (path / "saved_model.pb").exists():
        return path
    versions = versions_on_disk(path)
    if not versions:
        raise ValueError(f"No SavedModel found: not a SavedModel folder nor a base path with integer versions. "
                         f"Received: export_dir={str(path)!r}")
    return path / str(versions[-1])


def load(export_dir: str | Path):
    """Loads a SavedModel (registering the tensorflow-text ops first)."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers ops the graph may use)

    return tf.saved_model.load(str(resolve_export_dir(export_dir)))


def _plain(value: Any) -> Any:
    """A numpy value of one example -> JSON-friendly Python (bytes decoded)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if hasattr(value, "tolist"):
        return _plain(value.tolist())
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def predict(export_dir: str | Path, texts: Sequence[str]) -> list[dict[str, Any]]:
    """Runs `serving_default` on `texts`; one dict per input: the input (`text`, or `prompt` for a
    language model) plus every output of the signature.

    Tagging outputs are cut to each sentence's `length` (no padding).
    """
    import tensorflow as tf

    texts = list(texts)
    if not texts:
        return []
    fn = load(export_dir).signatures["serving_default"]
    (input_name,) = fn.structured_input_signature[1]  # "text", or "prompt" (language models)
    out = {name: tensor.numpy() for name, tensor in fn(**{input_name: tf.constant(texts, dtype=tf.string)}).items()}
    return example_rows(input_name, texts, out)


def example_rows(input_name: str, texts: Sequence[str], outputs: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """One dict per text: the input, then each output's value for it (by name); tagging outputs are cut to
    the sentence's `length`."""
    rows = []
    for i, text in enumerate(texts):
        row = {input_name: text, **{name: _plain(values[i]) for name, values in sorted(outputs.items())}}
        if "length" in row and "tags" in row:
            for name in ("tokens", "tags"):
                row[name] = row[name][: row["length"]]
        rows.append(row)
    return rows

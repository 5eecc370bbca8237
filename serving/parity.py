"""The trained Keras model on raw strings, in this process: the reference an export must agree with.

Runs the export's own serving functions (`serving.export`) eagerly, with the
transform's vocab files, on the `model.keras` the trainer wrote, so comparing
this with the SavedModel's `serving_default` in a fresh process checks the
tracing, the vocab assets and the reload together.

Example:

>>> keras_predictions("seqlab_runs", ["Peter lives in Brussels ."])  # doctest: +SKIP
[['B-PER', 'O', 'O', 'B-LOC', 'O']]

Language models have no single answer per string: `language_model_outputs`
calls `generate` with a fixed seed (`LM_CHECK`) and `score`, either on the
in-process model (`keras_language_model_outputs`) or on an export's
signatures (`saved_language_model_outputs`), so the two can be compared.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from serving import schema


def run_artifacts(root: str | Path) -> tuple[Path, Path, dict]:
    """(transform dir, trainer dir, effective config dict) of the latest run under `root` (its summary.json)."""
    summary = json.loads((Path(root) / "summary.json").read_text())
    artifacts = {s["name"]: Path(s["artifact"]) for s in summary["steps"] if s.get("artifact")}
    return artifacts["transform"], artifacts["trainer"], summary["config"]


LM_CHECK = {"max_new_tokens": 40, "temperature": 0.7, "top_k": 0, "seed": 7}


def language_model_outputs(generate, score, prompts: Sequence[str], check=None) -> dict[str, list]:
    """{"text": generated texts, "log_likelihood": score of each prompt} from `generate` / `score` callables."""
    import tensorflow as tf

    check = {**LM_CHECK, **(check or {})}
    prompts = tf.constant(list(prompts), dtype=tf.string)
    generated = generate(prompt=prompts, max_new_tokens=tf.constant(check["max_new_tokens"], tf.int32),
                         temperature=tf.constant(check["temperature"], tf.float32),
                         top_k=tf.constant(check["top_k"], tf.int32), seed=tf.constant(check["seed"], tf.int64))
    scored = score(text=prompts)
    return {"text": [t.decode("utf-8") for t in generated["text"].numpy()],
            "log_likelihood": [float(v) for v in scored["log_likelihood"].numpy()]}


def saved_language_model_outputs(export_dir: str | Path, prompts: Sequence[str], check=None) -> dict[str, list]:
    """`language_model_outputs` of an exported SavedModel's `generate` and `score` signatures."""
    from serving.predict import load

    loaded = load(export_dir)
    return language_model_outputs(loaded.signatures["generate"], loaded.signatures["score"], prompts, check)


def keras_language_model_outputs(root: str | Path, prompts: Sequence[str], check=None) -> dict[str, list]:
    """`language_model_outputs` of the run's `model.keras`, with the functions the export traces."""
    from serving.export import load_trained_model
    from serving.lm_export import LanguageModelFunctions
    from serving.text_processor import TextProcessor

    transform_dir, trainer_dir, _ = run_artifacts(root)
    fns = LanguageModelFunctions(load_trained_model(trainer_dir), TextProcessor.from_manifest(transform_dir, "text"))
    return language_model_outputs(fns.generate, fns.score, prompts, check)


def keras_predictions(root: str | Path, texts: Sequence[str], batch_size: int = 256) -> list:
    """Labels (classification), per-word tag lists (tagging) or translations of `texts` from the run's Keras model.

    Runs the export's own serving function (`serving.export`) eagerly on the trained model, `batch_size`
    texts at a time (eager decoding holds every step's tensors of a batch).
    """
    import tensorflow as tf

    from serving.export import load_trained_model
    from serving.export import make_classification_fn, make_serving_fn, make_tagging_fn
    from serving.predict import example_rows
    from serving.text_processor import TextProcessor

    transform_dir, trainer_dir, config = run_artifacts(root)
    manifest = schema.read_manifest(transform_dir)
    model = load_trained_model(trainer_dir)
    if "target" in manifest["vocab"]:  # an encoder-decoder's artifact: decoded as the pusher's export decodes
        from models.decoding import strategy_from_name

        decode = config["push"]["decode"]  # the effective config: strategy "auto" already resolved
        strategy = strategy_from_name(decode["strategy"], beam_width=decode["beam_width"],
                                      length_penalty=decode["length_penalty"])
        serve = make_serving_fn(model, TextProcessor.from_manifest(transform_dir, "source"),
                                TextProcessor.from_manifest(transform_dir, "target"),
                                config["eval"]["max_decode_length"], strategy)
        key = "translation"
    elif "labels" in manifest:  # a classifier's artifact
        serve = make_classification_fn(model, TextProcessor.from_manifest(transform_dir, "text"), manifest["labels"])
        key = "label"
    elif "tags" in manifest:
        serve = make_tagging_fn(model, TextProcessor.from_manifest(transform_dir, "tokens"), manifest["tags"],
                                char_ids=config["model"].get("char_filters", 0) > 0)
        key = "tags"
    else:
        raise ValueError("keras_predictions handles translators (a target vocab), classifiers (labels) and "
                         f"taggers (tags). Received: a manifest with {sorted(manifest)}")
    texts, predictions = list(texts), []
    for i in range(0, len(texts), batch_size):  # rows as `seqlab predict` builds them (tags cut to length)
        chunk = texts[i:i + batch_size]
        outputs = {name: tensor.numpy() for name, tensor in serve(tf.constant(chunk, dtype=tf.string)).items()}
        predictions += [row[key] for row in example_rows("text", chunk, outputs)]
    return predictions

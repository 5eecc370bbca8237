"""The task interface: a task family defined here, and nowhere else, runs through the whole pipeline.

`WordParityTask` (a text -> "even" / "odd" by its number of words) is one `Task` subclass registered at
import; nothing in pipeline/, components/ or serving/ knows it. The pipeline reads its TSV, computes its
statistics, builds its vocabularies, trains an `rnn_classifier` on it, evaluates it with the task's own
metric and pushes a SavedModel that answers raw strings.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from components.registry import TASKS, get_task, register_task
from components.tasks.base import Task
from components.tasks.fields import LabelField, TextField
from serving import schema


class WordParityTask(Task):
    """Is the number of words even or odd? Raw features "text" and "label", one label vocabulary."""

    name = "word_parity"
    raw_features = (schema.RAW_TEXT, schema.RAW_LABEL)
    text_fields = (TextField(schema.RAW_TEXT, schema.TOKEN_IDS, "max_source_length"),)
    label_fields = (LabelField(schema.RAW_LABEL, schema.LABEL_ID, "labels", schema.UNSEEN_LABEL_ID),)
    encoded_features = {schema.TOKEN_IDS: "int64 list: word ids", schema.LABEL_ID: "int64: index into labels",
                        schema.RAW_TEXT: "bytes: the text", schema.RAW_LABEL: "bytes: the label"}
    families = ("rnn_classifier",)
    bless_metrics = ("parity_accuracy",)
    input_ids = schema.TOKEN_IDS

    def source_fields(self, data):
        return (data.text_field, data.label_field)

    def feature_spec(self, with_raw):
        import tensorflow as tf

        spec = {schema.TOKEN_IDS: tf.io.VarLenFeature(tf.int64), schema.LABEL_ID: tf.io.FixedLenFeature([], tf.int64)}
        return {**spec, schema.RAW_TEXT: tf.io.FixedLenFeature([], tf.string)} if with_raw else spec

    def model_inputs(self, batch):
        import tensorflow as tf

        return tf.cast(batch[schema.TOKEN_IDS], tf.int32), batch[schema.LABEL_ID]

    def compile_args(self, cfg):
        import keras

        return {"loss": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                "metrics": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]}

    def evaluate(self, cfg, model, transform_dir, manifest, splits, out):
        from components.trainer.task_input import make_task_dataset

        metrics = {}
        for split in splits:
            right = total = 0
            for x, y in make_task_dataset(transform_dir, self, split, 64):
                predicted = np.argmax(np.asarray(model(x, training=False)), axis=-1)
                right += int(np.sum(predicted == y.numpy()))
                total += len(predicted)
            metrics[split] = {"parity_accuracy": right / max(total, 1), "examples": total}
        (out / "parity.json").write_text(json.dumps(metrics))
        return metrics

    def export(self, cfg, model, transform_dir, export_dir, model_name=""):
        from serving.export import export_classifier

        return export_classifier(model, transform_dir, export_dir, model_name=model_name)


@pytest.fixture(scope="module")
def parity_run(tmp_path_factory):
    from pipeline.config import load_config
    from pipeline.runner import run_pipeline

    register_task(WordParityTask())
    root = tmp_path_factory.mktemp("parity")
    rng = np.random.default_rng(0)
    rows = ["text\tlabel"]
    for _ in range(400):
        n = int(rng.integers(1, 7))
        rows.append(" ".join(rng.choice(["a", "b", "c"], size=n)) + "\t" + ("even" if n % 2 == 0 else "odd"))
    (root / "parity.tsv").write_text("\n".join(rows) + "\n")
    config = load_config(None, [
        "task=word_parity", f"data.source={root / 'parity.tsv'}", "transform.tokenizer=word", "model.embed_dim=8",
        "model.units=16", "model.bidirectional=false", "train.epochs=3", "train.batch_size=32",
        "eval.bless_threshold=0.0", "push.model_name=parity"])
    yield config, run_pipeline(config, root / "runs"), root / "runs"
    TASKS.pop(WordParityTask.name)


def test_the_toy_family_is_a_config_choice_with_its_own_defaults(parity_run):
    config, _, _ = parity_run
    from pipeline.config import ConfigError, load_config

    assert config.model.family == "rnn_classifier" and get_task("word_parity").bless_metrics == ("parity_accuracy",)
    with pytest.raises(ConfigError, match=r"eval.bless_metric must be one of \['auto', 'parity_accuracy'\]"):
        load_config(None, ["task=word_parity", "transform.tokenizer=word", "eval.bless_metric=accuracy"])
    with pytest.raises(ConfigError, match="Families for word_parity: \\['rnn_classifier'\\]"):
        load_config(None, ["task=word_parity", "transform.tokenizer=word", "model.family=rnn_tagger"])


@pytest.mark.fit  # trains (3 epochs of 400 short rows)
def test_a_task_family_defined_in_a_test_runs_end_to_end(parity_run):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    _, summary, root = parity_run
    assert {s["name"]: s["status"] for s in summary["steps"]} == dict.fromkeys(
        ["example_gen", "statistics", "transform", "trainer", "evaluator", "pusher"], "ran")
    metrics = summary["metrics"]["eval"]
    assert metrics["examples"] > 0 and 0.0 <= metrics["parity_accuracy"] <= 1.0
    stats = json.loads(next((root / "artifacts" / "statistics").glob("*/stats.json")).read_text())
    assert set(stats["train"]["labels"]) == {"even", "odd"}  # the generic statistics read its label field
    manifest = json.loads(next((root / "artifacts" / "transform").glob("*/manifest.json")).read_text())
    assert manifest["task"] == "word_parity" and sorted(manifest["labels"]) == ["even", "odd"]
    loaded = tf.saved_model.load(summary["export_dir"])
    out = loaded.signatures["serving_default"](text=tf.constant(["a b", "c"]))
    assert [label.decode() in ("even", "odd") for label in out["label"].numpy()] == [True, True]
    assert Path(summary["export_dir"]).parent.name == "parity"

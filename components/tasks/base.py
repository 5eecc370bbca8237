"""The task interface: what every step asks a task family instead of branching on its name.

A `Task` is the only code that names its task (`components/tasks/<name>.py`). It declares its data
(raw features, encoded fields, model families, blessable metrics, default decoding) and implements
what differs between tasks: config checks, tf.data input, model inputs and compile arguments, the
evaluation and the export. The steps, the DAG, the runner and the config loader are task-generic:
they call `get_task(cfg.task)`. Class attributes and methods only; a task module imports TensorFlow
inside its methods, so the config loader can read a task without loading TensorFlow.

A new task family = one module with a `Task` subclass + `register_task(MyTask())` (see
tests/test_task_interface.py, where a toy family runs through the pipeline).

Example:

>>> from components.registry import get_task
>>> get_task("classification").families
('rnn_classifier', 'transformer_classifier')
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping, Sequence

from components.tasks.fields import LabelField, TextField


@dataclasses.dataclass
class Training:
    """What the trainer fits: the model to fit, the model to save (the same one unless a wrapper carries
    state), the datasets, task-specific callbacks and figures for the trainer's outputs (e.g. the pretrained
    vectors' coverage)."""

    model: Any
    saved_model: Any
    train: Any
    eval: Any
    callbacks: list = dataclasses.field(default_factory=list)
    outputs: dict = dataclasses.field(default_factory=dict)


class Task:
    """One task family (see module docstring). Subclasses set the attributes and override what differs."""

    name: str = ""
    raw_features: tuple[str, ...] = ()  # the raw tf.Example bytes features example_gen writes, in order
    text_fields: tuple[TextField, ...] = ()  # token fields the transform encodes (one vocabulary each)
    label_fields: tuple[LabelField, ...] = ()  # label fields (one vocabulary each)
    encoded_features: Mapping[str, str] = {}  # feature -> description, for the manifest
    families: tuple[str, ...] = ()  # model families (models.registry), the default first
    bless_metrics: tuple[str, ...] = ()  # metrics eval.bless_metric may name, the "auto" default first
    decoding: str = "greedy"  # eval.decode / push.decode strategy "auto" (generative tasks)
    label_smoothing: bool = False  # whether its loss reads train.label_smoothing
    distribution_feature: str = ""  # a raw label feature whose distribution statistics reports
    input_ids: str = ""  # the encoded feature that buckets batches by length
    formats: tuple[str, ...] = ("tsv", "csv", "jsonl")  # the file formats (data.format) that can feed it
    list_values: bool = False  # its raw features are lists of words (JSON lists are valid values)
    size_key: str = ""  # example_gen counts this per split besides records ("" none; see `record_size`)

    # ---- example_gen ----
    def source_fields(self, data) -> tuple[str, ...]:
        """The `data.*_field` settings that name the table columns of the raw features, in their order."""
        return (data.text_field,)

    def make_record(self, values: Sequence[Any]) -> tuple[dict[str, Any] | None, str | None]:
        """(record, None) or (None, dead-letter reason) from the raw field values of one row.

        Default: every value as text; an empty first one is `common.EMPTY_TEXT`.
        """
        from components.example_gen import common, tabular

        texts = [tabular.as_text(v) for v in values]
        if not texts[0].strip():
            return None, common.EMPTY_TEXT
        return dict(zip(self.raw_features, texts)), None

    def record_size(self, record: Mapping[str, Any]) -> int:
        """What example_gen counts as `size_key` for one record."""
        return 0

    # ---- config ----
    def check_config(self, cfg) -> None:
        """Raises `ConfigError` for settings this task cannot run with (after the generic checks)."""

    # ---- trainer ----
    def feature_spec(self, with_raw: bool) -> dict[str, Any]:
        """tf.io parsing spec of the transform's encoded examples (raw strings too with `with_raw`).

        Default, from the declared fields: an int64 list per text field and per list label, one int64 per
        single label; raw features are strings (lists of strings with `list_values`).
        """
        import tensorflow as tf

        spec = {field.ids: tf.io.VarLenFeature(tf.int64) for field in self.text_fields}
        for field in self.label_fields:
            spec[field.ids] = tf.io.VarLenFeature(tf.int64) if field.is_list else tf.io.FixedLenFeature([], tf.int64)
        if with_raw:
            raw = (tf.io.VarLenFeature(tf.string) if self.list_values
                   else tf.io.FixedLenFeature([], tf.string, default_value=""))
            spec.update(dict.fromkeys(self.raw_features, raw))
        return spec

    def prepare_examples(self, ds, training: bool):
        """Per-example filtering / cutting before batching (default: none)."""
        return ds

    def model_inputs(self, batch: Mapping[str, Any]):
        """A batch dict -> `(x, y)` as the model family takes it."""
        raise NotImplementedError(f"task {self.name!r} has no model inputs")

    def uses_char_ids(self, cfg) -> bool:
        """Whether batches carry character ids of each word (a tagger's character encoder)."""
        return False

    def dummy_inputs(self, cfg):
        """A tiny batch in the family's input structure, to build the variables before fit."""
        from keras import ops

        return ops.ones((1, 2), dtype="int32")

    # `train.monitor` values this task's training logs (early stopping and the kept weights watch it)
    monitors: tuple[str, ...] = ("val_loss", "val_accuracy")

    def compile_args(self, cfg) -> dict[str, Any]:
        """`loss` and `metrics` for `model.compile`."""
        raise NotImplementedError(f"task {self.name!r} has no compile arguments")

    def training(self, cfg, transform_dir: Path, manifest: Mapping[str, Any]) -> Training:
        """The model and datasets the trainer fits (default: bucketed `(x, y)` batches, a compiled model).

        Call under the distribution strategy's scope (the model's variables are created here).
        """
        from components.pretrained_vectors import load_into_model
        from components.trainer.model_builder import build_model_for, compile_model
        from components.trainer.task_input import char_ids_fn_for, make_task_dataset

        t = cfg.train
        kwargs = dict(bucket_boundaries=t.bucket_boundaries,
                      char_ids_fn=char_ids_fn_for(self.uses_char_ids(cfg), manifest))
        train = make_task_dataset(transform_dir, self, "train", t.batch_size, training=True, seed=t.seed,
                                  shuffle_buffer=t.shuffle_buffer, **kwargs)
        eval_ = make_task_dataset(transform_dir, self, "eval", t.batch_size, **kwargs)
        model = build_model_for(cfg, manifest)
        vectors = load_into_model(model, cfg, transform_dir, manifest)  # before compile, which sees what is frozen
        model = compile_model(model, cfg)
        return Training(model, model, train, eval_, outputs={"pretrained_embeddings": vectors} if vectors else {})

    def training_outputs(self, cfg, steps_per_second: float | None) -> dict[str, Any]:
        """Task-specific figures for the trainer's outputs (default: none)."""
        return {}

    # ---- evaluator ----
    def evaluate(self, cfg, model, transform_dir: Path, manifest: Mapping[str, Any], splits: Sequence[str],
                 out: Path) -> dict[str, dict[str, Any]]:
        """{split: metrics}; writes predictions (and plots) into `out`."""
        raise NotImplementedError(f"task {self.name!r} has no evaluation")

    def default_bless_metric(self, metrics: Mapping[str, Any]) -> str:
        """The metric `eval.bless_metric: auto` blesses on."""
        return self.bless_metrics[0]

    # ---- export ----
    def export(self, cfg, model, transform_dir: Path, export_dir: Path, model_name: str = "") -> Path:
        """Writes the SavedModel (raw strings in) into `export_dir`."""
        raise NotImplementedError(f"task {self.name!r} has no export")

    def decode_settings(self, settings):
        """A `decode` config section with strategy "auto" resolved for this task."""
        return dataclasses.replace(settings, strategy=self.decoding) if settings.strategy == "auto" else settings

    def decode_strategy(self, settings, seed: Any = 0):
        """The `models.decoding` strategy of a `decode` config section ("auto" resolved)."""
        from models.decoding import strategy_from_settings

        return strategy_from_settings(self.decode_settings(settings), seed=seed)

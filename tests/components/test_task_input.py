"""Classification/tagging tf.data input and the model builder, on a real (tiny) transform artifact."""

import json

import numpy as np
import pytest
import tensorflow as tf

from components import example_gen, transform
from serving import schema
from components.trainer import model_builder
from components.trainer.task_input import make_task_dataset
from pipeline.config import load_config
from components.step import StepContext
from serving.text_processor import MAX_WORD_CHARS, TokenizerSpec, word_char_ids


def _artifacts(tmp_path, overrides):
    config = load_config(None, overrides)
    dirs = {}
    for name, step in (("example_gen", example_gen), ("transform", transform)):
        out = tmp_path / name
        out.mkdir()
        step.run(StepContext(config=config, inputs=dict(dirs), output_dir=out, root=tmp_path))
        dirs[name] = str(out)
    return config, tmp_path / "transform"


@pytest.fixture(scope="module")
def classification(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cls")
    path = tmp / "reviews.tsv"
    rows = [f"{'good fine great' if i % 2 else 'bad awful poor'} {'x ' * (i % 7)}\t{'pos' if i % 2 else 'neg'}"
            for i in range(120)]
    path.write_text("text\tlabel\n" + "\n".join(rows) + "\n")
    return _artifacts(tmp, ["task=classification", f"data.source={path}", "transform.tokenizer=word"])


@pytest.fixture(scope="module")
def tagging(tmp_path_factory):
    return _artifacts(tmp_path_factory.mktemp("tag"), [
        "task=tagging", "data.source=builtin:date_tags?n=120", "transform.tokenizer=word",
        "model.char_filters=8", "model.output=crf", "model.bio_constraints=true"])


def test_classification_batches_are_bucketed_and_padded(classification):
    config, transform_dir = classification
    ds = make_task_dataset(transform_dir, "classification", "train", 16, (4, 6), training=True, seed=1)
    seen = 0
    for token_ids, label_id in ds:
        assert token_ids.dtype == tf.int32 and label_id.dtype == tf.int64
        lengths = np.sum(token_ids.numpy() != 0, axis=1)
        assert lengths.max() == token_ids.shape[1]  # padded to the longest in the batch, on the right
        assert all((row[n:] == 0).all() and (row[:n] != 0).all() for row, n in zip(token_ids.numpy(), lengths))
        assert set(label_id.numpy()) <= {0, 1}
        seen += len(label_id)
    manifest = json.loads((transform_dir / schema.MANIFEST).read_text())
    assert seen == manifest["splits"]["train"]["count"]


def test_unseen_labels_are_dropped_from_training_only(tmp_path):
    train, dev = tmp_path / "train.tsv", tmp_path / "dev.tsv"
    train.write_text("text\tlabel\n" + "".join(f"w{i} z\t{'a' if i % 2 else 'b'}\n" for i in range(40)))
    dev.write_text("text\tlabel\n" + "".join(f"q{i} z\t{'never_in_train' if i % 2 else 'a'}\n" for i in range(10)))
    _, transform_dir = _artifacts(tmp_path, ["task=classification", f"data.source={train}",
                                             f"data.eval_source={dev}", "transform.tokenizer=word"])
    manifest = json.loads((transform_dir / schema.MANIFEST).read_text())
    assert manifest["labels"] == ["a", "b"] and manifest["splits"]["eval"]["unseen_labels"] == 5
    eval_labels = np.concatenate([y.numpy() for _, y in make_task_dataset(transform_dir, "classification", "eval", 8)])
    assert sorted(eval_labels.tolist()) == [schema.UNSEEN_LABEL_ID] * 5 + [0] * 5
    train_labels = np.concatenate([y.numpy() for _, y in make_task_dataset(
        transform_dir, "classification", "train", 8, training=True, seed=0)])
    assert (train_labels >= 0).all() and len(train_labels) == manifest["splits"]["train"]["count"]


def test_tagging_with_char_ids_and_the_builder(tagging):
    config, transform_dir = tagging
    manifest = json.loads((transform_dir / schema.MANIFEST).read_text())
    spec = TokenizerSpec.from_dict(manifest["tokenizer"])
    ds = make_task_dataset(transform_dir, "tagging", "train", 8, (5,), training=True, seed=0,
                           char_ids_fn=lambda words: word_char_ids(words, spec))
    (word_ids, char_ids), tag_ids = next(iter(ds))
    assert char_ids.shape == (*word_ids.shape, MAX_WORD_CHARS)
    np.testing.assert_array_equal(word_ids.numpy() == 0, tag_ids.numpy() == 0)
    np.testing.assert_array_equal(word_ids.numpy() == 0, (char_ids.numpy() == 0).all(-1))
    kwargs = model_builder.model_kwargs(config, manifest)
    assert kwargs["vocab_size"] == manifest["vocab"]["tokens"]["size"]
    assert kwargs["tag_names"] == manifest["tags"] and kwargs["char_vocab_size"] > 0
    model = model_builder.build_compiled_model(config, manifest)
    assert model.crf is not None and model.crf.bio_constraints == manifest["tags"]
    scores = model((word_ids, char_ids))
    assert scores.shape == (*word_ids.shape, len(manifest["tags"])) and scores.dtype == "float32"


def test_transformer_classifier_owns_its_cls_row(classification):
    config, transform_dir = classification
    manifest = json.loads((transform_dir / schema.MANIFEST).read_text())
    config = load_config(None, ["task=classification", "data.source=builtin:date_validity",
                                "model.family=transformer_classifier", "model.num_heads=2", "model.embed_dim=8",
                                "model.ff_dim=8"])
    kwargs = model_builder.model_kwargs(config, manifest)
    vocab = manifest["vocab"]["text"]["size"]
    assert kwargs["vocab_size"] == vocab + 1 and kwargs["cls_id"] == vocab and kwargs["add_cls"]
    assert kwargs["max_length"] == manifest["max_source_length"] + 1
    model = model_builder.build_compiled_model(config, manifest)
    token_ids, _ = next(iter(make_task_dataset(transform_dir, "classification", "eval", 4)))
    assert model(token_ids).shape == (token_ids.shape[0], len(manifest["labels"]))

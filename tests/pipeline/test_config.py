"""Config loading: merging, overrides, conversion, errors that name the fix."""

import subprocess
import sys

import pytest

from pipeline.config import Config, builtin_configs, load_config


def test_quickstart_loads_with_defaults():
    cfg = load_config(None)
    assert isinstance(cfg, Config)
    assert cfg.task == "translation"
    assert cfg.data.source == "builtin:dates"
    assert "quickstart" in builtin_configs()


def test_overrides_convert_types():
    cfg = load_config(["quickstart"], [
        "train.epochs=3", "train.learning_rate=1e-2", "model.bidirectional=false",
        "train.bucket_boundaries=8,16", "data.source=builtin:dates?n=10"])
    assert cfg.train.epochs == 3 and isinstance(cfg.train.epochs, int)
    assert cfg.train.learning_rate == pytest.approx(0.01)
    assert cfg.model.bidirectional is False
    assert cfg.train.bucket_boundaries == (8, 16)
    assert cfg.data.source == "builtin:dates?n=10"


def test_yaml_files_merge_rightmost_wins(tmp_path):
    first = tmp_path / "a.yaml"
    second = tmp_path / "b.yaml"
    first.write_text("model:\n  units: 16\n  embed_dim: 8\ntrain:\n  epochs: 2\n")
    second.write_text("model:\n  units: 24\n")
    cfg = load_config([str(first), str(second)])
    assert cfg.model.units == 24
    assert cfg.model.embed_dim == 8
    assert cfg.train.epochs == 2


def test_set_wins_over_files(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text("train:\n  epochs: 2\n")
    assert load_config([str(path)], ["train.epochs=5"]).train.epochs == 5


@pytest.mark.parametrize("override, expected", [
    ("model.unitz=8", "model.units"),
    ("trian.epochs=2", "train.epochs"),
    ("train.learning_rat=0.1", "train.learning_rate"),
])
def test_unknown_key_names_nearest(override, expected):
    with pytest.raises(ValueError, match=f"Did you mean '{expected}'"):
        load_config(["quickstart"], [override])


def test_unknown_key_in_yaml_names_nearest(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model:\n  unitz: 8\n")
    with pytest.raises(ValueError, match="'model.unitz'.*'model.units'"):
        load_config([str(path)])


@pytest.mark.parametrize("override, message", [
    ("train.epochs=ten", "expects int"),
    ("model.cell=rnnn", "must be one of"),
    ("train.epochs=0", "must be positive"),
    ("model.dropout=1.5", "model.dropout"),
    ("data.eval_fraction=0.95", "eval_fraction"),
    ("train.bucket_boundaries=20,10", "increasing"),
    ("train.epochs", "KEY=VALUE"),
])
def test_bad_values_are_explained(override, message):
    with pytest.raises(ValueError, match=message):
        load_config(["quickstart"], [override])


def test_unknown_config_name_is_suggested():
    with pytest.raises(ValueError, match="quickstart"):
        load_config(["quickstrt"])


def test_config_is_frozen():
    cfg = load_config(None)
    with pytest.raises(Exception):
        cfg.train.epochs = 3  # type: ignore[misc]


def test_cli_typo_fails_with_one_line_naming_units():
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "config", "quickstart", "--set", "model.unitz=8"],
        capture_output=True, text=True, check=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "units" in lines[0] and "unitz" in lines[0]


def test_cli_config_prints_effective_config():
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "config", "--set", "train.epochs=7"],
        capture_output=True, text=True, check=True)
    assert "epochs: 7" in result.stdout


@pytest.mark.parametrize("overrides, message", [
    (["task=classification", "model.family=rnn_tagger"], "is a tagging model, but task='classification'"),
    (["model.family=rnn_atention"], "Did you mean 'rnn_attention'"),
    (["task=classification", "model.family=transformer_classifier", "model.pooling=max"], "does not apply"),
    (["task=classification", "model.pooling=cls"], "does not apply"),
    (["task=tagging", "eval.bless_metric=exact_match"], "must be one of .*'entity_f1'"),
    (["train.monitor=val_acc"], "'train.monitor' must be one of \\['val_loss', 'val_accuracy'\\]"),
    (["task=language_model", "transform.tokenizer=word", "transform.whitespace=keep"], "tokenizer='char' only"),
    (["task=language_model", "model.family=transformer_language_model", "train.lm_input=stateful"],
     "carries recurrent states"),
    (["task=language_model", "train.lm_input=statefull"], "'train.lm_input' must be one of"),
    (["task=language_model", "train.lr_decay=1.5"], "lr_decay"),
    (["task=language_model", "model.family=transformer_language_model", "train.sequence_length=300"],
     "must fit the Transformer's context"),
    (["task=language_model", "eval.bless_metric=accuracy"], "'nats_per_token'"),
    (["task=language_model", "train.monitor=val_accuracy"], "train.monitor='val_loss'"),
])
def test_model_and_metric_choices_fit_the_task(overrides, message):
    with pytest.raises(ValueError, match=message):
        load_config(None, overrides)


def test_auto_family_follows_the_task():
    assert load_config(None).model.family == "rnn_attention"
    assert load_config(None, ["task=classification"]).model.family == "rnn_classifier"
    assert load_config(None, ["task=tagging"]).model.family == "rnn_tagger"
    assert load_config(None, ["task=language_model"]).model.family == "rnn_language_model"


def test_builtin_configs_load_and_fit_their_task():
    for name in builtin_configs():
        cfg = load_config([name])
        assert cfg.name == name

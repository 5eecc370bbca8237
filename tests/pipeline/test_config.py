"""Config loading: merging, overrides, conversion, errors that name the fix."""

import subprocess
import sys

import pytest
import yaml

from pipeline.config import CONFIG_DIR, Config, ConfigError, builtin_configs, load_config


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
    ("train.epochs=0", "must be > 0"),
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
    (["task=tagging", "transform.tokenizer=word", "eval.bless_metric=exact_match"], "must be one of .*'entity_f1'"),
    (["train.monitor=val_acc"], "'train.monitor' must be one of \\['val_loss', 'val_accuracy', 'val_entity_f1'\\]"),
    (["task=classification", "train.monitor=val_entity_f1"],
     "train.monitor='val_entity_f1' is not logged by task 'classification'; allowed: \\['val_loss', 'val_accuracy'\\]"),
    (["task=language_model", "transform.tokenizer=word", "transform.whitespace=keep"], "tokenizer='char' only"),
    (["task=language_model", "model.family=transformer_language_model", "train.lm_input=stateful"],
     "carries recurrent states"),
    (["task=language_model", "train.lm_input=statefull"], "'train.lm_input' must be one of"),
    (["task=language_model", "train.lm_input=stateful", "train.strategy=mirrored"],
     "Received: train.strategy='mirrored', train.lm_input='stateful'. Use train.lm_input='windows'"),
    (["task=language_model", "train.lm_input=stateful", "train.strategy=multi_worker"],
     "splits every batch over replicas"),
    (["task=language_model", "train.lr_decay=1.5"], "lr_decay"),
    (["task=language_model", "model.family=transformer_language_model", "train.sequence_length=300"],
     "must fit the Transformer's context"),
    (["task=language_model", "eval.bless_metric=accuracy"], "'nats_per_token'"),
    (["task=language_model", "train.monitor=val_accuracy"], "allowed: \\['val_loss'\\]"),
])
def test_model_and_metric_choices_fit_the_task(overrides, message):
    with pytest.raises(ValueError, match=message):
        load_config(None, overrides)


def test_auto_family_follows_the_task():
    assert load_config(None).model.family == "rnn_attention"
    source = "data.source=data.tsv"
    assert load_config(None, ["task=classification", source]).model.family == "rnn_classifier"
    assert load_config(None, ["task=tagging", "transform.tokenizer=word", source]).model.family == "rnn_tagger"
    assert load_config(None, ["task=language_model", source]).model.family == "rnn_language_model"


PARALLEL_FILES = ["data.source=d/train.de.gz", "data.target_source=d/train.en.gz",
                  "data.eval_source=d/val.de.gz", "data.eval_target_source=d/val.en.gz"]


def _reads_named_files(name):
    """Whether built-in config `name` reads a corpus from files the user names (Multi30k: no default source)."""
    return yaml.safe_load((CONFIG_DIR / f"{name}.yaml").read_text()).get("data", {}).get("source") == ""


def load_builtin(name):
    return load_config([name], PARALLEL_FILES if _reads_named_files(name) else [])


def test_builtin_configs_load_and_fit_their_task():
    for name in builtin_configs():
        if _reads_named_files(name):
            with pytest.raises(ConfigError, match=f"Config '{name}' reads a parallel corpus from files: set its "
                                                  "four paths, e.g. --set data.source="):
                load_config([name])
        assert load_builtin(name).name == name


def test_a_parallel_eval_set_names_both_files():
    with pytest.raises(ConfigError, match="name its target file in data.eval_target_source"):
        load_config(["multi30k_gru_attention"], PARALLEL_FILES[:3])
    with pytest.raises(ConfigError, match="data.eval_target_source is the target side of data.eval_source"):
        load_config(["quickstart"], ["data.eval_target_source=d/val.en.gz"])


def test_luong_dot_needs_a_unidirectional_encoder():
    with pytest.raises(ConfigError, match="set model.bidirectional=false, or use model.attention='luong_general'"):
        load_config(["quickstart"], ["model.attention=luong_dot"])
    assert load_config(["quickstart"], ["model.attention=luong_dot", "model.bidirectional=false"]).model.attention \
        == "luong_dot"
    with pytest.raises(ConfigError, match="'model.attention' must be one of"):
        load_config(["quickstart"], ["model.attention=concat"])


@pytest.mark.parametrize("override, message", [
    ("train.learning_rate=-1", r"'train.learning_rate' must be > 0. Received: train.learning_rate=-1.0"),
    ("transform.num_shards=-1", r"'transform.num_shards' must be >= 0"),
    ("model.num_heads=0", r"'model.num_heads' must be > 0"),
    ("train.patience=-1", r"'train.patience' must be >= 0"),
    ("train.max_minutes=-1", r"'train.max_minutes' must be >= 0"),
    ("eval.max_decode_length=-1", r"'eval.max_decode_length' must be > 0"),
    ("transform.batch_size=0", r"'transform.batch_size' must be > 0"),
    ("model.encoder_layers=0", r"'model.encoder_layers' must be >= 1"),
    ("train.bucket_boundaries=abc",
     r"'train.bucket_boundaries' expects a list of int .*Received: train.bucket_boundaries='abc'"),
    ("push.model_name=../../etc", r"'push.model_name' must be a plain folder name"),
    ("data.source=builtin:numbers", r"Unknown builtin source 'numbers'. Available: \['date_tags'"),
    ("data.source=builtin:dates?size=3", r"Unknown builtin source parameters \['size'\]"),
    ("data.source=builtin:date_tags", r"feeds task='tagging'. Received: task='translation'"),
    ("train.precision=fp8", r"'train.precision' must be one of \['auto', 'float32'"),
    ("train.strategy=tpu", r"'train.strategy' must be one of \['auto', 'default', 'mirrored'"),
    ("data.eval_source=builtin:nope", r"data.eval_source='builtin:nope'"),
    ("data.source=tfds:", r"Expected tfds:<name>"),
    ("model.dropout=nan", r"'model.dropout' must be a finite number"),
    ("train.learning_rate=inf", r"'train.learning_rate' must be a finite number"),
    ("eval.sample_temperatures=0.5,-0.1", r"'eval.sample_temperatures' must be each >= 0"),
    ("push.model_name=dates\n", r"'push.model_name' must be a plain folder name"),
    ("transform.wordpiece_vocab_size=3", r"'transform.wordpiece_vocab_size' must be >= 4"),
    ("transform.max_vocab_size=3", r"'transform.max_vocab_size' must be >= 4"),
    ("train.clipnorm=0", r"'train.clipnorm' must be > 0"),
    ("data.max_bad_fraction=1.5", r"'data.max_bad_fraction' must be in \[0, 1\]"),
])
def test_out_of_range_values_fail_at_config_time(override, message):
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(["quickstart"], [override])
    assert "\n" not in str(caught.value)


def test_transformer_heads_must_divide_the_width():
    with pytest.raises(ConfigError, match=r"model.num_heads must divide model.embed_dim.*allowed heads: \[1, 2, 4"):
        load_config(["imdb_transformer"], ["model.num_heads=3"])


@pytest.mark.parametrize("text, message", [
    ("train:\n  epochs: [1\n", r"bad.yaml:3:1: malformed YAML: expected ',' or ']'"),
    ("train:\n\tepochs: 1\n", r"bad.yaml:2:1: malformed YAML: found character '\\t'"),
    ("- a\n- b\n", r"bad.yaml: a config file must hold a mapping .* Received: a list"),
    ("train:\n  epochs: {a: 1}\n", r"'train.epochs' expects int"),
    ("train: 3\n", r"Config section 'train' must be a mapping"),
    ("push:\n  model_name: [a]\n", r"'push.model_name' expects str"),
])
def test_malformed_yaml_is_one_line_with_its_position(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as caught:
        load_config([str(path)])
    assert "\n" not in str(caught.value)


def test_a_directory_as_config_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match="must be a YAML file, not a directory"):
        load_config([str(tmp_path)])


def test_config_checks_import_no_tensorflow():
    code = ("import sys; from pipeline.config import load_config; load_config(['imdb_rnn']); "
            "print(sorted(m for m in ('tensorflow', 'keras', 'apache_beam') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_tfds_not_prepared_is_one_line_naming_the_data_dir(tmp_path):
    from components import source_uri
    from pipeline.input_digest import digest_uri

    with pytest.raises(ValueError) as caught:
        digest_uri("tfds:imdb_reviews", tfds_data_dir=str(tmp_path))
    message = str(caught.value)
    assert message == source_uri.tfds_not_prepared("tfds:imdb_reviews", str(tmp_path))
    assert f"data.tfds_data_dir={str(tmp_path)!r}" in message and "--set data.source=PATH" in message
    assert "download" not in message.replace("never downloads", "")


def test_a_key_the_family_does_not_read_names_the_family_and_its_keys():
    with pytest.raises(ConfigError) as caught:
        load_config(["imdb_transformer"], ["model.units=256"])
    assert str(caught.value) == (
        "model.units=256: the transformer_classifier family does not read it; it reads model.embed_dim, "
        "model.encoder_layers, model.dropout, model.pooling, model.num_heads, model.ff_dim, model.positions, "
        "model.pretrained_embeddings, model.pretrained_format, model.freeze_embeddings")


@pytest.mark.parametrize("name, overrides, message", [
    ("quickstart", ["model.word_dropout=0.1"], r"^model.word_dropout=0.1: the rnn_attention family \(model.family="
     r"auto, task='translation'\) does not read it; .* \(did you mean model.dropout\?\)$"),
    ("date_tags", ["model.pooling=max"], r"^model.pooling='max': the rnn_tagger family does not read it"),
    ("dialogue_lm", ["model.num_heads=2", "model.char_embed_dim=8"],
     r"^model.char_embed_dim=8, model.num_heads=2: the rnn_language_model family does not read them; it reads "
     r"model.cell, model.embed_dim, model.units, model.encoder_layers, model.dropout "
     r"\(did you mean model.embed_dim for model.char_embed_dim\?\)$"),
    # A key set in a file counts as much as one set by --set: date_validity's BiGRU keys, for a Transformer.
    ("date_validity", ["model.family=transformer_classifier"],
     r"^model.cell='gru', model.units=64, model.bidirectional=True: the transformer_classifier family"),
])
def test_keys_foreign_to_the_family_are_errors(name, overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config([name], overrides)


def test_a_foreign_key_in_a_yaml_file_is_an_error(tmp_path):
    path = tmp_path / "lm.yaml"
    path.write_text("task: language_model\ndata:\n  source: t.txt\nmodel:\n  bidirectional: false\n")
    with pytest.raises(ConfigError, match=r"^model.bidirectional=False: the rnn_language_model family "
                                          r"\(model.family=auto, task='language_model'\) does not read it"):
        load_config([str(path)])


def test_keys_the_family_reads_and_defaults_pass():
    cfg = load_config(["imdb_transformer"], ["model.ff_dim=64", "model.family=transformer_classifier"])
    assert cfg.model.ff_dim == 64 and cfg.model.units == 128  # units: a default the family ignores, no error
    assert load_config(["date_tags"], ["model.word_dropout=0.2", "model.char_embed_dim=8"]).model.word_dropout == 0.2


def test_auto_family_resolves_before_the_key_check():
    source = "data.source=t.txt"
    lm = load_config(None, ["task=language_model", source, "model.units=64", "model.cell=lstm"])
    assert lm.model.family == "rnn_language_model" and lm.model.units == 64
    with pytest.raises(ConfigError, match="rnn_language_model family .* does not read it"):
        load_config(None, ["task=language_model", source, "model.attention_units=32"])
    load_config(None, ["model.attention_units=32"])  # rnn_attention, translation's default, reads it


def test_printed_config_shows_the_family_keys_and_loads_again(tmp_path):
    import yaml

    from pipeline.config import FAMILY_KEYS, effective_dict

    for name in builtin_configs():
        cfg = load_builtin(name)
        shown = effective_dict(cfg)
        assert set(shown["model"]) == {"family", *FAMILY_KEYS[cfg.model.family]}, name
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(shown, sort_keys=False))
        assert load_config([str(path)]) == cfg, name


def test_readme_table_of_family_keys_is_the_config_table():
    import re
    from pathlib import Path

    from pipeline.config import FAMILY_KEYS

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    rows = dict(re.findall(r"^\| `(\w+)` \| ([a-z_, ]+) \|$", readme, re.M))
    assert {family: tuple(keys.split(", ")) for family, keys in rows.items()} == \
        FAMILY_KEYS


def test_char_encoder_and_digits_to_zero_are_checked_and_reach_their_steps():
    from pipeline.dag import fingerprints

    with pytest.raises(ConfigError, match=r"'model.char_encoder' must be one of \['cnn', 'bilstm'\]. "
                                          r"Received: model.char_encoder='lstm'"):
        load_config(["date_tags"], ["model.char_encoder=lstm"])
    with pytest.raises(ConfigError, match=r"must be even with model.char_encoder='bilstm'. "
                                          r"Received: model.char_filters=15; use 14 or 16"):
        load_config(["date_tags"], ["model.char_encoder=bilstm", "model.char_filters=15"])
    with pytest.raises(ConfigError, match=r"the rnn_classifier family does not read it"):
        load_config(["imdb_rnn"], ["model.char_encoder=bilstm"])
    assert load_config(["date_tags"]).model.char_encoder == "cnn"
    lample = load_config(["date_tags"], ["model.char_encoder=bilstm", "transform.digits_to_zero=true"])
    assert lample.model.char_encoder == "bilstm" and lample.transform.digits_to_zero
    default, zeros = fingerprints(load_config(["date_tags"])), fingerprints(lample)  # transform reruns
    assert default["example_gen"] == zeros["example_gen"] and default["transform"] != zeros["transform"]


def test_entity_f1_monitor_on_tags_without_entities_fails_before_training():
    """`train.monitor=val_entity_f1` on POS-like tags: a ConfigError naming the key, value and what is allowed,
    as soon as the transform's tags are known (before any model is built)."""
    from components.registry import get_task

    cfg = load_config(["ud_pos"], ["train.monitor=val_entity_f1"])  # valid for the tagging task at config time
    with pytest.raises(ValueError, match=r"train.monitor='val_entity_f1' needs BIO-style tags.*'val_accuracy'"):
        get_task("tagging").training(cfg, None, {"tags": ["[PAD]", "[UNK]", "NOUN", "VERB", "ADJ"]})

"""Validated, frozen pipeline configuration.

A config is a tree of frozen dataclasses, one per section. It is loaded from
one or more YAML files merged rightmost-wins, then `--set key=value`
overrides are applied with type conversion. Unknown keys are errors that name
the nearest valid key; so is a `model.*` key set for a family that does not read
it (`FAMILY_KEYS`), which also names the keys that family reads.

Example:

>>> cfg = load_config(["quickstart"], ["train.epochs=3"])
>>> cfg.train.epochs
3
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import math
import operator
import re
import typing
from pathlib import Path
from typing import Any, Callable, Collection, Mapping, Sequence

import yaml

from components import pretrained_vectors, source_uri
from components.config import (CONLLU_TAGS, Config, ConfigError, DataConfig, DecodeConfig, EvalConfig, ModelConfig,
                               PushConfig, TrainConfig, TransformConfig)
from components.registry import get_task, model_family, registered_tasks  # tasks import TensorFlow lazily
from serving import schema  # plain Python, no TensorFlow (serving/__init__.py imports nothing)

logger = logging.getLogger(__name__)

# The public config API: the sections (defined in components/config.py, where the steps read them) and the loader.
__all__ = ["CONFIG_DIR", "Config", "ConfigError", "DataConfig", "DecodeConfig", "EvalConfig", "FAMILY_KEYS",
           "ModelConfig", "PushConfig", "TrainConfig", "TransformConfig", "builtin_configs", "effective_dict",
           "load_config", "validate"]


# Built-in configs: `configs/` beside the packages (source tree, editable
# install), or `pipeline/configs/` (a wheel or sdist install: package data, see setup.py).
_CONFIG_DIRS = (
    Path(__file__).resolve().parent.parent / "configs",
    Path(__file__).resolve().parent / "configs",
)
# (A folder is taken only if it holds quickstart.yaml: an installed seqlab's `site-packages/configs` may be
# some other distribution's.)
CONFIG_DIR = next((d for d in _CONFIG_DIRS if (d / "quickstart.yaml").is_file()), _CONFIG_DIRS[0])


# model.family -> the `model.*` keys its builder reads, the one table of families (models.registry holds the classes;
# components/trainer/model_builder.py reads exactly these keys, tests/components/test_model_builder_keys.py checks it).
FAMILY_KEYS: dict[str, tuple[str, ...]] = {
    "rnn_attention": (
        "cell", "embed_dim", "units", "encoder_layers", "bidirectional", "attention_units", "dropout", "attention"),
    "rnn_classifier": (
        "cell", "embed_dim", "units", "encoder_layers", "bidirectional", "attention_units", "dropout", "pooling"),
    "transformer_classifier": (
        "embed_dim", "encoder_layers", "dropout", "pooling", "num_heads", "ff_dim", "positions"),
    "rnn_tagger": (
        "cell", "embed_dim", "units", "encoder_layers", "bidirectional", "dropout",
        "output", "bio_constraints", "char_filters", "char_embed_dim", "word_dropout", "char_encoder"),
    "transformer_tagger": (
        "embed_dim", "encoder_layers", "dropout", "output", "bio_constraints", "char_filters", "char_embed_dim",
        "word_dropout", "num_heads", "ff_dim", "positions", "char_encoder"),
    "rnn_language_model": ("cell", "embed_dim", "units", "encoder_layers", "dropout"),
    "transformer_language_model": (
        "embed_dim", "encoder_layers", "dropout", "num_heads", "ff_dim", "positions", "max_length"),
    "transformer_seq2seq": (
        "embed_dim", "encoder_layers", "decoder_layers", "dropout", "num_heads", "ff_dim", "positions", "max_length",
        "share_embeddings", "tie_output"),
}
# Families with a word embedding also read the pretrained-vectors keys (components/pretrained_vectors.py).
FAMILY_KEYS.update({family: (*FAMILY_KEYS[family], *pretrained_vectors.MODEL_KEYS)
                    for family in pretrained_vectors.WORD_EMBEDDINGS})
FORMATS = ("auto", "text", "tsv", "csv", "jsonl", "conll", "conllu", "parallel")
CHOICES: dict[str, tuple[str, ...]] = {
    "data.format": FORMATS,
    "data.conllu_tag": CONLLU_TAGS,
    "data.text_unit": ("file", "line", "paragraph"),
    "transform.tokenizer": ("char", "word", "wordpiece"),
    "transform.word_split": ("whitespace", "unicode_script", "punctuation"),
    "transform.normalization": ("NFC", "NFKC", "NFD", "NFKD", "none"),
    "transform.whitespace": ("collapse", "keep"),
    "train.lm_input": ("windows", "stateful"),
    "model.cell": ("gru", "lstm", "simple"),
    "model.pooling": ("auto", "last", "bidirectional_last", "mean", "max", "attention", "cls"),
    "model.output": ("softmax", "crf"),
    "model.char_encoder": ("cnn", "bilstm"),
    "model.attention": ("bahdanau", "luong_general", "luong_dot"),
    "model.positions": ("sinusoidal", "learned"),
    "model.pretrained_format": pretrained_vectors.FORMATS,
    "train.precision": ("auto", "float32", "mixed_float16", "mixed_bfloat16"),
    "train.strategy": ("auto", "default", "mirrored", "multi_worker"),
    "train.monitor": ("val_loss", "val_accuracy", "val_entity_f1"),
    "eval.decode.strategy": ("auto", "greedy", "sampling", "beam"),
    "push.decode.strategy": ("auto", "greedy", "sampling", "beam"),
}


def _valid_keys(cls: type = Config, prefix: str = "") -> list[str]:
    keys = []
    for field_name, field_type in typing.get_type_hints(cls).items():
        name = prefix + field_name
        if dataclasses.is_dataclass(field_type):
            keys.extend(_valid_keys(field_type, name + "."))
        else:
            keys.append(name)
    return keys


def _did_you_mean(word: str, options: Sequence[str], cutoff: float = 0.6) -> str:
    """" Did you mean 'x'?" for the option nearest `word`, or "" when none is near."""
    match = difflib.get_close_matches(word, options, n=1, cutoff=cutoff)
    return f" Did you mean '{match[0]}'?" if match else ""


def _unknown_key_error(key: str, valid: Sequence[str]) -> ValueError:
    hint = _did_you_mean(key, valid, cutoff=0.5)
    if not hint:  # the nearest leaf name, shown as its full key
        by_leaf = {k.rsplit(".", 1)[-1]: k for k in valid}
        leaf_match = difflib.get_close_matches(key.rsplit(".", 1)[-1], list(by_leaf), n=1, cutoff=0.5)
        hint = f" Did you mean '{by_leaf[leaf_match[0]]}'?" if leaf_match else ""
    return ConfigError(f"Unknown config key {key!r}.{hint}")


# Element types of the tuple-valued keys.
TUPLE_ITEMS: dict[str, type] = {"train.bucket_boundaries": int, "eval.sample_temperatures": float}


def _scalar(raw: Any, kind: type) -> Any:
    """`raw` as int, float or str; ValueError when it is not one (bools, None, lists and mappings never are)."""
    if isinstance(raw, (bool, list, tuple, dict)) or raw is None:
        raise ValueError(raw)
    if kind is int:
        if isinstance(raw, float):
            if not raw.is_integer():
                raise ValueError(raw)
            return int(raw)
        return int(str(raw).strip()) if isinstance(raw, str) else int(raw)
    if kind is float:
        return float(raw)
    return str(raw)


def convert_value(key: str, raw: Any, target: Any) -> Any:
    """Converts `raw` (a YAML value or a `--set` string) to the field type."""
    origin = typing.get_origin(target) or target
    try:
        if origin is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower() if isinstance(raw, (str, int)) else ""
            if text in ("true", "yes", "1", "on"):
                return True
            if text in ("false", "no", "0", "off"):
                return False
            raise ValueError(raw)
        if origin in (int, float, str):
            return _scalar(raw, origin)
        if origin is tuple:
            items = raw
            if isinstance(raw, str):
                items = yaml.safe_load(raw) if raw.strip().startswith("[") else raw.split(",")
            if not isinstance(items, (list, tuple)):
                raise ValueError(raw)
            item = TUPLE_ITEMS.get(key, str)
            return tuple(_scalar(x.strip() if isinstance(x, str) else x, item) for x in items)
    except (TypeError, ValueError, OverflowError, yaml.YAMLError):
        kind = getattr(origin, "__name__", origin)
        if origin is tuple:
            kind = f"a list of {TUPLE_ITEMS.get(key, str).__name__} (e.g. 4,8,16 or [4, 8, 16])"
        raise ConfigError(f"Config key '{key}' expects {kind}. Received: {key}={raw!r}") from None
    return raw


def _apply(cls: type, values: Mapping[str, Any], prefix: str = "") -> Any:
    """Builds a `cls` instance from a nested mapping, validating every key."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, raw in values.items():
        full = prefix + str(key)
        if key not in names:
            raise _unknown_key_error(full, _valid_keys())
        target = hints[key]
        if dataclasses.is_dataclass(target):
            if not isinstance(raw, Mapping):
                raise ConfigError(
                    f"Config section '{full}' must be a mapping. Received: {full}={raw!r}"
                )
            kwargs[key] = _apply(target, raw, full + ".")
        else:
            kwargs[key] = convert_value(full, raw, target)
    return cls(**kwargs)


def _deep_merge(base: dict, update: Mapping) -> dict:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def builtin_configs() -> list[str]:
    """Names of the built-in configs in `configs/`."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def resolve_config_path(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.exists():
            raise ConfigError(f"Config file not found. Received: config={name_or_path!r}")
        return path
    candidate = CONFIG_DIR / f"{name_or_path}.yaml"
    if candidate.exists():
        return candidate
    names = builtin_configs()
    raise ConfigError(
        f"Unknown config '{name_or_path}'.{_did_you_mean(name_or_path, names)} Built-in configs: {names}; "
        "or give a YAML path."
    )


def read_config_file(path: Path) -> dict:
    """The mapping a YAML config file holds; malformed YAML is one line with file:line:column."""
    if path.is_dir():
        raise ConfigError(f"A config must be a YAML file, not a directory. Received: config={str(path)!r}")
    try:
        text = path.read_text(encoding="utf-8")
        loaded = yaml.safe_load(text)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise ConfigError(f"{where}: malformed YAML: {problem}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, Mapping):
        raise ConfigError(f"{path}: a config file must hold a mapping of sections (data:, model:, ...). "
                          f"Received: a {type(loaded).__name__}")
    return dict(loaded)


def parse_override(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise ConfigError(f"--set expects KEY=VALUE. Received: {text!r}")
    key, value = text.split("=", 1)
    return key.strip(), value


def _override_tree(key: str, value: str) -> dict:
    valid = _valid_keys()
    if key not in valid:
        raise _unknown_key_error(key, valid)
    tree: dict = {}
    node = tree
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return tree


# Allowed ranges, key -> (check, what is allowed). Every float must also be finite.
_POSITIVE = (lambda v: v > 0, "> 0")
_NON_NEGATIVE = (lambda v: v >= 0, ">= 0")
_FRACTION = (lambda v: 0 <= v < 1, "in [0, 1)")
_AT_LEAST_RESERVED = (lambda v: v >= len(schema.RESERVED_TOKENS),
                      f">= {len(schema.RESERVED_TOKENS)} (the reserved tokens come first)")
RANGES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "data.num_examples": _POSITIVE,
    "data.max_bad_fraction": (lambda v: 0 <= v <= 1, "in [0, 1]"),
    "transform.wordpiece_vocab_size": _AT_LEAST_RESERVED,
    "transform.max_vocab_size": _AT_LEAST_RESERVED,
    "transform.min_count": (lambda v: v >= 1, ">= 1"),
    "transform.max_source_length": _POSITIVE,
    "transform.max_target_length": _POSITIVE,
    "transform.num_shards": (lambda v: v >= 0, ">= 0 (0: as many files as the runner writes bundles)"),
    "transform.batch_size": _POSITIVE,
    "transform.vocab_vectors_words": _NON_NEGATIVE,
    "model.embed_dim": _POSITIVE,
    "model.units": _POSITIVE,
    "model.encoder_layers": (lambda v: v >= 1, ">= 1"),
    "model.attention_units": _POSITIVE,
    "model.dropout": _FRACTION,
    "model.char_filters": _NON_NEGATIVE,
    "model.char_embed_dim": _POSITIVE,
    "model.word_dropout": _FRACTION,
    "model.num_heads": _POSITIVE,
    "model.ff_dim": _POSITIVE,
    "model.max_length": _POSITIVE,
    "model.decoder_layers": (lambda v: v >= 1, ">= 1"),
    "train.warmup_steps": _NON_NEGATIVE,
    "train.label_smoothing": _FRACTION,
    "train.epochs": _POSITIVE,
    "train.batch_size": _POSITIVE,
    "train.learning_rate": _POSITIVE,
    "train.clipnorm": (lambda v: v > 0, "> 0 (gradients are clipped to this norm)"),
    "train.patience": _NON_NEGATIVE,
    "train.shuffle_buffer": _POSITIVE,
    "train.bucket_boundaries": (lambda v: all(b > 0 for b in v) and list(v) == sorted(set(v)),
                                "positive and strictly increasing"),
    "train.max_minutes": (lambda v: v >= 0, ">= 0 (0: no time budget)"),
    "train.lr_decay": (lambda v: 0 < v <= 1, "in (0, 1]"),
    "train.sequence_length": _POSITIVE,
    "train.stride": (lambda v: v >= 0, ">= 0 (0: train.sequence_length)"),
    "eval.max_decode_length": _POSITIVE,
    "eval.num_attention_plots": _NON_NEGATIVE,
    "eval.batch_size": _POSITIVE,
    "eval.sample_temperatures": (lambda v: all(t >= 0 for t in v), "each >= 0 (0: greedy)"),
    "eval.sample_tokens": _POSITIVE,
    "push.max_new_tokens": _POSITIVE,
    **{f"{section}.decode.{key}": check for section in ("eval", "push") for key, check in {
        "beam_width": _POSITIVE,
        "length_penalty": _NON_NEGATIVE,
        "temperature": (lambda v: v >= 0, ">= 0 (0: greedy)"),
        "top_k": (lambda v: v >= 0, ">= 0 (0: every token)"),
        "top_p": (lambda v: 0 < v <= 1, "in (0, 1] (1: every token)"),
    }.items()},
}
# A TF Serving model name is a folder under serving/ and a URL path segment (/v1/models/NAME).
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # fullmatch: no trailing newline either


def flat_config(cfg: Config) -> dict[str, Any]:
    """{"section.key": value} for every leaf of `cfg`, "name" and "task" included."""
    return {key: operator.attrgetter(key)(cfg) for key in _valid_keys()}


def _check_ranges(flat: Mapping[str, Any]) -> None:
    for key, value in flat.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        if any(isinstance(v, float) and not math.isfinite(v) for v in values):
            raise ConfigError(f"Config key '{key}' must be a finite number. Received: {key}={value!r}")
    for key, (check, allowed) in RANGES.items():
        if not check(flat[key]):
            shown = list(flat[key]) if isinstance(flat[key], tuple) else flat[key]
            raise ConfigError(f"Config key '{key}' must be {allowed}. Received: {key}={shown!r}")


def _check_sources(cfg: Config) -> None:
    """What the source URIs say by themselves: builtin names, parameters and task; tfds: names."""
    if cfg.data.eval_target_source and not cfg.data.eval_source:
        raise ConfigError("data.eval_target_source is the target side of data.eval_source, which is not set. "
                          f"Received: data.eval_target_source={cfg.data.eval_target_source!r}, data.eval_source=''")
    if cfg.data.target_source and cfg.data.eval_source and not cfg.data.eval_target_source \
            and not cfg.data.eval_source.endswith((".tsv", ".tsv.gz")):
        raise ConfigError(
            "data.eval_source is one side of a parallel eval set (data.target_source is set): name its target "
            f"file in data.eval_target_source. Received: data.eval_source={cfg.data.eval_source!r}, "
            "data.eval_target_source=''")
    for key in ("data.source", "data.eval_source", "data.target_source", "data.eval_target_source"):
        uri = getattr(cfg.data, key.split(".")[1])
        if key == "data.source" and not uri.strip() and cfg.data.format == "parallel":
            raise ConfigError(
                f"Config {cfg.name!r} reads a parallel corpus from files: set its four paths, e.g. --set "
                "data.source=DIR/train.de.gz --set data.target_source=DIR/train.en.gz --set "
                "data.eval_source=DIR/val.de.gz --set data.eval_target_source=DIR/val.en.gz. Received: data.source=''")
        if key == "data.source" and not uri.strip():
            raise ConfigError("Config key 'data.source' must name a source (builtin:NAME, a path or glob, "
                              "tfds:NAME). Received: data.source=''")
        try:
            if uri.startswith("builtin:"):
                source_uri.parse_builtin(uri, cfg.data.num_examples, cfg.data.seed, key, task=cfg.task)
            elif uri.startswith("tfds:"):
                source_uri.parse_tfds(uri, key)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None


def _check_family_keys(cfg: Config, set_keys: Collection[str], auto: bool) -> None:
    """`model.*` keys in `set_keys` (set in a file or by --set) that the resolved family does not read."""
    reads = FAMILY_KEYS[cfg.model.family]
    leaves = {key.split(".", 1)[1] for key in set_keys if key.startswith("model.")}
    foreign = [f.name for f in dataclasses.fields(ModelConfig) if f.name in leaves - {"family", *reads}]
    if not foreign:
        return
    shown = ", ".join(f"model.{leaf}={getattr(cfg.model, leaf)!r}" for leaf in foreign)
    which = f"the {cfg.model.family} family" + (f" (model.family=auto, task={cfg.task!r})" if auto else "")
    # Cutoff 0.6: word_dropout -> dropout and char_embed_dim -> embed_dim, not pooling -> positions.
    near = {leaf: difflib.get_close_matches(leaf, reads, n=1, cutoff=0.6) for leaf in foreign}
    near = {leaf: match[0] for leaf, match in near.items() if match}
    hint = ""
    if len(foreign) == 1 and near:
        hint = f" (did you mean model.{near[foreign[0]]}?)"
    elif near:
        hint = " (did you mean " + ", ".join(f"model.{m} for model.{leaf}" for leaf, m in near.items()) + "?)"
    raise ConfigError(f"{shown}: {which} does not read {'it' if len(foreign) == 1 else 'them'}; it reads "
                      f"{', '.join('model.' + k for k in reads)}{hint}")


def _check_seq2seq_lengths(cfg: Config) -> None:
    """The Transformer encoder-decoder's position tables and decoder cache hold `model.max_length` steps."""
    for key in ("transform.max_source_length", "transform.max_target_length", "eval.max_decode_length"):
        section, name = key.split(".")
        value = getattr(getattr(cfg, section), name)
        if value > cfg.model.max_length:
            raise ConfigError(
                f"{key} must fit model.max_length, the longest sequence of the transformer_seq2seq family. "
                f"Received: {key}={value}, model.max_length={cfg.model.max_length}")
    if cfg.model.share_embeddings and not cfg.transform.joint_vocab:
        raise ConfigError("model.share_embeddings=true needs one vocabulary for both sides: set "
                          "transform.joint_vocab=true. Received: transform.joint_vocab=False")


def _check_pretrained_vectors(cfg: Config) -> None:
    """`model.pretrained_embeddings`: a word tokenizer, a file that exists and vectors of `model.embed_dim` (read
    from the first line only; remote URIs are checked when the trainer reads them)."""
    path = cfg.model.pretrained_embeddings
    if not path:
        return
    if cfg.transform.tokenizer != "word":
        raise ConfigError("model.pretrained_embeddings are word vectors: transform.tokenizer must be 'word'. "
                          f"Received: transform.tokenizer={cfg.transform.tokenizer!r}")
    if source_uri.uri_scheme(path):
        return
    if not Path(path).is_file():
        raise ConfigError(f"Config key 'model.pretrained_embeddings' must name a vectors file. Received: "
                          f"model.pretrained_embeddings={path!r} (no such file)")
    try:
        header = pretrained_vectors.read_header(path, cfg.model.pretrained_format)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"model.pretrained_embeddings={path!r}: {exc}") from None
    if header.dim != cfg.model.embed_dim:
        raise ConfigError(f"model.embed_dim must be the dimension of the pretrained vectors ({header.dim}, "
                          f"{header.format}). Received: model.embed_dim={cfg.model.embed_dim}, "
                          f"model.pretrained_embeddings={path!r}")


def _check_vocab_vectors(cfg: Config) -> None:
    """`transform.vocab_vectors`: a word tokenizer, a count, a local file, and the model reading the same vectors
    (the words it adds never occur in training, so only a pretrained row gives them meaning)."""
    t = cfg.transform
    if not t.vocab_vectors:
        if t.vocab_vectors_words:
            raise ConfigError("transform.vocab_vectors_words needs transform.vocab_vectors (the vectors file whose "
                              f"words join the vocabulary). Received: transform.vocab_vectors_words={t.vocab_vectors_words}")
        return
    if t.tokenizer != "word":
        raise ConfigError("transform.vocab_vectors adds words of a word-vectors file: transform.tokenizer must be "
                          f"'word'. Received: transform.tokenizer={t.tokenizer!r}")
    if t.vocab_vectors_words < 1:
        raise ConfigError("transform.vocab_vectors_words must be >= 1 (how many of the file's first words join the "
                          f"vocabulary). Received: transform.vocab_vectors_words={t.vocab_vectors_words}")
    if cfg.model.pretrained_embeddings != t.vocab_vectors:
        raise ConfigError("transform.vocab_vectors adds words the training split lacks, whose embedding rows "
                          "training never updates: set model.pretrained_embeddings to the same file. Received: "
                          f"transform.vocab_vectors={t.vocab_vectors!r}, "
                          f"model.pretrained_embeddings={cfg.model.pretrained_embeddings!r}")
    if source_uri.uri_scheme(t.vocab_vectors):  # a local file is checked as model.pretrained_embeddings
        raise ConfigError("transform.vocab_vectors must be a local file (the transform's vocabulary step reads it "
                          f"with local file calls). Received: transform.vocab_vectors={t.vocab_vectors!r}")


def validate(cfg: Config, set_keys: Collection[str] = ()) -> Config:
    """Range, choice and cross-field checks: everything the config alone can tell, in one line each.

    `set_keys` are the dotted keys the files and `--set` gave (not defaults); a `model.*` one that the
    family does not read is an error.
    """
    flat = flat_config(cfg)
    _check_ranges(flat)
    if not MODEL_NAME.fullmatch(cfg.push.model_name):
        raise ConfigError(
            "Config key 'push.model_name' must be a plain folder name: letters, digits, '_', '-', '.', not "
            f"starting with '.' or '-'. Received: push.model_name={cfg.push.model_name!r}")
    tasks = registered_tasks()
    if cfg.task not in tasks:
        raise ConfigError(f"Config key 'task' must be one of {sorted(tasks)}. Received: task={cfg.task!r}")
    for key, choices in CHOICES.items():
        if flat[key] not in choices:
            raise ConfigError(
                f"Config key '{key}' must be one of {list(choices)}. Received: {key}={flat[key]!r}"
            )
    task = get_task(cfg.task)
    auto = cfg.model.family == "auto"
    if auto:
        cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, family=task.families[0]))
    if cfg.model.family not in FAMILY_KEYS:
        hint = _did_you_mean(cfg.model.family, list(FAMILY_KEYS))
        raise ConfigError(f"Unknown model.family {cfg.model.family!r}.{hint} Available: {sorted(FAMILY_KEYS)}")
    if cfg.model.family not in task.families:
        owner = next((t.name for t in tasks.values() if cfg.model.family in t.families), "another task's")
        raise ConfigError(
            f"model.family={cfg.model.family!r} is a {owner} model, but task={cfg.task!r}. "
            f"Families for {cfg.task}: {sorted(task.families)}"
        )
    _check_family_keys(cfg, set_keys, auto)
    cfg = dataclasses.replace(cfg, **{  # decode.strategy "auto" resolved for the task, as model.family is
        name: dataclasses.replace(section, decode=task.decode_settings(section.decode))
        for name, section in (("eval", cfg.eval), ("push", cfg.push))})
    transformer = cfg.model.family.startswith("transformer")
    if cfg.model.pooling != "auto" and (cfg.model.pooling in ("cls",)) != transformer and \
            not (transformer and cfg.model.pooling == "mean"):
        allowed = ["auto", "cls", "mean"] if transformer else [p for p in CHOICES["model.pooling"] if p != "cls"]
        raise ConfigError(
            f"model.pooling={cfg.model.pooling!r} does not apply to model.family={cfg.model.family!r}. "
            f"Use one of {allowed}"
        )
    metrics = ("auto", *task.bless_metrics)
    if cfg.eval.bless_metric not in metrics:
        raise ConfigError(
            f"eval.bless_metric must be one of {list(metrics)} for task={cfg.task!r}. "
            f"Received: eval.bless_metric={cfg.eval.bless_metric!r}"
        )
    fractions = cfg.data.eval_fraction + cfg.data.test_fraction
    if not (0 <= cfg.data.eval_fraction < 1 and 0 <= cfg.data.test_fraction < 1 and fractions < 1):
        raise ConfigError(
            "data.eval_fraction + data.test_fraction must be in [0, 1). "
            f"Received: data.eval_fraction={cfg.data.eval_fraction}, "
            f"data.test_fraction={cfg.data.test_fraction}"
        )
    if cfg.transform.whitespace == "keep" and cfg.transform.tokenizer != "char":
        raise ConfigError(
            "transform.whitespace='keep' applies to transform.tokenizer='char' only. "
            f"Received: transform.tokenizer={cfg.transform.tokenizer!r}"
        )
    task.check_config(cfg)
    if cfg.train.monitor not in task.monitors:
        raise ConfigError(f"train.monitor={cfg.train.monitor!r} is not logged by task {cfg.task!r}; "
                          f"allowed: {list(task.monitors)}")
    if cfg.model.family == "transformer_language_model" and cfg.train.sequence_length > cfg.model.max_length:
        raise ConfigError(
            "train.sequence_length must fit the Transformer's context, model.max_length. Received: "
            f"train.sequence_length={cfg.train.sequence_length}, model.max_length={cfg.model.max_length}"
        )
    if cfg.model.family == "rnn_attention" and cfg.model.attention == "luong_dot" and cfg.model.bidirectional:
        raise ConfigError(
            "model.attention='luong_dot' scores s_t^T h_j, so the encoder memory must be the decoder's size: "
            "set model.bidirectional=false, or use model.attention='luong_general'. Received: "
            "model.bidirectional=True")
    if cfg.model.family == "transformer_seq2seq":
        _check_seq2seq_lengths(cfg)
    if cfg.train.warmup_steps and cfg.train.lr_decay < 1:
        raise ConfigError("train.warmup_steps (the inverse-square-root schedule) and train.lr_decay (per-epoch decay) "
                          "both set the learning rate: use one. Received: train.warmup_steps="
                          f"{cfg.train.warmup_steps}, train.lr_decay={cfg.train.lr_decay}")
    if cfg.train.label_smoothing and not task.label_smoothing:
        users = sorted(name for name, t in tasks.items() if t.label_smoothing)
        raise ConfigError(f"train.label_smoothing applies to task in {users}. Received: "
                          f"train.label_smoothing={cfg.train.label_smoothing}, task={cfg.task!r}")
    if cfg.model.family.startswith("transformer") and cfg.model.embed_dim % cfg.model.num_heads:
        heads = [h for h in range(1, cfg.model.embed_dim + 1) if cfg.model.embed_dim % h == 0]
        raise ConfigError(
            f"model.num_heads must divide model.embed_dim (the Transformer's width) for model.family="
            f"{cfg.model.family!r}. Received: model.embed_dim={cfg.model.embed_dim}, model.num_heads="
            f"{cfg.model.num_heads}; allowed heads: {heads}")
    _check_sources(cfg)
    _check_pretrained_vectors(cfg)
    _check_vocab_vectors(cfg)
    return cfg


def load_config(
    configs: Sequence[str] | None = None,
    overrides: Sequence[str] = (),
) -> Config:
    """Loads and validates a config.

    Args:
        configs: built-in config names or YAML paths, merged rightmost-wins.
            None or empty means `quickstart`.
        overrides: `key=value` strings applied last, e.g. `train.epochs=3`.

    Returns:
        The frozen, validated `Config`.
    """
    merged: dict = {}
    for item in configs or ["quickstart"]:
        merged = _deep_merge(merged, read_config_file(resolve_config_path(item)))
    for text in overrides:
        key, value = parse_override(text)
        merged = _deep_merge(merged, _override_tree(key, value))
    return validate(_apply(Config, merged), _leaf_keys(merged))


def _leaf_keys(tree: Mapping[str, Any], prefix: str = "") -> list[str]:
    """The dotted keys of a raw config mapping's leaves, e.g. ["task", "model.units"]."""
    keys = []
    for key, value in tree.items():
        name = prefix + str(key)
        keys.extend(_leaf_keys(value, name + ".") if isinstance(value, Mapping) else [name])
    return keys


def effective_dict(cfg: Config) -> dict[str, Any]:
    """`cfg.to_dict()` with the model section cut to the family and the keys it reads: what
    `seqlab config` prints, a file that loads again."""
    full = cfg.to_dict()
    reads = FAMILY_KEYS[model_family(cfg)]
    full["model"] = {k: v for k, v in full["model"].items() if k == "family" or k in reads}
    return full

"""The server's options (named as `tensorflow_model_server`'s flags), models.config and version policies.

`models.config` is a `ModelServerConfig` text proto (`tensorflow_serving.config.model_server_config_pb2`):

    model_config_list {
      config {
        name: "dates"  base_path: "/models/dates"  model_platform: "tensorflow"
        model_version_policy { latest { num_versions: 2 } }    # or all {} / specific { versions: 1 }
        version_labels { key: "stable" value: 1 }
      }
    }

Example:

>>> config = load_model_server_config(ServerOptions(model_name="dates", model_base_path="/m/dates"))
>>> [c.name for c in config.model_config_list.config]
['dates']
>>> aspired_versions(config.model_config_list.config[0].model_version_policy, [1, 2, 3])
[3]
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Sequence

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

MODELS_CONFIG = "models.config"  # the name serving/layout.py writes


@dataclasses.dataclass
class ServerOptions:
    """What `seqlab serve` takes; the flags keep tensorflow_model_server's names and defaults."""

    serving_dir: str | None = None
    model_config_file: str | None = None
    model_name: str = "default"
    model_base_path: str | None = None
    host: str = "127.0.0.1"
    port: int = 8500  # gRPC; 0 disables it
    rest_api_port: int = 8501  # 0 disables it
    rest_api_timeout_in_ms: int = 30000
    rest_api_num_threads: int = 8
    grpc_max_threads: int = 16
    enable_batching: bool = False
    batching_parameters_file: str | None = None
    file_system_poll_wait_seconds: float = 1.0
    max_request_bytes: int = 64 * 1024 * 1024
    allow_version_labels_for_unavailable_models: bool = False
    monitoring_path: str = "/monitoring/prometheus/metrics"
    drain_seconds: float = 30.0


def load_model_server_config(options: ServerOptions) -> model_server_config_pb2.ModelServerConfig:
    """The ModelServerConfig to serve: `--model_config_file`, a serving dir's models.config, or one model.

    In a serving dir (what the pusher writes), each model's base path is the dir's `<name>` folder, whatever
    base path models.config names (that one is for the tensorflow/serving container's mount); its version
    policy and labels apply. A serving dir without models.config serves every model folder in it.
    """
    if options.model_config_file:
        return parse_model_server_config(Path(options.model_config_file).read_text(encoding="utf-8"))
    if options.serving_dir:
        serving_dir = Path(options.serving_dir)
        if not serving_dir.is_dir():
            raise ValueError(f"SERVING_DIR is not a directory. Received: {str(serving_dir)!r}")
        path = serving_dir / MODELS_CONFIG
        if path.exists():
            config = parse_model_server_config(path.read_text(encoding="utf-8"))
        else:
            config = model_server_config_pb2.ModelServerConfig()
            for folder in sorted(p for p in serving_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
                config.model_config_list.config.add(name=folder.name, model_platform="tensorflow")
        for model in config.model_config_list.config:
            model.base_path = str((serving_dir / model.name).resolve())
        return config
    if not options.model_base_path:
        raise ValueError("Nothing to serve: give SERVING_DIR, --model_config_file, or --model_name with "
                         "--model_base_path. Received none of them.")
    config = model_server_config_pb2.ModelServerConfig()
    config.model_config_list.config.add(name=options.model_name, base_path=options.model_base_path,
                                        model_platform="tensorflow")
    return config


def parse_model_server_config(text: str) -> model_server_config_pb2.ModelServerConfig:
    """Parses a models.config text proto; an error names the line."""
    config = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as exc:
        raise ValueError(f"models.config is not a ModelServerConfig text proto: {exc}") from None
    check_model_config_list(config)
    return config


def check_model_config_list(config: model_server_config_pb2.ModelServerConfig) -> None:
    """Raises ValueError where the server could not serve the config (as ServerCore's checks)."""
    if config.WhichOneof("config") != "model_config_list":
        raise ValueError("Only a model_config_list is supported in models.config.")
    names = [c.name for c in config.model_config_list.config]
    if len(set(names)) != len(names):
        raise ValueError(f"Illegal to list model {sorted(n for n in names if names.count(n) > 1)[0]} "
                         "multiple times in config list")
    for model in config.model_config_list.config:
        if not model.name or not model.base_path:
            raise ValueError(f"Each model needs a name and a base_path. Received: {text_format.MessageToString(model, as_one_line=True)}")
        if model.model_platform not in ("", "tensorflow"):
            raise ValueError(f"Model {model.name}: only model_platform \"tensorflow\" is served. "
                             f"Received: {model.model_platform!r}")


def aspired_versions(policy: model_server_config_pb2.FileSystemStoragePathSourceConfig.ServableVersionPolicy,
                     available: Sequence[int]) -> list[int]:
    """The versions a policy serves out of those on disk (ascending); `latest` (1) when none is set."""
    available = sorted(set(available))
    choice = policy.WhichOneof("policy_choice")
    if choice == "all":
        return available
    if choice == "specific":
        return [v for v in available if v in set(policy.specific.versions)]
    num = policy.latest.num_versions if choice == "latest" and policy.latest.num_versions > 0 else 1
    return available[-num:]


@dataclasses.dataclass(frozen=True)
class BatchingParameters:
    """TF Serving's `BatchingParameters` (session_bundle_config.proto) with its defaults."""

    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 10
    num_batch_threads: int = 4
    allowed_batch_sizes: tuple[int, ...] = ()
    pad_variable_length_inputs: bool = False


_WRAPPED = re.compile(r"(\w+)\s*:?\s*\{\s*value\s*:\s*([^\s}]+)\s*\}")
_REPEATED = re.compile(r"allowed_batch_sizes\s*:\s*(\d+)")
_BOOL = re.compile(r"pad_variable_length_inputs\s*:\s*(true|false)")


def parse_batching_parameters(text: str) -> BatchingParameters:
    """Reads a batching_parameters.txt (`max_batch_size { value: 32 }` ...) into BatchingParameters.

    Example:

    >>> parse_batching_parameters("max_batch_size { value: 8 } allowed_batch_sizes: 4 allowed_batch_sizes: 8")
    BatchingParameters(max_batch_size=8, batch_timeout_micros=0, max_enqueued_batches=10, num_batch_threads=4, allowed_batch_sizes=(4, 8), pad_variable_length_inputs=False)
    """
    known = {f.name for f in dataclasses.fields(BatchingParameters)}
    values: dict = {}
    for key, value in _WRAPPED.findall(text):
        if key == "thread_pool_name":
            continue
        if key not in known:
            raise ValueError(f"Unknown batching parameter {key!r}. Known: {sorted(known)}")
        values[key] = int(value)
    values["allowed_batch_sizes"] = tuple(int(v) for v in _REPEATED.findall(text))
    pad = _BOOL.search(text)
    if pad:
        values["pad_variable_length_inputs"] = pad.group(1) == "true"
    params = BatchingParameters(**values)
    sizes = params.allowed_batch_sizes
    if sizes and (list(sizes) != sorted(set(sizes)) or sizes[-1] != params.max_batch_size):
        raise ValueError("allowed_batch_sizes must be increasing and end with max_batch_size. "
                         f"Received: allowed_batch_sizes={list(sizes)}, max_batch_size={params.max_batch_size}")
    return params


def batching_parameters_text(params: BatchingParameters) -> str:
    """The text-proto form the tensorflow/serving image reads with --batching_parameters_file."""
    lines = [f"{key} {{ value: {getattr(params, key)} }}"
             for key in ("max_batch_size", "batch_timeout_micros", "max_enqueued_batches", "num_batch_threads")]
    lines += [f"allowed_batch_sizes: {size}" for size in params.allowed_batch_sizes]
    lines.append(f"pad_variable_length_inputs: {'true' if params.pad_variable_length_inputs else 'false'}")
    return "\n".join(lines) + "\n"

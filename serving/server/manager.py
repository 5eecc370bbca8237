"""The versions of every model: loaded by version policy, polled on disk, unloaded, labelled, reported.

As TF Serving's AspiredVersionsManager with the availability-preserving policy: a new aspired version
is loaded (and its warmup replayed) before a version that is no longer aspired is unloaded, so a model
always has a version to serve; requests that hold an unloaded version finish on it. Version states are
TF Serving's (START, LOADING, AVAILABLE, UNLOADING, END) and stay listed after END.

Example:

>>> manager = ModelManager(load_model_server_config(options))  # doctest: +SKIP
>>> manager.poll_once(); manager.resolve(name="dates").version  # doctest: +SKIP
3
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from typing import Callable

from tensorflow_serving.config import model_server_config_pb2

from serving.predict import versions_on_disk
from serving.server.config import aspired_versions, check_model_config_list
from serving.server.errors import ServingError
from serving.server.servable import Servable, close_servable

logger = logging.getLogger(__name__)

START, LOADING, AVAILABLE, UNLOADING, END = "START", "LOADING", "AVAILABLE", "UNLOADING", "END"


@dataclasses.dataclass
class VersionState:
    """A version's manager state and health (`error` set when its load failed)."""

    state: str
    servable: Servable | None = None
    error: ServingError | None = None


@dataclasses.dataclass
class ModelEntry:
    config: model_server_config_pb2.ModelConfig
    versions: dict[int, VersionState] = dataclasses.field(default_factory=dict)


class ModelManager:
    """Thread-safe registry of the served versions. `warmup(servable)` runs while a version is LOADING."""

    def __init__(self, config: model_server_config_pb2.ModelServerConfig,
                 warmup: Callable[[Servable], object] | None = None,
                 allow_version_labels_for_unavailable_models: bool = False,
                 loader: Callable[[str, int, str], Servable] = Servable.load):
        check_model_config_list(config)
        self._lock = threading.RLock()
        self._poll_lock = threading.Lock()
        self._models = {c.name: ModelEntry(c) for c in config.model_config_list.config}
        self._labels: dict[str, dict[str, int]] = {}
        self._warmup = warmup
        self._allow_unavailable_labels = allow_version_labels_for_unavailable_models
        self._loader = loader
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- lifecycle ----

    def poll_once(self) -> None:
        """Loads newly aspired versions, then unloads the versions no longer aspired; then applies labels."""
        with self._poll_lock:
            with self._lock:
                entries = list(self._models.values())
            for entry in entries:
                self._poll_model(entry)
            self._apply_labels()

    def _poll_model(self, entry: ModelEntry) -> None:
        aspired = aspired_versions(entry.config.model_version_policy, versions_on_disk(entry.config.base_path))
        for version in aspired:
            current = entry.versions.get(version)
            if current is None or (current.state == END and current.error is None):
                self._load(entry, version)
        for version, state in sorted(entry.versions.items()):
            if version not in aspired and state.state == AVAILABLE:
                self._unload(entry, version)

    def _load(self, entry: ModelEntry, version: int) -> None:
        name, path = entry.config.name, f"{entry.config.base_path.rstrip('/')}/{version}"
        with self._lock:
            entry.versions[version] = VersionState(LOADING)
        start = time.monotonic()
        try:
            servable = self._loader(name, version, path)
            if self._warmup is not None:
                self._warmup(servable)
        except Exception as exc:  # noqa: BLE001  (a bad export must not stop the server)
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            logger.error("Failed to load %s version %d from %s: %s", name, version, path, message)
            with self._lock:
                entry.versions[version] = VersionState(END, error=ServingError.internal(message))
            return
        with self._lock:
            entry.versions[version] = VersionState(AVAILABLE, servable)
        logger.info("Loaded %s version %d from %s in %.1fs", name, version, path, time.monotonic() - start)

    def _unload(self, entry: ModelEntry, version: int) -> None:
        with self._lock:
            state = entry.versions[version]
            entry.versions[version] = VersionState(UNLOADING)
        if state.servable is not None:
            close_servable(state.servable)
        with self._lock:
            entry.versions[version] = VersionState(END)
        logger.info("Unloaded %s version %d", entry.config.name, version)

    def _apply_labels(self) -> None:
        labels: dict[str, dict[str, int]] = {}
        with self._lock:
            for name, entry in self._models.items():
                for label, version in entry.config.version_labels.items():
                    state = entry.versions.get(version)
                    if (state is None or state.state != AVAILABLE) and not self._allow_unavailable_labels:
                        logger.error("Label %s of %s names version %d, which is not available; not assigned",
                                     label, name, version)
                        continue
                    labels.setdefault(name, {})[label] = version
            self._labels = labels

    def check_labels(self) -> None:
        """FAILED_PRECONDITION if a label names a version that is not available (as ServerCore's check)."""
        with self._lock:
            for name, entry in self._models.items():
                for label, version in entry.config.version_labels.items():
                    state = entry.versions.get(version)
                    if (state is None or state.state != AVAILABLE) and not self._allow_unavailable_labels:
                        raise ServingError.failed_precondition(
                            f"Request to assign label to version {version} of model {name}, which is not currently "
                            "available for inference")

    def start_polling(self, interval_seconds: float) -> None:
        """Polls the file system every `interval_seconds` (TF Serving: 0 polls once, at start)."""
        if interval_seconds <= 0:
            return

        def loop() -> None:
            while not self._stop.wait(interval_seconds):
                try:
                    self.poll_once()
                except Exception:  # noqa: BLE001
                    logger.exception("File system poll failed")

        self._thread = threading.Thread(target=loop, name="fs-poll", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stops polling and unloads every version."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        with self._lock:
            entries = list(self._models.values())
        for entry in entries:
            for version, state in sorted(entry.versions.items()):
                if state.state == AVAILABLE:
                    self._unload(entry, version)

    def reload_config(self, config: model_server_config_pb2.ModelServerConfig) -> None:
        """HandleReloadConfigRequest: serve exactly the models of `config` (removed models are unloaded)."""
        if config.WhichOneof("config") != "model_config_list":
            raise ServingError.invalid_argument(
                "ServerModelConfig type not supported by HandleReloadConfigRequest. Only ModelConfigList is "
                "currently supported")
        try:
            check_model_config_list(config)
        except ValueError as exc:
            raise ServingError.invalid_argument(str(exc)) from None
        with self._poll_lock:
            with self._lock:
                removed = [e for n, e in self._models.items()
                           if n not in {c.name for c in config.model_config_list.config}]
                for model in config.model_config_list.config:
                    entry = self._models.get(model.name)
                    if entry is None:
                        self._models[model.name] = ModelEntry(model)
                    else:
                        entry.config = model
                for entry in removed:
                    del self._models[entry.config.name]
            for entry in removed:
                for version, state in sorted(entry.versions.items()):
                    if state.state == AVAILABLE:
                        self._unload(entry, version)
        self.poll_once()
        self.check_labels()

    # ---- requests ----

    def resolve(self, name: str, version: int | None = None, label: str | None = None) -> Servable:
        """The servable for a ModelSpec, or TF Serving's error (ServerCore + BasicManager messages)."""
        if not name:
            raise ServingError.invalid_argument("ModelSpec has no name specified.")
        with self._lock:
            if label is not None:
                version = self._labels.get(name, {}).get(label)
                if version is None:
                    raise ServingError.invalid_argument(f"Unrecognized servable version label: {label}")
            entry = self._models.get(name)
            available = {v: s for v, s in (entry.versions.items() if entry else ()) if s.state == AVAILABLE}
            if version is None:
                if available:
                    return available[max(available)].servable
                raise ServingError.not_found(f"Servable not found for request: Latest({name})")
            if version in available:
                return available[version].servable
            raise ServingError.not_found(f"Servable not found for request: Specific({name}, {version})")

    def version_states(self, name: str) -> dict[int, VersionState]:
        """Every version the manager has seen for a model (empty for an unknown model)."""
        with self._lock:
            entry = self._models.get(name)
            return dict(entry.versions) if entry else {}

"""`pipeline.config.FAMILY_KEYS` (which `model.*` keys each family reads, checked at config time) agrees with
the model builder that reads them and with the registry that holds the classes."""

from types import SimpleNamespace

import pytest

from components import pretrained_vectors
from components.trainer import model_builder
from models.registry import available_models
from components.registry import get_task, registered_tasks
from pipeline.config import FAMILY_KEYS, ModelConfig

MANIFEST = {
    "vocab": {name: {"size": 50} for name in ("source", "target", "text", "tokens")},
    "labels": ["a", "b"], "tags": ["O", "B-X", "I-X"], "max_source_length": 16,
}


class _Recorder:
    """A ModelConfig that records which keys are read."""

    def __init__(self, model: ModelConfig):
        self._model, self.read = model, set()

    def __getattr__(self, name):
        self.read.add(name)
        return getattr(self._model, name)


def test_the_registries_hold_the_families_of_the_table():
    assert available_models() == sorted(FAMILY_KEYS)
    assert sorted(f for task in registered_tasks().values() for f in task.families) == sorted(FAMILY_KEYS)


@pytest.mark.parametrize("family", sorted(FAMILY_KEYS))
def test_the_builder_reads_exactly_the_keys_of_the_table(family):
    for char_filters in (0, 8):  # a tagger's character encoder on and off
        model = _Recorder(ModelConfig(family=family, char_filters=char_filters))
        task = next(name for name, t in registered_tasks().items() if family in t.families)
        config = SimpleNamespace(task=task, model=model)
        model_builder.model_kwargs(config, MANIFEST)
        pretrained_vectors.vectors_settings(config)  # read after the build, by the families with a word embedding
        get_task(config.task).uses_char_ids(config)
        assert model.read - {"family"} == set(FAMILY_KEYS[family]), family

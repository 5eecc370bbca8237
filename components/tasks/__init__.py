"""The built-in task families, one module each; importing this package registers them (`components.registry`).

Example:

>>> from components.registry import get_task
>>> get_task("tagging").families
('rnn_tagger', 'transformer_tagger')
"""

from __future__ import annotations

from components.registry import register_task
from components.tasks.classification import ClassificationTask
from components.tasks.language_model import LanguageModelTask
from components.tasks.tagging import TaggingTask
from components.tasks.translation import TranslationTask

for _task in (TranslationTask(), ClassificationTask(), TaggingTask(), LanguageModelTask()):
    register_task(_task)

"""Model families by name."""

from typing import Callable

import keras

from models.networks.rnn_classifier import RNNClassifier
from models.networks.rnn_language_model import RNNLanguageModel
from models.networks.rnn_seq2seq import AttentionSeq2Seq
from models.networks.rnn_tagger import RNNTagger
from models.networks.transformer_classifier import TransformerClassifier
from models.networks.transformer_language_model import TransformerLanguageModel
from models.networks.transformer_seq2seq import TransformerSeq2Seq
from models.networks.transformer_tagger import TransformerTagger

_MODELS: dict[str, Callable[..., keras.Model]] = {
    "rnn_attention": AttentionSeq2Seq,
    "rnn_classifier": RNNClassifier,
    "rnn_language_model": RNNLanguageModel,
    "rnn_tagger": RNNTagger,
    "transformer_classifier": TransformerClassifier,
    "transformer_language_model": TransformerLanguageModel,
    "transformer_seq2seq": TransformerSeq2Seq,
    "transformer_tagger": TransformerTagger,
}


def available_models() -> list[str]:
    """Returns the registered model family names, sorted."""
    return sorted(_MODELS)


def build_model(family: str, **kwargs) -> keras.Model:
    """Builds a model of the given family.

    Args:
        family: a registered family name, e.g. `"rnn_attention"`.
        **kwargs: constructor arguments of that family's model.

    Returns:
        An (unbuilt) `keras.Model`.

    Example:

    >>> model = build_model("rnn_attention", source_vocab_size=100,
    ...                     target_vocab_size=120, units=64)
    """
    if family not in _MODELS:
        raise ValueError(
            f"Unknown model '{family}'. Available: {available_models()}"
        )
    return _MODELS[family](**kwargs)

import pytest

from models.networks.rnn_seq2seq import AttentionSeq2Seq
from models.registry import available_models, build_model


def test_build_known_family():
    model = build_model("rnn_attention", source_vocab_size=10, target_vocab_size=11, units=4)
    assert isinstance(model, AttentionSeq2Seq)
    assert model.units == 4
    assert "rnn_attention" in available_models()


def test_unknown_family_lists_available():
    with pytest.raises(ValueError) as info:
        build_model("transformer_xl")
    assert str(info.value) == f"Unknown model 'transformer_xl'. Available: {available_models()}"
    assert {"rnn_attention", "rnn_classifier", "rnn_tagger"} <= set(available_models())


def _sub_layer_attributes(obj, seen=None):
    """(class, attribute) for every attribute of `obj` and its sub-layers that holds a Keras layer."""
    import keras

    seen = set() if seen is None else seen
    if id(obj) in seen:
        return []
    seen.add(id(obj))
    found = []
    for name in dir(obj):
        if name.startswith("_") or name in ("layers", "input", "output"):
            continue
        try:
            value = getattr(obj, name)
        except Exception:  # properties that need a built or called model
            continue
        if isinstance(value, keras.layers.Layer) and value is not obj:
            found.append((type(obj), name))
            found += _sub_layer_attributes(value, seen)
    return found


def test_no_class_attribute_shares_a_sub_layer_s_name():
    """On PyTorch a sub-layer is kept in the module's `_modules`; a class attribute of the same name (say
    `crf = None`) would shadow it there, and the model would run and load without that layer."""
    from models.networks.rnn_tagger import RNNTagger
    from models.networks.transformer_tagger import TransformerTagger

    built = [
        build_model("rnn_attention", source_vocab_size=10, target_vocab_size=11, units=4),
        RNNTagger(20, 5, embed_dim=4, units=4, output="crf", char_vocab_size=30, char_filters=4),
        TransformerTagger(20, 5, embed_dim=4, num_heads=1, ff_dim=4, output="crf", char_vocab_size=30,
                          char_filters=4),
    ]
    shadowing = [(cls.__name__, name) for model in built for cls, name in _sub_layer_attributes(model)
                 if any(name in vars(base) for base in cls.__mro__[1:] if base.__module__.startswith("models"))
                 or name in vars(cls)]
    assert not shadowing, shadowing

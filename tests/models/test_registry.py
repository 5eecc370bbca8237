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

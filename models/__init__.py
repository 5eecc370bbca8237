"""Backend-agnostic Keras 3 models of seqlab (only `keras` and `keras.ops`)."""

from models.decoding.greedy import greedy_decode
from models.layers.attention_decoder_cell import AttentionDecoderCell
from models.layers.bahdanau_attention import BahdanauAttention
from models.networks.rnn_seq2seq import AttentionSeq2Seq
from models.registry import available_models, build_model

__all__ = [
    "AttentionDecoderCell",
    "AttentionSeq2Seq",
    "BahdanauAttention",
    "available_models",
    "build_model",
    "greedy_decode",
]

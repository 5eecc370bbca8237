"""Backend-agnostic Keras 3 models of seqlab (only `keras` and `keras.ops`)."""

from models.decoding import BeamSearch, Greedy, Sampling, decode, decode_seq2seq, generate
from models.layers.attention_decoder_cell import AttentionDecoderCell
from models.layers.bahdanau_attention import BahdanauAttention
from models.layers.causal_decoder_block import CausalDecoderBlock
from models.layers.char_bilstm_word_encoder import CharBiLSTMWordEncoder
from models.layers.char_word_encoder import CharWordEncoder
from models.layers.crf import CRF
from models.layers.luong_attention import LuongAttention
from models.layers.positional_embedding import PositionalEmbedding
from models.layers.rnn_stack import RNNStack
from models.layers.sequence_pooling import SequencePooling
from models.layers.transformer_encoder import TransformerEncoder
from models.metrics import MaskedAccuracy, SmoothedSparseCrossEntropy
from models.networks.rnn_classifier import RNNClassifier
from models.networks.rnn_seq2seq import AttentionSeq2Seq
from models.networks.rnn_tagger import RNNTagger
from models.networks.transformer_classifier import TransformerClassifier
from models.networks.transformer_seq2seq import TransformerSeq2Seq
from models.registry import available_models, build_model
from models.schedules import InverseSqrtSchedule

__all__ = [
    "BeamSearch",
    "Greedy",
    "Sampling",
    "decode",
    "decode_seq2seq",
    "generate",
    "AttentionDecoderCell",
    "AttentionSeq2Seq",
    "BahdanauAttention",
    "CRF",
    "CausalDecoderBlock",
    "CharBiLSTMWordEncoder",
    "CharWordEncoder",
    "InverseSqrtSchedule",
    "LuongAttention",
    "MaskedAccuracy",
    "PositionalEmbedding",
    "RNNClassifier",
    "RNNStack",
    "RNNTagger",
    "SequencePooling",
    "SmoothedSparseCrossEntropy",
    "TransformerClassifier",
    "TransformerEncoder",
    "TransformerSeq2Seq",
    "available_models",
    "build_model",
]

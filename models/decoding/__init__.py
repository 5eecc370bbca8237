"""One decoding loop for every generative model: greedy, sampling and beam search over a step function."""

from models.decoding.loop import decode, decode_seq2seq, generate
from models.decoding.strategies import BeamSearch, Greedy, Sampling, strategy_from_name, strategy_from_settings

__all__ = ["BeamSearch", "Greedy", "Sampling", "decode", "decode_seq2seq", "generate", "strategy_from_name",
           "strategy_from_settings"]

"""Decoding strategies: how the decoding loop picks the next token of each hypothesis.

Three strategies, one loop (`models.decoding.loop.decode`):

- `Greedy()`: the most probable token (beam search of width 1).
- `Sampling(temperature, top_k, top_p, seed)`: a draw from the tempered, filtered softmax;
  `temperature=0` is greedy. Every argument may be a Python number or a scalar tensor (a
  served signature's input); the draws are seeded (see `models.decoding.sampling`).
- `BeamSearch(beam_width, length_penalty, num_results)`: the `beam_width` best hypotheses per
  sentence, ranked by log P(y) / lp(|y|) with GNMT's lp(n) = ((5 + n) / 6) ** α (Wu et al. 2016).

Example:

>>> strategy_from_name("beam", beam_width=4, length_penalty=0.6)
BeamSearch(beam_width=4, length_penalty=0.6, num_results=1)
>>> strategy_from_name("greedy").width
1
"""

from __future__ import annotations

import dataclasses
from typing import Any

from keras import ops

from models.checks import check_positive_int

STRATEGIES = ("greedy", "sampling", "beam")


def length_penalty_of(lengths, alpha: float):
    """GNMT's length penalty ((5 + n) / 6) ** alpha, float32, for int lengths `n`."""
    return ops.power((5.0 + ops.cast(lengths, "float32")) / 6.0, float(alpha))


@dataclasses.dataclass(frozen=True)
class BeamSearch:
    """Keeps `beam_width` hypotheses per sentence; returns the `num_results` best (see module docstring)."""

    beam_width: int = 4
    length_penalty: float = 0.0
    num_results: int = 1

    def __post_init__(self):
        check_positive_int("beam_width", self.beam_width)
        check_positive_int("num_results", self.num_results)
        if self.num_results > self.beam_width:
            raise ValueError(f"Expected `num_results` <= `beam_width`. Received: num_results={self.num_results}, "
                             f"beam_width={self.beam_width}")
        if self.length_penalty < 0:
            raise ValueError(f"Expected `length_penalty` >= 0. Received: length_penalty={self.length_penalty!r}")

    @property
    def width(self) -> int:
        """Hypotheses kept per sentence."""
        return self.beam_width


def Greedy() -> BeamSearch:  # noqa: N802 (reads as a strategy class)
    """The most probable next token at every step: a beam of width 1."""
    return BeamSearch(beam_width=1)


@dataclasses.dataclass(frozen=True)
class Sampling:
    """Draws each token from softmax(filtered logits / temperature); `temperature=0` is greedy.

    `top_k` > 0 keeps the k most likely tokens, `top_p` < 1 the smallest set whose probability
    reaches p (the nucleus; the most likely token always stays). Python numbers or scalar tensors.
    """

    temperature: Any = 1.0
    top_k: Any = 0
    top_p: Any = 1.0
    seed: Any = 0

    def __post_init__(self):
        if isinstance(self.temperature, (int, float)) and self.temperature < 0:
            raise ValueError(f"Expected `temperature` >= 0. Received: temperature={self.temperature!r}")
        if isinstance(self.top_p, (int, float)) and not 0 < self.top_p <= 1:
            raise ValueError(f"Expected 0 < `top_p` <= 1. Received: top_p={self.top_p!r}")

    width = 1
    num_results = 1


def strategy_from_settings(settings, seed: Any = 0):
    """The strategy named by an object with `strategy`, `beam_width`, `length_penalty`, `temperature`, `top_k`
    and `top_p` attributes (a config's `decode` section); `seed` seeds sampling (a tensor in a served graph)."""
    return strategy_from_name(settings.strategy, beam_width=settings.beam_width,
                              length_penalty=settings.length_penalty, temperature=settings.temperature,
                              top_k=settings.top_k, top_p=settings.top_p, seed=seed)


def strategy_from_name(name: str, beam_width: int = 4, length_penalty: float = 0.0, num_results: int = 1,
                       temperature: Any = 1.0, top_k: Any = 0, top_p: Any = 1.0, seed: Any = 0):
    """The strategy `name` (greedy | sampling | beam) with the settings it reads."""
    if name == "greedy":
        return Greedy()
    if name == "sampling":
        return Sampling(temperature=temperature, top_k=top_k, top_p=top_p, seed=seed)
    if name == "beam":
        return BeamSearch(beam_width=beam_width, length_penalty=length_penalty, num_results=num_results)
    raise ValueError(f"Unknown decoding strategy {name!r}; expected one of {', '.join(STRATEGIES)}.")

"""Evaluator step: greedy decoding, BLEU/chrF/CER/exact match, attention plots, blessing."""

from components.evaluator.evaluate import run

__all__ = ["run"]

"""Trainer step: tf.data input, precision and strategy selection, fit -> model.keras."""

from components.trainer.train import run

__all__ = ["run"]

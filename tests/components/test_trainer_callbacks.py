"""Trainer callbacks: Throughput (steady-state step times, each epoch's first batch excluded), EpochPerplexity."""

import numpy as np
import pytest

from components.trainer.train import EpochPerplexity, Throughput


def test_counts_the_steps_between_batches_and_skips_each_epoch_start():
    clock = iter([0.0, 1.0, 2.0, 6.0,  # epoch 0: batch ends at 0, 1, 2, 6 -> steps of 1, 1, 4 s
                  100.0, 101.0])  # epoch 1 (after validation): its first batch end at 100 is not a step
    throughput = Throughput(clock=lambda: next(clock))
    for epoch, batches in ((0, 4), (1, 2)):
        throughput.on_epoch_begin(epoch)
        for batch in range(batches):
            throughput.on_train_batch_end(batch)
    assert throughput.step_seconds == [1.0, 1.0, 4.0, 1.0]
    assert throughput.steps_per_second == pytest.approx(4 / 7.0)
    assert throughput.median_step_seconds == 1.0  # the one slow step moves the mean, not the median


def test_no_steps_means_no_figure():
    throughput = Throughput()
    throughput.on_epoch_begin(0)
    throughput.on_train_batch_end(0)
    assert throughput.steps_per_second is None and throughput.median_step_seconds is None


def test_epoch_perplexity_is_the_exponential_of_the_losses_in_nats():
    logs = {"loss": 1.5, "val_loss": 2.0}
    EpochPerplexity().on_epoch_end(0, logs)
    assert logs["perplexity"] == pytest.approx(np.exp(1.5)) and logs["val_perplexity"] == pytest.approx(np.exp(2.0))
    logs = {"loss": 1e6}  # a diverged run: no overflow, and no val_perplexity without a val_loss
    EpochPerplexity().on_epoch_end(0, logs)
    assert np.isfinite(logs["perplexity"]) and "val_perplexity" not in logs

"""train.max_minutes: the TimeBudget callback stops after the batch that crosses the budget."""

import keras
import numpy as np

from components.trainer.train import TimeBudget


def _fit(minutes):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    budget = TimeBudget(minutes)
    x, y = np.zeros((64, 3), "float32"), np.zeros((64, 1), "float32")
    history = model.fit(x, y, batch_size=8, epochs=5, validation_data=(x, y), callbacks=[budget], verbose=0)
    return budget, history.history


def test_zero_budget_means_no_limit():
    budget, history = _fit(0.0)
    assert not budget.stopped_early and len(history["loss"]) == 5


def test_crossed_budget_stops_in_the_first_epoch_and_still_validates():
    budget, history = _fit(1e-9)
    assert budget.stopped_early
    assert len(history["loss"]) == 1 and len(history["val_loss"]) == 1

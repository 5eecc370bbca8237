"""Language-model input: windows and stateful truncated-BPTT chunks over a token stream."""

import numpy as np
import pytest

from components.trainer import lm_input


def _batches(ds):
    return [(x.numpy(), y.numpy()) for x, y in ds]


def test_windows_are_shifted_pairs_at_the_stride():
    stream = np.arange(1, 41, dtype=np.int32)  # 40 tokens
    batches = _batches(lm_input.windows_dataset(stream, length=8, batch_size=3, stride=5))
    x = np.concatenate([b[0] for b in batches])
    y = np.concatenate([b[1] for b in batches])
    starts = np.arange(0, 40 - 9 + 1, 5)  # every window needs length + 1 tokens
    np.testing.assert_array_equal(x, np.stack([stream[s:s + 8] for s in starts]))
    np.testing.assert_array_equal(y, np.stack([stream[s + 1:s + 9] for s in starts]))


def test_training_windows_are_shuffled_reproducibly_and_cover_every_window():
    stream = np.arange(1, 202, dtype=np.int32)
    first = np.concatenate([b[0] for b in _batches(lm_input.windows_dataset(stream, 10, 4, training=True, seed=3))])
    again = np.concatenate([b[0] for b in _batches(lm_input.windows_dataset(stream, 10, 4, training=True, seed=3))])
    np.testing.assert_array_equal(first, again)
    assert sorted(first[:, 0].tolist()) == list(range(1, 192, 10))  # all 20 windows, once each
    assert first[:, 0].tolist() != sorted(first[:, 0].tolist())


def test_stateful_rows_continue_from_batch_to_batch():
    stream = np.arange(1, 103, dtype=np.int32)  # 102 tokens: 3 rows of 33 (+1 for the shifted target)
    batches = _batches(lm_input.stateful_dataset(stream, length=10, batch_size=3))
    assert len(batches) == 3  # 33 tokens per row -> 3 whole chunks of 10, the rest dropped
    row_tokens = (len(stream) - 1) // 3
    for i in range(3):
        x_row = np.concatenate([b[0][i] for b in batches])
        y_row = np.concatenate([b[1][i] for b in batches])
        np.testing.assert_array_equal(x_row, stream[i * row_tokens: i * row_tokens + 30])
        np.testing.assert_array_equal(y_row, stream[i * row_tokens + 1: i * row_tokens + 31])


def test_too_short_streams_are_named():
    with pytest.raises(ValueError, match="fewer than one window"):
        lm_input.window_starts(5, 8, 8)
    with pytest.raises(ValueError, match="Lower train.batch_size"):
        lm_input.stateful_rows(np.arange(20), 10, 4)

"""TF Serving-style batching: concurrent requests to one signature run as one batch.

`max_batch_size` rows at most per batch; a batch closes when full or `batch_timeout_micros` after its first
request; `num_batch_threads` batches run at once; more than `max_enqueued_batches` batches waiting is
UNAVAILABLE; `allowed_batch_sizes` pads a batch (with its first row) up to the next allowed size;
`pad_variable_length_inputs` pads inputs whose inner dimensions differ ("" for strings, 0 for numbers).
Outputs are split back by each request's rows.

Example:

>>> batcher = Batcher(lambda inputs: {"y": inputs["x"] * 2}, BatchingParameters(max_batch_size=8))
>>> batcher.submit({"x": np.array([1, 2])}).result()["y"].tolist()
[2, 4]
>>> batcher.close()
"""

from __future__ import annotations

import collections
import threading
import time
from concurrent.futures import Future
from typing import Callable, Mapping

import numpy as np

from serving.server.config import BatchingParameters
from serving.server.errors import ServingError

Arrays = Mapping[str, np.ndarray]


class _Task:
    __slots__ = ("inputs", "rows", "future", "enqueued")

    def __init__(self, inputs: Arrays, rows: int):
        self.inputs, self.rows, self.future, self.enqueued = inputs, rows, Future(), time.monotonic()


def _pad_to(array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if array.shape == shape:
        return array
    fill = b"" if array.dtype == object else 0
    out = np.full(shape, fill, dtype=array.dtype)
    out[tuple(slice(0, d) for d in array.shape)] = array
    return out


def merge(tasks: list[_Task], params: BatchingParameters) -> tuple[dict[str, np.ndarray], int]:
    """The tasks' inputs concatenated on axis 0 (padded as the parameters say); returns (inputs, padded rows)."""
    merged = {}
    for name in tasks[0].inputs:
        arrays = [t.inputs[name] for t in tasks]
        inner = {a.shape[1:] for a in arrays}
        if len(inner) > 1:
            if not params.pad_variable_length_inputs:
                raise ServingError.invalid_argument(
                    f"Tensors with name '{name}' from different tasks have different shapes and padding is turned "
                    "off. Set pad_variable_length_inputs to true, or ensure that all tensors with the same name "
                    "have equal dimensions starting with the first dim.")
            target = tuple(max(dims) for dims in zip(*inner))
            arrays = [_pad_to(a, (a.shape[0], *target)) for a in arrays]
        merged[name] = np.concatenate(arrays, axis=0)
    rows = sum(t.rows for t in tasks)
    padded = next((s for s in params.allowed_batch_sizes if s >= rows), rows)
    if padded > rows:
        merged = {name: np.concatenate([a, np.repeat(a[:1], padded - rows, axis=0)]) for name, a in merged.items()}
    return merged, padded


class Batcher:
    """Queues requests for one signature of one servable and runs them in batches on worker threads."""

    def __init__(self, run: Callable[[Arrays], dict[str, np.ndarray]], params: BatchingParameters):
        self._run = run
        self._params = params
        self._queue: collections.deque[_Task] = collections.deque()
        self._cond = threading.Condition()
        self._closed = False
        self._workers = [threading.Thread(target=self._work, name=f"batch-{i}", daemon=True)
                         for i in range(max(1, params.num_batch_threads))]
        for worker in self._workers:
            worker.start()

    def submit(self, inputs: Arrays) -> Future:
        """Enqueues one request (every input's first dimension is its rows); a Future of its outputs."""
        rows = int(next(iter(inputs.values())).shape[0])
        task = _Task(inputs, rows)
        if rows > self._params.max_batch_size:
            task.future.set_exception(ServingError.invalid_argument(
                f"Task size {rows} is larger than maximum input batch size {self._params.max_batch_size}"))
            return task.future
        with self._cond:
            queued = sum(t.rows for t in self._queue)
            if self._closed or queued + rows > self._params.max_enqueued_batches * self._params.max_batch_size:
                task.future.set_exception(ServingError.unavailable(
                    "The batch scheduling queue to which this task was submitted is full"))
                return task.future
            self._queue.append(task)
            self._cond.notify()
        return task.future

    def _take_batch(self) -> list[_Task] | None:
        timeout = self._params.batch_timeout_micros / 1e6
        with self._cond:
            while not self._queue:
                if self._closed:
                    return None
                self._cond.wait(0.5)
            deadline = self._queue[0].enqueued + timeout
            while (sum(t.rows for t in self._queue) < self._params.max_batch_size and not self._closed
                   and time.monotonic() < deadline):
                self._cond.wait(max(0.0, deadline - time.monotonic()))
            batch, rows = [], 0
            while self._queue and rows + self._queue[0].rows <= self._params.max_batch_size:
                task = self._queue.popleft()
                batch.append(task)
                rows += task.rows
            return batch

    def _work(self) -> None:
        while (batch := self._take_batch()) is not None:  # None: closed and drained
            if batch:
                self._run_batch(batch)

    def _run_batch(self, batch: list[_Task]) -> None:
        try:
            inputs, padded = merge(batch, self._params)
            outputs = self._run(inputs)
            for name, array in outputs.items():
                if array.ndim == 0 or array.shape[0] != padded:
                    raise ServingError.internal(
                        f"Batched output {name} has {array.shape[0] if array.ndim else 0} rows; expected {padded}")
        except BaseException as exc:  # noqa: BLE001  (every waiting request gets the error)
            for task in batch:
                task.future.set_exception(exc)
            return
        offset = 0
        for task in batch:
            task.future.set_result({name: array[offset:offset + task.rows] for name, array in outputs.items()})
            offset += task.rows

    def close(self) -> None:
        """Runs what is queued, then stops the workers."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for worker in self._workers:
            worker.join(timeout=60)

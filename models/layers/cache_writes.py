"""How a cached decoder step writes its key/value rows: `ops.scatter_update` by default, or a backend's
in-place write within a `cache_writes` scope.

A cached step writes one `(batch * heads)` set of rows into caches of `(batch * heads * slots)` rows. The
default, `ops.scatter_update`, returns a new tensor: under `jax.jit` XLA updates the loop's buffer in place,
but TensorFlow without XLA (a served graph) copies the whole cache on every write (8.4 MB a write at batch
32 and 256 slots of a 256-wide layer). A serving export that traces its decoding loop inside
`cache_writes(write, own)` gets an in-place write instead (`serving.inplace_writes`): `write(flat, rows,
updates)` returns `flat` with `updates` at `rows` and may reuse its buffer, so `decode_seq2seq` (before the
first cached step) and `generate` (before the loop) pass every state tensor through `own`, once a request,
which must return a buffer nobody else holds (a copy): the caches a model starts from may share one buffer
(`[zeros] * n`) or be a constant of the graph. A caller of `decode` itself owns its state the same way.

Example (TensorFlow):

>>> with cache_writes(write=my_inplace_write, own=my_copy):  # doctest: +SKIP
...     concrete = serving_fn.get_concrete_function()  # traced with in-place writes
"""

from __future__ import annotations

import contextlib
import threading

from keras import ops

_scope = threading.local()


def _scatter(flat, rows, updates):
    return ops.scatter_update(flat, rows, updates)


def write_rows(flat, rows, updates):
    """`flat` `(n, d)` with `updates` `(r, d)` at `rows` `(r, 1)`, through the active scope's write."""
    return getattr(_scope, "write", _scatter)(flat, rows, updates)


def own(x):
    """`x` as a buffer the loop may write in place (the scope's `own`; `x` itself outside a scope)."""
    fn = getattr(_scope, "own", None)
    return x if fn is None else fn(x)


@contextlib.contextmanager
def cache_writes(write, own):
    """Within the scope (this thread), cached steps write through `write` and `decode` starts from `own` copies."""
    saved = getattr(_scope, "write", None), getattr(_scope, "own", None)
    _scope.write, _scope.own = write, own
    try:
        yield
    finally:
        _scope.write, _scope.own = saved
        if saved[0] is None:
            del _scope.write, _scope.own

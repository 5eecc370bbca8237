"""Names every docstring example may use without importing them, as NumPy's and Keras's documentation do:
`np`, `keras` and `ops` (`keras.ops`). The examples run as doctests (`--doctest-modules` in pytest.ini)."""

import keras
import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _doctest_names(doctest_namespace):
    doctest_namespace.update(np=np, keras=keras, ops=keras.ops)

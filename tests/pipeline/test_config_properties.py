"""Property-based: the config loader, fed arbitrary `--set` strings, returns a Config or raises only its
own one-line ConfigError (never a TypeError, OverflowError or a YAML error).

Fast by default (CI); `HYPOTHESIS_PROFILE=fuzz pytest tests/pipeline/test_config_properties.py` runs a long fuzz.
"""

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.config import Config, ConfigError, _valid_keys, load_config

settings.register_profile("ci", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("fuzz", max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

KEYS = sorted(_valid_keys())
VALUES = st.one_of(
    st.text(max_size=30),
    st.integers().map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", "nan", "-inf", "1e400", "[", "[1, 2", "{a: 1}", "true", "null", "~", "[1, x]",
                     "0", "-1", "1,2,3", "builtin:", "builtin:dates?n=x", "tfds:", "tfds:/x", "\x00", "- a"]),
)


def loads_or_config_error(overrides):
    try:
        assert isinstance(load_config(["quickstart"], overrides), Config)
    except ConfigError as exc:
        message = str(exc)
        assert message and "\n" not in message, message


@given(st.text(max_size=60))
def test_arbitrary_set_strings(text):
    loads_or_config_error([text])


@given(st.sampled_from(KEYS), VALUES)
def test_arbitrary_values_for_every_key(key, value):
    loads_or_config_error([f"{key}={value}"])


@given(st.lists(st.tuples(st.sampled_from(KEYS), VALUES), max_size=4))
def test_several_overrides(pairs):
    loads_or_config_error([f"{k}={v}" for k, v in pairs])

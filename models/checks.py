"""Constructor argument checks shared by the networks, with errors that say what was received.

Example:

>>> check_choice("cell", "lstm", ("lstm", "gru"))
>>> check_positive_int("num_layers", 0)
Traceback (most recent call last):
...
ValueError: Expected `num_layers` to be an int >= 1. Received: num_layers=0
"""


def check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"Expected `{name}` to be one of {list(choices)}. Received: {name}={value!r}")


def check_positive_int(name, value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"Expected `{name}` to be an int >= 1. Received: {name}={value!r}")


def check_rate(name, value):
    if not 0.0 <= value < 1.0:
        raise ValueError(f"Expected `{name}` in [0, 1). Received: {name}={value!r}")

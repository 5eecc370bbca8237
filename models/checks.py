"""Argument checks shared by the layers and networks, with errors that say what was received.

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


def check_heads(embed_dim, num_heads):
    if embed_dim % num_heads:
        raise ValueError(
            "Expected `embed_dim` to be divisible by `num_heads`. Received: "
            f"embed_dim={embed_dim}, num_heads={num_heads}. Pick num_heads among "
            f"{[h for h in range(1, embed_dim + 1) if embed_dim % h == 0]}."
        )


def check_last_dim(input_shape, name, value):
    """At `build`: the inputs' last dimension is the constructor argument `name`."""
    if input_shape[-1] != value:
        raise ValueError(f"Expected inputs with last dimension {name}={value}. "
                         f"Received: input_shape={tuple(input_shape)}")


def check_rate(name, value):
    if not 0.0 <= value < 1.0:
        raise ValueError(f"Expected `{name}` in [0, 1). Received: {name}={value!r}")

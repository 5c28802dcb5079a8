"""Swish with beta = 1, the same function as SiLU: ``x * sigmoid(x)`` (Ramachandran et al., 2017)."""

import keras

ALIASES = ("silu",)


def swish(x):
    return keras.activations.silu(x)

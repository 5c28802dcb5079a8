"""ELU with alpha = 1: ``x`` for ``x > 0``, ``exp(x) - 1`` below (Clevert et al., 2016)."""

import keras


def elu(x):
    return keras.activations.elu(x)

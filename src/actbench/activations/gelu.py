"""GELU, exact form ``0.5 x (1 + erf(x / sqrt 2))``, not the tanh approximation."""

import keras


def gelu(x):
    return keras.activations.gelu(x, approximate=False)

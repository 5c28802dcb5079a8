"""Mish: ``x * tanh(softplus(x))`` (Misra, 2019)."""

import keras


def mish(x):
    return keras.activations.mish(x)

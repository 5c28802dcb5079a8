"""Mish: ``x * tanh(softplus(x))`` (Misra, 2019)."""

import keras

REFERENCES = (
    "Misra: Mish: A Self Regularized Non-Monotonic Activation Function, BMVC 2020, "
    "arXiv:1908.08681",
)


def mish(x):
    return keras.activations.mish(x)

"""SELU: scaled ELU with the self-normalising constants of Klambauer et al. (2017)."""

import keras


def selu(x):
    return keras.activations.selu(x)

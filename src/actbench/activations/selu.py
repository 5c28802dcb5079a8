"""SELU: scaled ELU with the self-normalising constants of Klambauer et al. (2017)."""

import keras

OTHER_NAMES = ("Scaled Exponential Linear Unit (SELU)",)
REFERENCES = (
    "Klambauer, Unterthiner, Mayr, Hochreiter: Self-Normalizing Neural Networks, NeurIPS 2017, "
    "arXiv:1706.02515",
)


def selu(x):
    return keras.activations.selu(x)

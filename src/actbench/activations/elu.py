"""ELU with alpha = 1: ``x`` for ``x > 0``, ``exp(x) - 1`` below (Clevert et al., 2016)."""

import keras

OTHER_NAMES = ("Exponential Linear Unit (ELU)",)
REFERENCES = (
    "Clevert, Unterthiner, Hochreiter: Fast and Accurate Deep Network Learning by Exponential "
    "Linear Units (ELUs), ICLR 2016, arXiv:1511.07289",
)


def elu(x):
    return keras.activations.elu(x)

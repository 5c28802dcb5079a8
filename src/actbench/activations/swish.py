"""Swish with beta = 1, the same function as SiLU: ``x * sigmoid(x)`` (Ramachandran et al., 2017)."""

import keras

ALIASES = ("silu",)
OTHER_NAMES = ("SiLU, sigmoid-weighted linear unit",)
REFERENCES = (
    "Ramachandran, Zoph, Le: Searching for Activation Functions, 2017, arXiv:1710.05941",
    "Elfwing, Uchibe, Doya: Sigmoid-Weighted Linear Units for Neural Network Function "
    "Approximation in Reinforcement Learning, Neural Networks 2018, arXiv:1702.03118",
)


def swish(x):
    return keras.activations.silu(x)

"""ReLU: ``max(x, 0)``, the baseline every new activation is measured against."""

import keras

REFERENCES = (
    "Nair, Hinton: Rectified Linear Units Improve Restricted Boltzmann Machines, ICML 2010",
)


def relu(x):
    return keras.activations.relu(x)

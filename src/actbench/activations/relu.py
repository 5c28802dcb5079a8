"""ReLU: ``max(x, 0)``, the baseline every new activation is measured against."""

import keras


def relu(x):
    return keras.activations.relu(x)

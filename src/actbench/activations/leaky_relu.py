"""Leaky ReLU with slope 0.2 below zero (Keras' default)."""

import keras

REFERENCES = (
    "Maas, Hannun, Ng: Rectifier Nonlinearities Improve Neural Network Acoustic Models, ICML 2013 "
    "workshop (slope 0.01 there)",
)


def leaky_relu(x):
    return keras.activations.leaky_relu(x, negative_slope=0.2)

"""Leaky ReLU with slope 0.2 below zero (Keras' default)."""

import keras


def leaky_relu(x):
    return keras.activations.leaky_relu(x, negative_slope=0.2)

"""GELU, exact form ``0.5 x (1 + erf(x / sqrt 2))``, not the tanh approximation."""

import keras

OTHER_NAMES = ("Gaussian Error Linear Unit (GELU)",)
REFERENCES = ("Hendrycks, Gimpel: Gaussian Error Linear Units (GELUs), 2016, arXiv:1606.08415",)


def gelu(x):
    return keras.activations.gelu(x, approximate=False)

"""Swish with a learnable beta per channel: ``x * sigmoid(beta_c * x)``.

Ramachandran et al. define Swish as ``x * sigmoid(beta * x)`` with beta a constant or a
trainable parameter; ``swish`` in this registry is the constant beta = 1 (SiLU). Here beta is
learnt. Parameter sharing: one beta per channel (the last axis, C), shared over the positions
and the images (actbench's choice, as for PReLU's slopes); each site has its own. Initialised
to 1, so training starts from SiLU. beta -> 0 gives ``x / 2`` (linear), beta -> inf gives ReLU.

Under mixed precision beta is a float32 variable read in the compute dtype (Keras' autocast).
"""

import keras
from keras import ops

OTHER_NAMES = ("Swish with a trainable beta (Swish-beta)",)
REFERENCES = ("Ramachandran, Zoph, Le: Searching for Activation Functions, 2017, arXiv:1710.05941",)
INITIAL_BETA = 1.0  # beta = 1: SiLU, the fixed `swish` baseline


@keras.saving.register_keras_serializable(package="actbench")
class SwishBeta(keras.layers.Layer):
    """``x * sigmoid(beta * x)``, ``beta``: shape (C,), one per channel."""

    def __init__(self, initial_beta: float = INITIAL_BETA, **kwargs):
        super().__init__(**kwargs)
        self.initial_beta = float(initial_beta)

    def build(self, input_shape):
        self.beta = self.add_weight(
            shape=(input_shape[-1],),
            initializer=keras.initializers.Constant(self.initial_beta),
            name="beta",
        )

    def call(self, x):  # (..., C) -> (..., C)
        return x * ops.sigmoid(self.beta * x)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "initial_beta": self.initial_beta}


swish_beta = SwishBeta  # the registry's entry: a keras.layers.Layer subclass

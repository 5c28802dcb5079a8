"""PReLU: ``x`` for ``x >= 0``, ``a_c * x`` below, with a learnable slope ``a_c`` per channel.

Parameter sharing: one slope per channel (the last axis, C), shared over the positions and the
images: He et al.'s channel-wise PReLU. Each site of the model has its own slopes (ResNet-18 at
width w: 61w slopes over its 17 sites, 488 at the quick profile's width 8). Initialised to 0.25,
He et al.'s initial value. They train the slopes without weight decay, which would pull them to
0, i.e. towards ReLU; actbench's trainer likewise excludes every activation site's weights from
weight decay.

Under mixed precision the slopes are float32 variables, read in the compute dtype (Keras'
autocast), like every other layer's weights.
"""

import keras
from keras import ops

OTHER_NAMES = ("Parametric ReLU (PReLU)",)
REFERENCES = ("He, Zhang, Ren, Sun: Delving Deep into Rectifiers, ICCV 2015, arXiv:1502.01852",)
INITIAL_SLOPE = 0.25  # He et al. 2015, section 2.1


@keras.saving.register_keras_serializable(package="actbench")
class PReLU(keras.layers.Layer):
    """``where(x >= 0, x, slope * x)``, ``slope``: shape (C,), one per channel."""

    def __init__(self, initial_slope: float = INITIAL_SLOPE, **kwargs):
        super().__init__(**kwargs)
        self.initial_slope = float(initial_slope)

    def build(self, input_shape):
        self.slope = self.add_weight(
            shape=(input_shape[-1],),
            initializer=keras.initializers.Constant(self.initial_slope),
            name="slope",
        )

    def call(self, x):  # (..., C) -> (..., C)
        return ops.where(x >= 0, x, self.slope * x)  # the kink's gradient at 0 is 1, as ReLU's

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "initial_slope": self.initial_slope}


prelu = PReLU  # the registry's entry: a keras.layers.Layer subclass

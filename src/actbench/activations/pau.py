"""PAU, the safe Padé activation unit of degrees (5, 4): ``P(x) / Q(x)`` with learnable
coefficients, initialised to approximate leaky ReLU (Molina, Schramowski, Kersting, ICLR 2020).

    P(x) = a0 + a1 x + a2 x^2 + a3 x^3 + a4 x^4 + a5 x^5
    Q(x) = 1 + |b1| |x| + |b2| |x|^2 + |b3| |x|^3 + |b4| |x|^4     (>= 1: no poles)

The denominator is the paper's "safe" PAU, the one its fitting code uses (``ratio_func_abs54``
in ``pau/find_coefficients.ipynb`` of ml-research/pau); its successor library,
ml-research/rational_activations, calls it version "A". Version "B", ``1 + |b1 x + ... + b4
x^4|``, differs from it once the coefficients move; at the initial ones below the two differ by
less than 1e-7 on [-3, 3].

Parameter sharing: one set of 10 coefficients per site, shared by all its channels, positions
and images, as in the paper (170 parameters in ResNet-18's 17 sites).

Initial coefficients: ``pade_optimized_leakyrelu`` of ml-research/pau
(``pau/cuda/python_imp/Pade.py``), the initialisation its ``PAU()`` uses, and the leaky ReLU
(5, 4) entry of rational_activations' ``rationals_config.json``. They fit leaky ReLU with slope
0.01 (PyTorch's default) on [-3, 3]: the largest error there is 0.034 (at x = 0, where P(0) =
a0), the RMS error 0.006 (tested). Outside [-3, 3] the unit is no longer close to leaky ReLU:
``P / Q`` grows like ``(a5 / |b4|) x = 0.505 x`` on both sides.

Precision: the unit computes in float32 whatever the dtype policy (the coefficients are float32
variables read as float32, x^5 needs the mantissa) and returns the input's dtype.
"""

import keras
from keras import ops

OTHER_NAMES = ("Padé Activation Unit (PAU)", "rational activation")
REFERENCES = (
    "Molina, Schramowski, Kersting: Padé Activation Units, ICLR 2020, arXiv:1907.06732",
    "Initial coefficients: ml-research/pau, pau/cuda/python_imp/Pade.py, pade_optimized_leakyrelu",
)
NUMERATOR = (  # a0 .. a5
    3.35583603e-02, 5.05000375e-01, 1.65343934e00, 2.01001052e00, 9.31901999e-01, 1.52424124e-01,
)  # fmt: skip
DENOMINATOR = (3.30847488e-06, 3.98021568e00, 5.12471206e-07, 3.01830109e-01)  # b1 .. b4


@keras.saving.register_keras_serializable(package="actbench")
class PAU(keras.layers.Layer):
    """``P(x) / (1 + sum_k |b_k| |x|^k)``; ``numerator`` (6,) and ``denominator`` (4,) per site."""

    def __init__(self, numerator=NUMERATOR, denominator=DENOMINATOR, **kwargs):
        super().__init__(**kwargs)
        self.initial_numerator = [float(a) for a in numerator]
        self.initial_denominator = [float(b) for b in denominator]

    def build(self, input_shape):
        self.numerator = self.add_weight(
            shape=(len(self.initial_numerator),),
            initializer=keras.initializers.Constant(self.initial_numerator),
            autocast=False,  # float32 under mixed precision too
            name="numerator",
        )
        self.denominator = self.add_weight(
            shape=(len(self.initial_denominator),),
            initializer=keras.initializers.Constant(self.initial_denominator),
            autocast=False,
            name="denominator",
        )

    def call(self, x):  # (...) -> (...), elementwise
        z = ops.cast(x, self.numerator.dtype)
        a = ops.cast(self.numerator, z.dtype)
        b = ops.abs(ops.cast(self.denominator, z.dtype))
        p = a[-1]
        for j in range(a.shape[0] - 2, -1, -1):  # Horner: a0 + x (a1 + x (a2 + ...))
            p = p * z + a[j]
        r = ops.abs(z)
        q = b[-1]
        for k in range(b.shape[0] - 2, -1, -1):
            q = q * r + b[k]
        return ops.cast(p / (1.0 + q * r), x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "numerator": self.initial_numerator,
            "denominator": self.initial_denominator,
        }


pau = PAU  # the registry's entry: a keras.layers.Layer subclass

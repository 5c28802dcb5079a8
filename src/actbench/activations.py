"""The activation registry: plain Keras-compatible functions, looked up by name.

Adding an activation is one function plus one line in ``_REGISTRY``. Every function takes and
returns a tensor of the same shape and dtype, works on any Keras backend (it uses ``keras.ops``),
and is registered as Keras-serializable so a saved ``.keras`` model reloads with no
``custom_objects``.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
from keras import ops

Activation = Callable[[keras.KerasTensor], keras.KerasTensor]

_PACKAGE = "actbench"


@keras.saving.register_keras_serializable(package=_PACKAGE)
def tanhrelu(x):
    """TanhReLU: ``x`` for ``x >= 0`` and ``tanh(x)`` for ``x < 0``.

    The gradient is ``1`` for ``x >= 0`` and ``1 - tanh(x)**2`` for ``x < 0``; it is continuous at
    0. Two choices keep it close to ReLU's cost without XLA (see the benchmark in the README):

    * the forward is ``maximum(x, tanh(x))``, two elementwise kernels instead of a compare, a
      ``tanh`` and a select: ``tanh(x) <= x`` exactly when ``x >= 0``;
    * a custom gradient reads only the output ``y``: ``1 - min(y, 0)**2`` is ``1`` where
      ``y >= 0`` and ``1 - tanh(x)**2`` where ``y < 0``, so nothing is recomputed and only ``y``
      is kept for the backward pass.
    """
    return _tanhrelu(x)


@ops.custom_gradient
def _tanhrelu(x):
    y = ops.maximum(x, ops.tanh(x))  # x for x >= 0, tanh(x) for x < 0; -inf -> -1, NaN -> NaN

    def grad(*args, upstream=None):
        if upstream is None:
            (upstream,) = args
        # y < 0 exactly where x < 0 (tanh keeps the sign), so the derivative needs y alone.
        return upstream * (1 - ops.square(ops.minimum(y, 0)))

    return y, grad


@keras.saving.register_keras_serializable(package=_PACKAGE)
def relu(x):
    return keras.activations.relu(x)


@keras.saving.register_keras_serializable(package=_PACKAGE)
def elu(x):
    return keras.activations.elu(x)


@keras.saving.register_keras_serializable(package=_PACKAGE)
def swish(x):
    """Swish with beta = 1, which is the same function as SiLU: ``x * sigmoid(x)``."""
    return keras.activations.silu(x)


@keras.saving.register_keras_serializable(package=_PACKAGE)
def gelu(x):
    """GELU, exact form ``0.5 x (1 + erf(x / sqrt 2))`` (not the tanh approximation)."""
    return keras.activations.gelu(x, approximate=False)


@keras.saving.register_keras_serializable(package=_PACKAGE)
def mish(x):
    return keras.activations.mish(x)


@keras.saving.register_keras_serializable(package=_PACKAGE)
def leaky_relu(x):
    """Leaky ReLU with slope 0.2 below zero (Keras' default)."""
    return keras.activations.leaky_relu(x, negative_slope=0.2)


@keras.saving.register_keras_serializable(package=_PACKAGE)
def selu(x):
    return keras.activations.selu(x)


_REGISTRY: dict[str, Activation] = {
    "relu": relu,
    "elu": elu,
    "swish": swish,
    "silu": swish,
    "tanhrelu": tanhrelu,
    "gelu": gelu,
    "mish": mish,
    "leaky_relu": leaky_relu,
    "selu": selu,
}


def names() -> list[str]:
    """Every registered name, aliases included, sorted."""
    return sorted(_REGISTRY)


def get(name: str) -> Activation:
    """Return the activation registered as ``name``; unknown names raise one-line ``ValueError``."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown activation {name!r}; valid names: {', '.join(names())}"
        ) from None

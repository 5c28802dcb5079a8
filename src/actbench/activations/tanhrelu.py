"""TanhReLU: ``x`` for ``x >= 0`` and ``tanh(x)`` for ``x < 0``, the study's candidate.

The gradient is ``1`` for ``x >= 0`` and ``1 - tanh(x)**2`` for ``x < 0``; it is continuous at
0. Two choices keep it close to ReLU's cost without XLA (see the benchmark in the README):

* the forward is ``maximum(x, tanh(x))``, two elementwise kernels instead of a compare, a
  ``tanh`` and a select: ``tanh(x) <= x`` exactly when ``x >= 0``;
* a custom gradient reads only the output ``y``: ``1 - min(y, 0)**2`` is ``1`` where ``y >= 0``
  and ``1 - tanh(x)**2`` where ``y < 0``, so nothing is recomputed and only ``y`` is kept for
  the backward pass.
"""

from keras import ops


def tanhrelu(x):
    return _tanhrelu(x)


@ops.custom_gradient
def _tanhrelu(x):
    y = ops.maximum(x, ops.tanh(x))  # x for x >= 0, tanh(x) for x < 0; -inf -> -1, NaN -> NaN

    def grad(*args, upstream=None):  # TensorFlow passes upstream as an argument, JAX by keyword
        if upstream is None:
            (upstream,) = args
        # y < 0 exactly where x < 0 (tanh keeps the sign), so the derivative needs y alone.
        return upstream * (1 - ops.square(ops.minimum(y, 0)))

    return y, grad

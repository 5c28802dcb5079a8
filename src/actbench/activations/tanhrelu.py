"""TanhReLU: ``x`` for ``x >= 0`` and ``tanh(x)`` for ``x < 0``, the study's candidate.

Prior art: this is not a new function. It is the **Tanh Linear Unit (TLU)** under another name:
the ``activations_plus`` package (github.com/DanielAvdar/activations-plus) defined
``tanh_linear_unit`` in ``activations_plus/simple/tanh_variants.py`` as
``torch.where(x >= 0, x, torch.tanh(x))``, exactly this function (commit ef149a4, 2025-04-28;
removed from the package again in commit 7ac99ca, 2025-04-29, and in none of its tagged
releases). What was and was not verified of its citation:

* Its docstring cites arXiv:2104.02639 as "TanhSoft: A Smooth Activation Function with High
  Convergence Speed for Lightweight Neural Networks" by Zhao et al. (2021). No paper of that
  title was found: it joins the title of TanhExp (Liu and Di, arXiv:2003.09855, which is
  ``x * tanh(exp(x))``) to the name TanhSoft (Biswas et al., arXiv:2009.03863, a family
  ``tanh(a x + b exp(c x)) * log(d + exp(x))``); neither defines this function. The text of
  arXiv:2104.02639 itself could not be retrieved here, so what it contains is unverified.
* The package's first version of the function (commit 62e1953, same day) was
  ``tanh(x / 2)`` below 0 and cited arXiv:2104.02862 ("Improving Deep Neural Networks with
  Tanh-Based Activations", Chen et al.); that number belongs to a CVPR 2021 person
  re-identification paper (Variational Distillation for Cross-Modal Person Re-identification).

So the function has a name and an implementation before this project; no verified paper
introducing it was found. Other hybrids of tanh and a linear part exist under similar names
(TaLU, Hasan et al. 2023, arXiv:2305.04402; tanhLU, with three parameters); whether one of them
is exactly this function was not checked.

The gradient is ``1`` for ``x >= 0`` and ``1 - tanh(x)**2`` for ``x < 0``; it is continuous at
0. Two choices keep it close to ReLU's cost without XLA (see the benchmark in the README):

* the forward is ``maximum(x, tanh(x))``, two elementwise kernels instead of a compare, a
  ``tanh`` and a select: ``tanh(x) <= x`` exactly when ``x >= 0``;
* a custom gradient reads only the output ``y``: ``1 - min(y, 0)**2`` is ``1`` where ``y >= 0``
  and ``1 - tanh(x)**2`` where ``y < 0``, so nothing is recomputed and only ``y`` is kept for
  the backward pass.
"""

from keras import ops

OTHER_NAMES = ("Tanh Linear Unit (TLU)",)
REFERENCES = (
    "activations_plus (github.com/DanielAvdar/activations-plus), tanh_variants.tanh_linear_unit, "
    "commit ef149a4 (2025-04-28): the same function",
    "arXiv:2104.02639, which activations_plus cites for it: not verified (see this module's "
    "docstring)",
)


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

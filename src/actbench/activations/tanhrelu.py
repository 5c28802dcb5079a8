"""TanhReLU: ``x`` for ``x >= 0`` and ``tanh(x)`` for ``x < 0``, the study's candidate.

Prior art: this is not a new function. It has two earlier names.

* **P-TELU with a = b = 1.** Duggal and Gupta, "P-TELU: Parametric Tan Hyperbolic Linear Unit
  Activation for Deep Neural Networks", ICCV Workshops 2017, pp. 974-978, define ``x`` for
  ``x >= 0`` and ``a * tanh(b * x)`` below, with ``a`` and ``b`` learned from the data; fixing
  ``a = b = 1`` gives this function. Checked: the title, authors, venue, pages and date, on the
  paper's page at openaccess.thecvf.com (its abstract and BibTeX); the abstract says only that
  it is inspired by PReLU and ELU, uses tanh where ELU uses an exponential, and tunes its
  parameters from the data. Not checked: the definition itself, since the paper's text was not retrieved. The
  definition above is the one issue #34 gives, and an independent implementation agrees with
  it (ai-on-browser/ai-on-browser.github.io, ``lib/model/nns/layer/ptelu.js``: ``x`` for
  ``x > 0``, ``alpha * tanh(beta * x)`` below, ``alpha = beta = 1`` by default), but that file
  does not cite the paper.
* **Tanh Linear Unit (TLU).** The ``activations_plus`` package (github.com/DanielAvdar/
  activations-plus) defined ``tanh_linear_unit`` in ``activations_plus/simple/tanh_variants.py``
  as ``torch.where(x >= 0, x, torch.tanh(x))``, exactly this function, in commit ef149a4
  (2025-04-28). Checked in a clone of that repository: commit 7ac99ca (2025-04-29) removed it
  and it is absent up to the newest commit read (9dd4c56); the package's tags (v0.0.1-beta to
  v0.1.1, 2025-04-14 to 2025-04-20) predate it; its earlier form was ``tanh(x / 2)`` below 0
  (commit 62e1953, 2025-04-28), to which commit 11ae4bb added a citation of arXiv:2104.02862
  ("Improving Deep Neural Networks with Tanh-Based Activations", Chen et al.). That number is a
  CVPR 2021 person re-identification paper (Farewell to Mutual Information: Variational
  Distillation for Cross-Modal Person Re-Identification; its text was found under that
  number). Commit ef149a4 cites arXiv:2104.02639 instead, as "TanhSoft: A Smooth Activation
  Function with High Convergence Speed for Lightweight Neural Networks" by Zhao et al. (2021).
  No paper of that title was found: it joins the title of TanhExp (Liu and Di,
  arXiv:2003.09855, ``x * tanh(exp(x))``) to the name TanhSoft (Biswas et al.,
  arXiv:2009.03863, ``tanh(a x + b exp(c x)) * log(d + exp(x))``), and neither defines this
  function (both checked by title and arXiv number, TanhSoft's form in its abstract). Not
  checked: what arXiv:2104.02639 contains; a search found no text under that number.

Other hybrids of tanh and a linear part exist under similar names (TaLU, Hasan et al. 2023,
arXiv:2305.04402; tanhLU, with three parameters); whether one of them is exactly this function
was not checked.

The gradient is ``1`` for ``x >= 0`` and ``1 - tanh(x)**2`` for ``x < 0``; it is continuous at
0. Two choices keep it close to ReLU's cost without XLA (docs/results/activation-cost.md):

* the forward is ``maximum(x, tanh(x))``, two elementwise kernels instead of a compare, a
  ``tanh`` and a select: ``tanh(x) <= x`` exactly when ``x >= 0``;
* a custom gradient reads only the output ``y``: ``1 - min(y, 0)**2`` is ``1`` where ``y >= 0``
  and ``1 - tanh(x)**2`` where ``y < 0``, so nothing is recomputed and only ``y`` is kept for
  the backward pass.
"""

from keras import ops

OTHER_NAMES = ("Tanh Linear Unit (TLU)",)
REFERENCES = (
    "Duggal, Gupta: P-TELU: Parametric Tan Hyperbolic Linear Unit Activation for Deep Neural "
    "Networks, ICCV Workshops 2017, pp. 974-978: x for x >= 0, a*tanh(b*x) below, a and b "
    "learned; a = b = 1 is this function (citation checked; definition not checked against the "
    "paper's text, see this module's docstring)",
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

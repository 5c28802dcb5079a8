"""The activation registry against NumPy/SciPy references and finite differences."""

import numpy as np
import pytest
import scipy.special
import tensorflow as tf

from actbench import activations

# A grid with zero, tiny, ordinary and large magnitudes on both sides.
GRID = np.concatenate([np.linspace(-6, 6, 241), [-1e4, -50.0, -1e-7, 0.0, 1e-7, 50.0, 1e4]]).astype(
    np.float64
)

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

REFERENCES = {
    "relu": lambda x: np.maximum(x, 0.0),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
    "swish": lambda x: x * scipy.special.expit(x),
    "silu": lambda x: x * scipy.special.expit(x),
    "tanhrelu": lambda x: np.where(x >= 0, x, np.tanh(x)),
    "gelu": lambda x: 0.5 * x * (1.0 + scipy.special.erf(x / np.sqrt(2.0))),
    "mish": lambda x: x * np.tanh(np.logaddexp(0.0, x)),
    "leaky_relu": lambda x: np.where(x >= 0, x, 0.2 * x),
    "selu": lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0.0))),
}


def test_registry_holds_exactly_the_documented_names():
    assert activations.names() == sorted(REFERENCES)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_values_match_numpy_reference(name):
    got = np.asarray(activations.get(name)(tf.constant(GRID)))
    np.testing.assert_allclose(got, REFERENCES[name](GRID), rtol=1e-6, atol=1e-12)


def _value_and_grad(x):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = activations.tanhrelu(x)
    return np.asarray(y), np.asarray(tape.gradient(y, x))


def test_tanhrelu_gradient_matches_analytic_derivative():
    _, g = _value_and_grad(GRID)
    expected = np.where(GRID >= 0, 1.0, 1.0 - np.tanh(GRID) ** 2)
    np.testing.assert_allclose(g, expected, rtol=1e-12, atol=1e-15)


def test_tanhrelu_gradient_matches_central_finite_differences():
    # Away from 0 so the stencil stays on one side of the kink in the second derivative.
    x = np.concatenate([np.linspace(-5, -0.01, 60), np.linspace(0.01, 5, 60)])
    h = 1e-6
    fd = (_value_and_grad(x + h)[0] - _value_and_grad(x - h)[0]) / (2 * h)
    np.testing.assert_allclose(_value_and_grad(x)[1], fd, rtol=1e-7, atol=1e-9)


def test_tanhrelu_derivative_is_continuous_at_zero():
    _, g = _value_and_grad(np.array([-1e-8, 0.0, 1e-8]))
    np.testing.assert_allclose(g, [1.0, 1.0, 1.0], rtol=1e-12)


def test_tanhrelu_inf_and_nan():
    y, g = _value_and_grad(np.array([np.inf, -np.inf, np.nan]))
    assert y[0] == np.inf
    assert y[1] == -1.0
    assert np.isnan(y[2])
    assert g[0] == 1.0 and g[1] == 0.0  # saturated tanh has zero slope


@pytest.mark.parametrize(
    ("dtype", "rtol"),
    [(tf.float16, 1e-3), (tf.bfloat16, 1e-2), (tf.float32, 1e-6), (tf.float64, 1e-12)],
)
def test_tanhrelu_keeps_dtype(dtype, rtol):
    x = tf.cast(tf.constant(GRID[np.abs(GRID) < 100]), dtype)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = activations.tanhrelu(x)
    g = tape.gradient(y, x)
    assert y.dtype == dtype and g.dtype == dtype
    xr = np.asarray(tf.cast(x, tf.float64))  # the values actually representable in dtype
    np.testing.assert_allclose(
        np.asarray(tf.cast(y, tf.float64)), REFERENCES["tanhrelu"](xr), rtol=rtol, atol=rtol
    )
    np.testing.assert_allclose(
        np.asarray(tf.cast(g, tf.float64)),
        np.where(xr >= 0, 1.0, 1.0 - np.tanh(xr) ** 2),
        rtol=rtol,
        atol=rtol,
    )


def test_unknown_name_is_one_line_naming_value_and_choices():
    with pytest.raises(ValueError) as err:
        activations.get("tanhrelu2")
    msg = str(err.value)
    assert "\n" not in msg
    assert "'tanhrelu2'" in msg
    for name in REFERENCES:
        assert name in msg

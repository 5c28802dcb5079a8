"""The activation plug-ins against NumPy/SciPy references and finite differences.

Backend-portable: runs under TensorFlow and, in the JAX environment, under JAX (the custom
gradient of TanhReLU is checked on whichever backend Keras uses).
"""

import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import scipy.special

from actbench import activations
from actbench.training.device import elementwise_derivative

pytestmark = pytest.mark.portable  # also runs on Keras + JAX (make test-jax)

ROOT = Path(__file__).resolve().parents[1]

# A grid with zero, tiny, ordinary and large magnitudes on both sides.
GRID = np.concatenate([np.linspace(-6, 6, 241), [-1e4, -50.0, -1e-7, 0.0, 1e-7, 50.0, 1e4]])

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

REFERENCES = {
    "relu": lambda x: np.maximum(x, 0.0),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
    "swish": lambda x: x * scipy.special.expit(x),
    "tanhrelu": lambda x: np.where(x >= 0, x, np.tanh(x)),
    "gelu": lambda x: 0.5 * x * (1.0 + scipy.special.erf(x / np.sqrt(2.0))),
    "mish": lambda x: x * np.tanh(np.logaddexp(0.0, x)),
    "leaky_relu": lambda x: np.where(x >= 0, x, 0.2 * x),
    "selu": lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0.0))),
}
FLOAT64 = keras.config.backend() == "tensorflow"  # JAX computes in float32 unless x64 is enabled
DTYPE = "float64" if FLOAT64 else "float32"


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x), dtype=np.float64)


def test_registry_finds_one_module_per_activation_and_the_declared_alias():
    assert activations.modules() == sorted(REFERENCES)
    assert activations.aliases() == {"silu": "swish"}
    assert activations.names() == sorted([*REFERENCES, "silu"])
    assert activations.source("silu") == ROOT / "src/actbench/activations/swish.py"
    assert activations.get("silu") is activations.get("swish")


def test_names_are_validated_without_importing_keras():
    code = ("import sys; sys.path.insert(0, 'src'); from actbench import activations, params; "
            "params.load('params.yaml'); print(activations.names()); "
            "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules, sorted(sys.modules)")  # fmt: skip
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_a_new_plugin_file_is_discovered_and_registered(tmp_path, monkeypatch):
    (tmp_path / "softsign.py").write_text(
        "import keras\n\n\ndef softsign(x):\n    return keras.activations.softsign(x)\n"
    )
    monkeypatch.setattr(activations, "HERE", tmp_path)
    monkeypatch.setattr(activations, "__path__", [str(tmp_path)])
    activations._modules.cache_clear()
    try:
        assert activations.modules() == ["softsign"]
        fn = activations.get("softsign")
        assert keras.saving.get_registered_name(fn) == "actbench>softsign"
        np.testing.assert_allclose(
            _np(fn(keras.ops.convert_to_tensor([-2.0, 2.0]))), [-2 / 3, 2 / 3], rtol=1e-6
        )
    finally:
        activations._modules.cache_clear()


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_values_match_numpy_reference(name):
    got = _np(activations.get(name)(keras.ops.convert_to_tensor(GRID, DTYPE)))
    x = GRID.astype(DTYPE).astype(np.float64)
    np.testing.assert_allclose(
        got, REFERENCES[name](x), rtol=1e-6 if FLOAT64 else 2e-6, atol=1e-12 if FLOAT64 else 1e-6
    )


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_every_activation_is_keras_serializable_under_actbench(name):
    assert keras.saving.get_registered_name(activations.get(name)) == f"actbench>{name}"


def _value_and_grad(x):
    fn = activations.get("tanhrelu")
    t = keras.ops.convert_to_tensor(np.asarray(x), DTYPE)
    return _np(fn(t)), _np(elementwise_derivative(fn, t))


def test_tanhrelu_gradient_matches_analytic_derivative():
    x = GRID[np.abs(GRID) < 100]
    _, g = _value_and_grad(x)
    expected = np.where(x >= 0, 1.0, 1.0 - np.tanh(x) ** 2)
    np.testing.assert_allclose(
        g, expected, rtol=1e-12 if FLOAT64 else 1e-6, atol=1e-15 if FLOAT64 else 1e-6
    )


def test_tanhrelu_custom_gradient_matches_central_finite_differences():
    # Away from 0 so the stencil stays on one side of the kink in the second derivative.
    x = np.concatenate([np.linspace(-5, -0.01, 60), np.linspace(0.01, 5, 60)])
    h = 1e-6 if FLOAT64 else 1e-3
    fd = (_value_and_grad(x + h)[0] - _value_and_grad(x - h)[0]) / (2 * h)
    np.testing.assert_allclose(
        _value_and_grad(x)[1], fd, rtol=1e-7 if FLOAT64 else 2e-3, atol=1e-9 if FLOAT64 else 2e-3
    )


def test_tanhrelu_derivative_is_continuous_at_zero_and_safe_at_infinities():
    _, g = _value_and_grad([-1e-8, 0.0, 1e-8])
    np.testing.assert_allclose(g, [1.0, 1.0, 1.0], rtol=1e-6)
    y, g = _value_and_grad([np.inf, -np.inf, np.nan])
    assert y[0] == np.inf and y[1] == -1.0 and np.isnan(y[2])
    assert g[0] == 1.0 and g[1] == 0.0  # saturated tanh has zero slope


@pytest.mark.parametrize(
    ("dtype", "rtol"), [("float16", 1e-3), ("bfloat16", 1e-2), ("float32", 1e-6)]
)
def test_tanhrelu_keeps_dtype(dtype, rtol):
    fn = activations.get("tanhrelu")
    x = keras.ops.cast(keras.ops.convert_to_tensor(GRID[np.abs(GRID) < 100], "float32"), dtype)
    y, g = fn(x), elementwise_derivative(fn, x)
    assert keras.backend.standardize_dtype(y.dtype) == dtype
    assert keras.backend.standardize_dtype(g.dtype) == dtype
    xr = _np(keras.ops.cast(x, "float32"))
    np.testing.assert_allclose(
        _np(keras.ops.cast(y, "float32")), REFERENCES["tanhrelu"](xr), rtol=rtol, atol=rtol
    )
    np.testing.assert_allclose(_np(keras.ops.cast(g, "float32")), np.where(xr >= 0, 1.0, 1.0 - np.tanh(xr) ** 2),
                               rtol=rtol, atol=rtol)  # fmt: skip


def test_unknown_names_and_aliases_are_one_line():
    with pytest.raises(ValueError) as err:
        activations.get("tanhrelu2")
    msg = str(err.value)
    assert "\n" not in msg and "'tanhrelu2'" in msg
    for name in REFERENCES:
        assert name in msg

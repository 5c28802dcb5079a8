"""The activation plug-ins against NumPy/SciPy references and finite differences.

Backend-portable: runs under TensorFlow and, in the JAX environment, under JAX (the custom
gradient of TanhReLU and the learnable plug-ins' gradients, with respect to their inputs and
to their weights, are checked on whichever backend Keras uses: in float64 on TensorFlow, in
float32 on JAX, which computes in float32 unless x64 is enabled).
"""

import re
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


def _pau(x, numerator, denominator):
    p = sum(a * x**j for j, a in enumerate(numerator))
    return p / (1.0 + sum(abs(b) * np.abs(x) ** (k + 1) for k, b in enumerate(denominator)))


# Layer plug-ins: NumPy reference of the same formula, given the layer's own weights by name.
LAYERS = {
    "prelu": lambda x, w: np.where(x >= 0, x, w["slope"] * x),
    "swish_beta": lambda x, w: x * scipy.special.expit(w["beta"] * x),
    "pau": lambda x, w: _pau(x, w["numerator"], w["denominator"]),
}
CHANNELS = 3  # per-channel plug-ins get 3 channels in these tests: (N, 3) inputs


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x), dtype=np.float64)


def test_registry_finds_one_module_per_activation_and_the_declared_alias():
    assert activations.modules() == sorted([*REFERENCES, *LAYERS])
    assert activations.aliases() == {"silu": "swish"}
    assert activations.names() == sorted([*REFERENCES, *LAYERS, "silu"])
    assert activations.source("silu") == ROOT / "src/actbench/activations/swish.py"
    assert activations.get("silu") is activations.get("swish")


def test_names_are_validated_without_importing_keras():
    code = ("import sys; sys.path.insert(0, 'src'); from actbench import activations, params; "
            "params.load('params.yaml'); print(activations.names()); "
            "print([(i.name, i.kind, i.other_names, i.references) for i in activations.catalog()]); "
            "assert activations.is_learnable('pau') and not activations.is_learnable('silu'); "
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


# --- metadata: kinds, other names, references --------------------------------------------------


def test_kinds_and_prior_art_metadata():
    assert {n: activations.kind(n) for n in activations.modules()} == {
        **dict.fromkeys(REFERENCES, "function"), **dict.fromkeys(LAYERS, "layer")
    }  # fmt: skip
    assert [i.name for i in activations.catalog()] == activations.modules()
    for found in activations.catalog():
        assert found.summary and found.references, (
            found.name
        )  # every shipped plug-in says where from
        assert all("\n" not in line for line in (*found.other_names, *found.references))
    tlu = activations.info("tanhrelu")
    assert tlu.other_names == ("Tanh Linear Unit (TLU)",)
    assert any("activations_plus" in r for r in tlu.references)
    assert any("2104.02639" in r and "not verified" in r for r in tlu.references)
    assert activations.info("silu").name == "swish"
    assert activations.info("pau").as_dict()["kind"] == "layer"


def test_a_module_that_binds_nothing_is_one_clear_error(tmp_path, monkeypatch):
    (tmp_path / "broken.py").write_text('"""Nothing named broken here."""\n\nX = 1\n')
    monkeypatch.setattr(activations, "HERE", tmp_path)
    activations._modules.cache_clear()
    try:
        assert activations.info("broken").kind is None
        with pytest.raises(ValueError, match=r"must define a function broken\(x\), or bind broken"):
            activations.get("broken")
    finally:
        activations._modules.cache_clear()


# --- layer plug-ins: values, gradients, sharing, serialization, precision ----------------------


def _layer(name, dtype=DTYPE, channels=CHANNELS, perturb=True):
    """A built layer of plug-in ``name``; ``perturb`` moves its weights off their initial values
    (deterministically, away from 0), so the checks do not depend on a special point."""
    layer = activations.get(name)(name=f"test_{name}", dtype=dtype)
    layer.build((None, channels))
    if perturb:
        rng = np.random.default_rng(7)
        for w in layer.weights:
            v = keras.ops.convert_to_numpy(w).astype(np.float64)
            step = rng.uniform(0.1, 0.3, v.shape) * rng.choice([-1, 1], v.shape)
            w.assign((v + step * np.maximum(np.abs(v), 0.5)).astype(w.dtype))
    return layer


def _weights(layer):
    return {w.name: np.asarray(keras.ops.convert_to_numpy(w), np.float64) for w in layer.weights}


def _grid(channels=CHANNELS, n=40, seed=0):
    """(n, channels) inputs in [-4, 4], at least 0.05 from every kink (0 for all three)."""
    x = np.random.default_rng(seed).uniform(-4, 4, (n, channels))
    return np.where(np.abs(x) < 0.05, 0.05 * np.sign(x + 1e-12), x)


def _run(layer, x):
    return _np(layer(keras.ops.convert_to_tensor(np.asarray(x), layer.compute_dtype)))


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_plugin_values_match_numpy_reference_with_its_own_weights(name):
    for perturb in (False, True):
        layer = _layer(name, perturb=perturb)
        x = np.concatenate([_grid(), [[-1e-7, 0.0, 1e-7]], [[-50.0, 50.0, 1e3]]])
        np.testing.assert_allclose(
            _run(layer, x), LAYERS[name](x.astype(DTYPE).astype(np.float64), _weights(layer)),
            rtol=1e-12 if FLOAT64 else 2e-6, atol=1e-12 if FLOAT64 else 1e-5,
        )  # fmt: skip


FD = {  # central-difference step and tolerances: float64 on TensorFlow, float32 on JAX
    True: {"h": 1e-6, "rtol": 1e-6, "atol": 1e-8},
    False: {"h": 1e-2, "rtol": 2e-3, "atol": 1e-3},
}[FLOAT64]


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_plugin_input_gradient_matches_central_finite_differences(name):
    layer, x = _layer(name), _grid()
    got = _np(elementwise_derivative(layer, keras.ops.convert_to_tensor(x, layer.compute_dtype)))
    h = FD["h"]
    fd = (_run(layer, x + h) - _run(layer, x - h)) / (2 * h)
    np.testing.assert_allclose(got, fd, rtol=FD["rtol"], atol=FD["atol"])


def _loss_and_weight_grads(layer, x, u):
    """``sum(u * layer(x))`` and its gradient with respect to each trainable weight, by the
    backend's automatic differentiation."""
    x = keras.ops.convert_to_tensor(x, layer.compute_dtype)
    if keras.config.backend() == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(u * layer(x))
        return float(loss), [_np(g) for g in tape.gradient(loss, layer.trainable_variables)]
    import jax
    import jax.numpy as jnp

    def loss_of(trainable):
        y, _ = layer.stateless_call(trainable, [v.value for v in layer.non_trainable_variables], x)
        return jnp.sum(jnp.asarray(u, y.dtype) * y)

    trainable = [v.value for v in layer.trainable_variables]
    loss, grads = jax.value_and_grad(loss_of)(trainable)
    return float(loss), [_np(g) for g in grads]


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_plugin_weight_gradients_match_central_finite_differences(name):
    layer, x = _layer(name), _grid()
    u = np.random.default_rng(3).normal(size=x.shape).astype(DTYPE)  # a generic upstream gradient
    _, grads = _loss_and_weight_grads(layer, x, u)
    h = FD["h"]
    for variable, grad in zip(layer.trainable_variables, grads, strict=True):
        base = _np(variable)
        fd = np.zeros_like(base)
        for i in np.ndindex(base.shape):
            for sign in (1, -1):
                moved = base.copy()
                moved[i] += sign * h
                variable.assign(moved.astype(variable.dtype))
                fd[i] += sign * _loss_and_weight_grads(layer, x, u)[0] / (2 * h)
            variable.assign(base.astype(variable.dtype))
        scale = np.max(np.abs(fd))  # loss-sized rounding in float32: relative to the largest
        np.testing.assert_allclose(grad, fd, rtol=FD["rtol"], atol=FD["atol"] * max(scale, 1.0))


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_plugins_are_elementwise(name):
    layer, x = _layer(name), _grid(n=4)
    base = _run(layer, x)
    for i in np.ndindex(x.shape):
        moved = x.copy()
        moved[i] += 0.5
        changed = _run(layer, moved) != base
        assert changed[i] and changed.sum() == 1, (name, i)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_every_site_is_a_fresh_instance_with_its_own_weights(name):
    a, b = activations.site(name, "site_a"), activations.site(name, "site_b")
    assert type(a) is activations.get(name) and a is not b
    assert (a.name, b.name) == ("site_a", "site_b")
    a.build((None, CHANNELS))
    b.build((None, CHANNELS))
    a.weights[0].assign(keras.ops.ones(a.weights[0].shape) * 0.7)
    assert not np.allclose(_np(b.weights[0]), 0.7)
    assert activations.is_learnable(name)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_plugin_serializes_and_reloads_with_its_weights(name):
    layer = _layer(name, dtype="float32")
    assert keras.saving.get_registered_name(type(layer)) == f"actbench>{type(layer).__name__}"
    config = keras.saving.serialize_keras_object(layer)
    again = keras.saving.deserialize_keras_object(config)
    assert type(again) is type(layer) and again.get_config() == layer.get_config()
    assert again.built  # Keras records the build shape: the weights exist before any call
    again.set_weights(layer.get_weights())
    x = _grid()
    np.testing.assert_allclose(_run(again, x), _run(layer, x), rtol=1e-6)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_plugin_under_mixed_bfloat16_keeps_float32_weights(name):
    layer = activations.get(name)(name="mixed", dtype="mixed_bfloat16")
    layer.build((None, CHANNELS))
    assert all(keras.backend.standardize_dtype(w.dtype) == "float32" for w in layer.weights)
    x = _grid()
    y = layer(keras.ops.convert_to_tensor(x, "float32"))
    assert keras.backend.standardize_dtype(y.dtype) == "bfloat16"
    xr = _np(keras.ops.cast(keras.ops.cast(x, "bfloat16"), "float32"))
    np.testing.assert_allclose(
        _np(keras.ops.cast(y, "float32")), LAYERS[name](xr, _weights(layer)), rtol=2e-2, atol=2e-2
    )
    _, grads = _loss_and_weight_grads(layer, x, np.ones(x.shape, "float32"))
    assert all(np.all(np.isfinite(g)) for g in grads)


def test_pau_initial_coefficients_fit_leaky_relu_as_documented():
    from actbench.activations import pau

    x = np.linspace(-3, 3, 6001)
    f = _pau(x, pau.NUMERATOR, pau.DENOMINATOR)
    err = f - np.where(x >= 0, x, 0.01 * x)  # leaky ReLU, slope 0.01 (PyTorch's default)
    assert np.max(np.abs(err)) < 0.035 and np.sqrt(np.mean(err**2)) < 0.006
    version_b = sum(a * x**j for j, a in enumerate(pau.NUMERATOR)) / (
        1 + np.abs(sum(b * x ** (k + 1) for k, b in enumerate(pau.DENOMINATOR)))
    )  # 1 + |b1 x + ... + b4 x^4|: the same function at these coefficients
    assert np.max(np.abs(f - version_b)) < 1e-7


# --- the docs' learnable example (docs/activations.md) -----------------------------------------


def _docs_example() -> str:
    text = (ROOT / "docs" / "activations.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    (code,) = [b for b in blocks if "learnable_elu = LearnableELU" in b]
    return code


def test_the_docs_learnable_example_works_as_a_plugin(tmp_path, monkeypatch):
    (tmp_path / "learnable_elu.py").write_text(_docs_example())
    monkeypatch.setattr(activations, "HERE", tmp_path)
    monkeypatch.setattr(activations, "__path__", [str(tmp_path)])
    activations._modules.cache_clear()
    try:
        assert activations.modules() == ["learnable_elu"]
        assert activations.kind("learnable_elu") == "layer"
        assert activations.info("learnable_elu").references
        a, b = (activations.site("learnable_elu", n) for n in ("a", "b"))
        x = keras.ops.convert_to_tensor([[-2.0, 0.5]])
        np.testing.assert_allclose(_np(a(x)), [[np.expm1(-2.0), 0.5]], rtol=1e-6)
        a.alpha.assign(2.0)
        np.testing.assert_allclose(_np(a(x)), [[2 * np.expm1(-2.0), 0.5]], rtol=1e-6)
        np.testing.assert_allclose(_np(b(x)), [[np.expm1(-2.0), 0.5]], rtol=1e-6)  # its own alpha
        assert keras.saving.get_registered_name(type(a)) == "actbench>LearnableELU"
        again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(a))
        assert type(again) is type(a)
    finally:
        activations._modules.cache_clear()
        sys.modules.pop("actbench.activations.learnable_elu", None)


def test_the_cli_lists_kinds_other_names_and_sources():
    res = subprocess.run(
        [sys.executable, "-m", "actbench", "activations"], cwd=ROOT, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    heads = {ln.split()[0]: ln.split()[1] for ln in res.stdout.splitlines() if not ln[:1].isspace()}
    assert heads == {n: activations.kind(n) for n in activations.modules()}
    block = res.stdout.split("tanhrelu", 1)[1]
    assert "known as: Tanh Linear Unit (TLU)" in block
    assert "activations_plus" in block and "2104.02639" in block


ASSIGNED_PLUGIN = '''"""A learnable scale shared by the whole site, bound by assignment."""

import keras


class Scale(keras.layers.Layer):
    def __init__(self, start=0.5, **kwargs):
        super().__init__(**kwargs)
        self.start = start

    def build(self, input_shape):
        self.k = self.add_weight(shape=(), initializer=keras.initializers.Constant(self.start))

    def call(self, x):
        return self.k * x

    def get_config(self):
        return {**super().get_config(), "start": self.start}


half_scale = Scale
'''


def test_a_layer_plugin_is_a_layer_class_and_other_bindings_are_refused_in_one_line(
    tmp_path, monkeypatch
):
    (tmp_path / "half_scale.py").write_text(ASSIGNED_PLUGIN)
    (tmp_path / "gives_function.py").write_text(
        '"""Bound by assignment, so read as a layer plug-in, but a function."""\n\n'
        "import keras\n\ngives_function = keras.activations.relu\n"
    )
    (tmp_path / "gives_factory.py").write_text(
        '"""Bound by assignment to a factory of layers: not a plug-in kind."""\n\n'
        "import keras\n\n\ndef _make(name):\n    return keras.layers.ReLU(name=name)\n\n\n"
        "gives_factory = _make\n"
    )
    monkeypatch.setattr(activations, "HERE", tmp_path)
    monkeypatch.setattr(activations, "__path__", [str(tmp_path)])
    activations._modules.cache_clear()
    try:
        assert activations.kind("half_scale") == "layer"
        layer = activations.site("half_scale", "s1")
        assert type(layer).__name__ == "Scale" and layer.name == "s1"
        np.testing.assert_allclose(_np(layer(keras.ops.convert_to_tensor([2.0]))), [1.0])
        assert keras.saving.get_registered_name(type(layer)) == "actbench>Scale"
        assert activations.name_of(activations.get("half_scale")) == "half_scale"
        assert activations.name_of("half_scale") == "half_scale"
        for name, bound in (("gives_function", "relu"), ("gives_factory", "_make")):
            assert activations.kind(name) == "layer"
            with pytest.raises(ValueError) as err:
                activations.site(name, "s2")
            assert f"{name} = {bound} is not a keras.layers.Layer subclass" in str(err.value)
            assert f"`def {name}(x)`" in str(err.value) and "\n" not in str(err.value)
        with pytest.raises(ValueError, match="is a layer instance"):
            activations.site(layer, "s3")
    finally:
        activations._modules.cache_clear()
        for name in ("half_scale", "gives_function", "gives_factory"):
            sys.modules.pop(f"actbench.activations.{name}", None)

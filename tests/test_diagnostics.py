"""Activation diagnostics per site and the learned-shape figure, for function and layer
plug-ins alike. Backend-portable."""

import keras
import numpy as np
import pytest

from actbench import activations, evaluation, plotting
from actbench.resnet import activation_sites, build_resnet18, site_names
from actbench.training import device

pytestmark = pytest.mark.portable  # also runs on Keras + JAX (make test-jax)

IMAGES = np.random.default_rng(5).integers(0, 256, (12, 8, 8, 1), dtype=np.uint8)


def _model(name, width=2, seed=0):
    keras.utils.set_random_seed(seed)
    return build_resnet18((8, 8, 1), 3, name, width=width)


def _legacy_diagnostics(model, images, activation):
    """The diagnostics as they were before layer plug-ins: every ``keras.layers.Activation``
    of the body, differentiated through the registry's function."""
    acts = [lay for lay in model.layers if isinstance(lay, keras.layers.Activation)]
    probe = keras.Model(model.inputs, [lay.input for lay in acts])
    fn = activations.get(activation)
    zs = probe([images.astype(np.float32) / 255.0], training=False)
    out = {}
    for lay, z in zip(acts, zs, strict=True):
        z = keras.ops.convert_to_tensor(z, "float32")
        slope = np.abs(keras.ops.convert_to_numpy(device.elementwise_derivative(fn, z)))
        never = np.all(keras.ops.convert_to_numpy(z) < 0, axis=0)
        out[lay.name] = {"never_active_fraction": float(np.mean(never)),
                         "mean_abs_derivative": float(slope.sum(dtype=np.float64) / slope.size)}  # fmt: skip
    return out


@pytest.mark.parametrize("name", ["relu", "tanhrelu"])
def test_function_plugins_give_the_same_numbers_as_before(name):
    model = _model(name)
    got = evaluation.diagnostics(model, IMAGES, name)
    legacy = _legacy_diagnostics(model, IMAGES, name)
    assert list(legacy) == list(got["per_layer"])
    for site, before in legacy.items():
        assert got["per_layer"][site] == pytest.approx(before, rel=1e-12)
    assert list(got["per_layer"]) == site_names()
    assert got["learned_parameters"] == {}


@pytest.mark.parametrize("name", ["prelu", "swish_beta", "pau"])
def test_layer_plugin_derivative_is_the_trained_sites_own(name):
    model = _model(name)
    for i, site in enumerate(activation_sites(model)):  # trained-looking weights, site by site
        for w in site.weights:
            w.assign(keras.ops.convert_to_numpy(w) * (0.6 + 0.05 * i))
    got = evaluation.diagnostics(model, IMAGES)["per_layer"]
    sites = activation_sites(model)
    probe = keras.Model(model.inputs, [s.input for s in sites])
    h = 1e-4  # float32: rounding ~1e-4 per element, and few inputs lie within h of a kink
    for site, z in zip(sites, probe([IMAGES.astype(np.float32) / 255.0]), strict=True):
        z = np.asarray(keras.ops.convert_to_numpy(z), np.float64)

        def f(v, site=site):
            return np.asarray(keras.ops.convert_to_numpy(site(v.astype("float32"))), np.float64)

        fd = (f(z + h) - f(z - h)) / (2 * h)  # central differences of the site itself
        assert got[site.name]["mean_abs_derivative"] == pytest.approx(np.abs(fd).mean(), rel=2e-3)
        assert got[site.name]["never_active_fraction"] == float(np.mean(np.all(z < 0, axis=0)))


def test_learned_parameters_are_summarised_per_site_and_weight():
    prelu = _model("prelu")
    first = activation_sites(prelu)[0]
    first.slope.assign([0.1, 0.4])
    learned = evaluation.diagnostics(prelu, IMAGES)["learned_parameters"]
    assert list(learned) == site_names()
    s = learned["stem_act"]["slope"]
    assert s["shape"] == [2] and s["values"] == pytest.approx([0.1, 0.4])
    assert (s["mean"], s["std"], s["min"], s["max"]) == pytest.approx((0.25, 0.15, 0.1, 0.4))
    assert s["max_abs_change"] == pytest.approx(0.15)
    assert learned["stage1_block1_act1"]["slope"]["max_abs_change"] == 0.0  # untouched: at init
    pau = evaluation.diagnostics(_model("pau"), IMAGES)["learned_parameters"]
    from actbench.activations.pau import DENOMINATOR, NUMERATOR

    coefficients = pau["stage4_block2_act2"]
    assert coefficients["numerator"]["values"] == pytest.approx(NUMERATOR, rel=1e-6)
    assert coefficients["denominator"]["values"] == pytest.approx(DENOMINATOR, rel=1e-6)


def test_diagnostics_of_a_mixed_precision_layer_plugin_model_run_in_float32():
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = _model("pau")
    finally:
        keras.config.set_dtype_policy("float32")
    assert activation_sites(model)[0].compute_dtype == "bfloat16"
    diag = evaluation.diagnostics(model, IMAGES)
    assert diag["dtype"] == "float32"
    assert all(np.isfinite(v["mean_abs_derivative"]) for v in diag["per_layer"].values())
    assert len(diag["learned_parameters"]) == 17


def test_the_float32_copy_of_a_mixed_precision_run_is_the_float32_model_with_its_weights():
    """``keras.models.clone_model`` rebuilds every layer, those of the nested ResNet included,
    in float32: names and weights kept, the logits those of a float32 build of the same weights."""
    from actbench.training import loop

    x = IMAGES[:4]
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        _, mixed = loop.build_model((8, 8, 1), 3, "prelu", width=2, pad=1, flip=False)
    finally:
        keras.config.set_dtype_policy("float32")
    _, plain = loop.build_model((8, 8, 1), 3, "prelu", width=2, pad=1, flip=False)
    assert evaluation.float32_copy(plain) is plain  # already float32: no copy
    copy = evaluation.float32_copy(mixed)
    body, mixed_body = evaluation.body_of(copy), evaluation.body_of(mixed)
    assert mixed_body.get_layer("stem_conv").compute_dtype == "bfloat16"
    assert {lay.compute_dtype for lay in [*copy.layers, *body.layers]} == {"float32"}
    assert [lay.name for lay in body.layers] == [lay.name for lay in mixed_body.layers]
    for got, want in zip(copy.weights, mixed.weights, strict=True):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(got), keras.ops.convert_to_numpy(want)
        )
    plain.set_weights(mixed.get_weights())
    np.testing.assert_allclose(keras.ops.convert_to_numpy(copy(x)), keras.ops.convert_to_numpy(plain(x)),
                               rtol=1e-6, atol=1e-6)  # fmt: skip


def test_learned_shapes_draws_every_site_of_every_model(tmp_path):
    trained = _model("pau")
    site = activation_sites(trained)[3]
    site.numerator.assign(keras.ops.convert_to_numpy(site.numerator) * 1.5)
    curves = plotting.site_curves(site)  # (401, C): one shared coefficient set, C equal columns
    from actbench.activations.pau import DENOMINATOR, NUMERATOR

    x = plotting.SHAPE_GRID.astype(np.float64)
    num = np.asarray(NUMERATOR) * 1.5
    ref = sum(a * x**j for j, a in enumerate(num)) / (
        1 + sum(abs(b) * np.abs(x) ** (k + 1) for k, b in enumerate(DENOMINATOR))
    )
    np.testing.assert_allclose(
        curves, np.repeat(ref[:, None], curves.shape[1], 1), rtol=1e-4, atol=1e-5
    )
    initial = plotting.site_curves(site, initial=True)
    assert not np.allclose(initial, curves)
    prelu = _model("prelu", seed=1)
    activation_sites(prelu)[0].slope.assign([0.0, 0.5])
    per_channel = plotting.site_curves(activation_sites(prelu)[0])
    np.testing.assert_allclose(per_channel[:, 1], np.where(x >= 0, x, 0.5 * x), rtol=1e-6)
    path = tmp_path / "learned_pau.png"
    plotting.learned_shapes(
        {"digits": trained, "other": _model("pau", seed=2)}, "pau", "quick", path
    )
    assert path.stat().st_size > 10_000
    plotting.learned_shapes({"digits": prelu}, "prelu", "quick", tmp_path / "learned_prelu.png")
    assert (tmp_path / "learned_prelu.png").is_file()

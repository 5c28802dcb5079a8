"""ResNet-18: architecture, every activation end to end, save/reload. Backend-portable."""

import subprocess
import sys

import keras
import numpy as np
import pytest

from actbench import activations
from actbench.resnet import activation_sites, build_resnet18, site_names

from .project import ROOT

LEARNABLE = [n for n in activations.modules() if activations.is_learnable(n)]

pytestmark = pytest.mark.portable  # also runs on Keras + JAX (make test-jax)


def _trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def test_width64_matches_standard_cifar_resnet18_size():
    model = build_resnet18((32, 32, 3), 10, "relu", width=64)
    assert _trainable(model) == 11_173_962


def test_layer_names_are_deterministic():
    a = build_resnet18((8, 8, 1), 10, "tanhrelu", width=4)
    b = build_resnet18((8, 8, 1), 10, "tanhrelu", width=4)
    assert [lay.name for lay in a.layers] == [lay.name for lay in b.layers]


def test_every_nonlinearity_is_the_chosen_activation():
    model = build_resnet18((8, 8, 1), 10, "elu", width=4)
    acts = [lay for lay in model.layers if isinstance(lay, keras.layers.Activation)]
    # stem + 8 blocks x 2
    assert len(acts) == 17
    assert all(lay.activation is activations.get("elu") for lay in acts)
    assert activation_sites(model) == acts  # in the order the forward pass meets them
    assert [lay.name for lay in acts] == site_names()
    assert site_names()[:3] == ["stem_act", "stage1_block1_act1", "stage1_block1_act2"]


@pytest.mark.parametrize("name", LEARNABLE)
def test_learnable_sites_are_17_instances_each_with_its_own_weights(name):
    model = build_resnet18((8, 8, 1), 10, name, width=2)
    sites = activation_sites(model)
    assert [s.name for s in sites] == site_names() and len(sites) == 17
    assert all(type(s) is activations.get(name) for s in sites)
    assert len({id(s) for s in sites}) == 17
    variables = [id(w) for s in sites for w in s.weights]
    assert variables and len(set(variables)) == len(variables)  # nothing shared between sites
    channels = [int(s.input.shape[-1]) for s in sites]
    assert channels == [2] * 5 + [4] * 4 + [8] * 4 + [16] * 4
    if name in ("prelu", "swish_beta"):  # one parameter per channel of the site
        assert [tuple(s.weights[0].shape) for s in sites] == [(c,) for c in channels]
    own = {id(w) for s in sites for w in s.trainable_weights}
    assert own <= {id(w) for w in model.trainable_weights}
    assert model.name == f"resnet18_{name}_w2"


def test_activation_sites_finds_the_resnet_inside_a_run_and_refuses_other_models():
    body = build_resnet18((8, 8, 1), 3, "prelu", width=2)
    inputs = keras.Input((8, 8, 1))
    outer = keras.Model(inputs, body(inputs))
    assert activation_sites(outer) == activation_sites(body)
    other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="no activation sites"):
        activation_sites(other)


def test_stem_keeps_resolution_and_stages_downsample():
    model = build_resnet18((28, 28, 1), 10, "relu", width=4)
    assert model.get_layer("stem_act").output.shape[1:3] == (28, 28)
    assert model.get_layer("stage4_block2_act2").output.shape[1:] == (4, 4, 32)
    assert model.output.shape[-1] == 10


@pytest.mark.parametrize("name", activations.modules())
@pytest.mark.parametrize("shape", [(8, 8, 1), (28, 28, 1)])
def test_forward_backward_finite_for_every_activation(name, shape):
    model = build_resnet18(shape, 10, name, width=4)
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    # Batch 4, not 3: TF 2.21 with oneDNN crashes (SIGSEGV) in the conv backward at batch 3.
    x = np.random.default_rng(1).random((4, *shape), dtype=np.float32)
    before = [w.copy() for w in model.get_weights()]
    loss = model.train_on_batch(x, np.ones((4, 10), np.float32))
    logits = model.predict(x, verbose=0)
    assert logits.shape == (4, 10) and np.all(np.isfinite(logits)) and np.isfinite(loss)
    after = model.get_weights()
    assert all(np.all(np.isfinite(w)) for w in after)
    assert not np.allclose(before[0], after[0])  # the stem kernel received a gradient


def test_logits_are_float32_under_mixed_precision():
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = build_resnet18((8, 8, 1), 10, "tanhrelu", width=4)
    finally:
        keras.config.set_dtype_policy("float32")
    assert model.get_layer("stem_conv").compute_dtype == "bfloat16"
    assert model.get_layer("logits").compute_dtype == "float32"
    out = model(np.zeros((4, 8, 8, 1), np.float32))
    assert keras.backend.standardize_dtype(out.dtype) == "float32"


def test_tanhrelu_model_reloads_without_custom_objects_once_the_activation_is_imported(tmp_path):
    model = build_resnet18((32, 32, 3), 10, "tanhrelu", width=4)
    x = np.random.default_rng(0).random((4, 32, 32, 3), dtype=np.float32)
    path = tmp_path / "m.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(
        reloaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6
    )


def test_callable_activation_is_accepted():
    model = build_resnet18((8, 8, 1), 3, activations.get("selu"), width=2)
    assert model.output.shape[-1] == 3


def test_bad_width_and_name_fail_clearly():
    with pytest.raises(ValueError, match="width"):
        build_resnet18((8, 8, 1), 3, "relu", width=0)
    with pytest.raises(ValueError, match="unknown activation 'nope'"):
        build_resnet18((8, 8, 1), 3, "nope")


def test_learnable_models_reload_in_a_fresh_interpreter(tmp_path):
    """Saved with perturbed activation weights; a new process imports the plug-in modules and
    nothing else of actbench, then ``keras.saving.load_model``: same weights, same outputs."""
    x = np.random.default_rng(0).random((4, 8, 8, 1), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    for i, name in enumerate(LEARNABLE):
        model = build_resnet18((8, 8, 1), 3, name, width=2)
        for site in activation_sites(model):
            for w in site.weights:
                v = keras.ops.convert_to_numpy(w)
                w.assign(v * (1.1 + 0.05 * i) + 0.01)
        model.save(tmp_path / f"{name}.keras")
        np.save(tmp_path / f"{name}.npy", keras.ops.convert_to_numpy(model(x, training=False)))
    code = f"""
import sys
sys.path.insert(0, {str(ROOT / "src")!r})
import numpy as np, keras
from pathlib import Path
names = {LEARNABLE!r}
for name in names:
    __import__(f"actbench.activations.{{name}}")
from actbench.resnet import activation_sites
d = Path({str(tmp_path)!r})
x = np.load(d / "x.npy")
for name in names:
    model = keras.saving.load_model(d / f"{{name}}.keras")
    assert type(activation_sites(model)[0]).__module__ == f"actbench.activations.{{name}}"
    y = keras.ops.convert_to_numpy(model(x, training=False))
    np.testing.assert_allclose(y, np.load(d / f"{{name}}.npy"), rtol=1e-5, atol=1e-6)
print("reloaded", names)
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "reloaded" in res.stdout

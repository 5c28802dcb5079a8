"""ResNet-18: architecture, every activation end to end, save/reload. Backend-portable."""

import keras
import numpy as np
import pytest

from actbench import activations
from actbench.resnet import build_resnet18

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

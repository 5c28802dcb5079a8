"""The training path: schedule, host batches, on-device augmentation, resumable randomness."""

import math

import keras
import numpy as np
import pytest

from actbench.training import loop
from actbench.training.pipeline import (
    Augment,
    Batches,
    cutout_pixels,
    even_batch,
    no_draws,
    padding_pixels,
)

pytestmark = pytest.mark.portable  # also runs on Keras + JAX (make test-jax)


def test_warmup_cosine_matches_its_formula():
    sched = loop.WarmupCosine(peak=0.1, warmup_steps=10, total_steps=110)
    for step in (0, 5, 10, 35, 60, 109, 110, 500):
        if step < 10:
            expected = 0.1 * step / 10
        else:
            progress = min((step - 10) / 100, 1.0)
            expected = 0.5 * 0.1 * (1 + math.cos(math.pi * progress))
        assert float(keras.ops.convert_to_numpy(sched(step))) == pytest.approx(
            expected, rel=1e-5, abs=1e-7
        )
    assert sched.get_config() == {"peak": 0.1, "warmup_steps": 10, "total_steps": 110}


def test_padding_pixels_and_even_batches():
    assert [padding_pixels(s, 0.125) for s in (32, 28, 8)] == [4, 4, 1]
    assert padding_pixels(32, 0.0) == 0
    assert [cutout_pixels(s, 0.375) for s in (32, 28, 8)] == [12, 10, 3] and cutout_pixels(
        32, 0
    ) == 0
    assert (
        even_batch(10_000, 512) == 500
        and even_batch(200, 512) == 200
        and even_batch(1000, 512) == 500
    )


def test_batches_are_fixed_shape_uint8_with_draws_and_a_function_of_seed_and_epoch():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (70, 8, 8, 1), dtype=np.uint8)
    y = rng.integers(0, 3, 70)
    a, b = (
        Batches(x, y, 3, 32, seed=5, pad=1, flip=True),
        Batches(x, y, 3, 32, seed=5, pad=1, flip=True),
    )
    assert len(a) == 2  # 70 // 32: the remainder is dropped, every batch has the same shape
    (xa, draws), ya = a[0]
    assert xa.shape == (32, 8, 8, 1) and xa.dtype == np.uint8 and ya.shape == (32, 3)
    assert draws.shape == (32, 5) and draws.dtype == np.int32
    assert set(draws[:, :2].ravel()) <= {0, 1, 2} and set(draws[:, 2]) == {0, 1}
    assert not draws[:, 3:].any()  # no cutout: no corner drawn, the same stream as without it
    np.testing.assert_array_equal(ya.sum(axis=1), np.ones(32))
    b.set_epoch(3)
    b.set_epoch(0)  # epoch 0 again: the same order and draws as a fresh run's, whatever came before
    for i in range(2):
        np.testing.assert_array_equal(a[i][0][0], b[i][0][0])
        np.testing.assert_array_equal(a[i][0][1], b[i][0][1])
    a.set_epoch(1)
    assert not np.array_equal(a[0][0][0], b[0][0][0])
    assert not np.array_equal(Batches(x, y, 3, 32, seed=6)[0][0][0], b[0][0][0])
    assert not Batches(x, y, 3, 32, seed=5)[0][0][1].any()  # no padding, no flips: nothing drawn


def test_augment_scales_uint8_to_unit_floats_and_is_identity_at_inference():
    x = np.arange(64, dtype=np.uint8).reshape(1, 8, 8, 1)
    layer = Augment(pad=1, flip=True, cutout=3, reflect=True)
    for out in (layer(x), layer([x, np.array([[2, 0, 1, 2, 2]], np.int32)], training=False)):
        out = keras.ops.convert_to_numpy(out)
        assert out.dtype == np.float32
        np.testing.assert_allclose(out, x / 255.0, rtol=1e-6)


def test_crop_and_flip_apply_exactly_the_draws():
    x = np.arange(64, dtype=np.uint8).reshape(1, 8, 8, 1) + 1  # no zero pixels
    src = x[0, :, :, 0].astype(np.float32) / 255
    padded = np.zeros((10, 10), np.float32)
    padded[1:9, 1:9] = src
    draws = np.array(
        [[dy, dx, f, 0, 0] for dy in range(3) for dx in range(3) for f in (0, 1)], np.int32
    )
    images = np.repeat(x, len(draws), axis=0)
    out = keras.ops.convert_to_numpy(Augment(pad=1, flip=True)([images, draws], training=True))[
        ..., 0
    ]
    for (dy, dx, f, _, _), img in zip(draws, out, strict=True):
        crop = padded[dy : dy + 8, dx : dx + 8]  # a shift of (dy - 1, dx - 1) with zero padding
        np.testing.assert_allclose(
            img, crop[:, ::-1] if f else crop, rtol=1e-6
        )  # one-hot selection


def test_cutout_and_reflect_padding_match_numpy():
    """Cutout zeroes the drawn square (inside the image); reflect padding is NumPy's 'reflect'
    (the mirror without the edge pixel, as the reference's F.pad 'reflect'); then crop and flip."""
    rng = np.random.default_rng(1)
    x = rng.integers(1, 256, (6, 8, 8, 2), dtype=np.uint8)  # (B, H, W, C), no zero pixels
    draws = np.stack([rng.integers(0, 5, 6), rng.integers(0, 5, 6), rng.integers(0, 2, 6),
                      rng.integers(0, 6, 6), rng.integers(0, 6, 6)], axis=1).astype(np.int32)  # fmt: skip
    out = keras.ops.convert_to_numpy(
        Augment(pad=2, flip=True, cutout=3, reflect=True)([x, draws], training=True)
    )
    for img, (dy, dx, f, cy, cx), out_img in zip(x, draws, out, strict=True):
        ref = img.astype(np.float32) / 255
        ref[cy : cy + 3, cx : cx + 3] = 0.0  # the cutout square
        ref = np.pad(ref, [(2, 2), (2, 2), (0, 0)], mode="reflect")[dy : dy + 8, dx : dx + 8]
        np.testing.assert_allclose(out_img, ref[:, ::-1] if f else ref, rtol=1e-6)


def test_cutout_corners_keep_the_square_inside_and_vary_per_image():
    x = np.zeros((4000, 8, 8, 1), np.uint8)
    b = Batches(x, np.zeros(4000, int), 2, 4000, seed=0, pad=1, cutout=3)
    corners = b.draws[:, 3:]
    assert corners.min() == 0 and corners.max() == 8 - 3  # every corner that fits, no other
    assert len({tuple(c) for c in corners}) == 36  # 6 x 6 positions, all drawn
    off = Batches(x, np.zeros(4000, int), 2, 4000, seed=0, pad=1)
    np.testing.assert_array_equal(off.draws[:, :3], b.draws[:, :3])  # cutout adds, never reorders


def test_the_device_resident_feed_gives_the_same_batches_as_the_host_feed():
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, (100, 8, 8, 3), dtype=np.uint8)
    y = rng.integers(0, 4, 100)
    host = Batches(x, y, 4, 16, seed=3, pad=1, flip=True, cutout=2)
    dev = Batches(x, y, 4, 16, seed=3, pad=1, flip=True, cutout=2, on_device=True)
    for epoch in (0, 2):
        host.set_epoch(epoch)
        dev.set_epoch(epoch)
        for i in range(len(host)):
            (hx, hd), hy = host[i]
            (dx, dd), dy = dev[i]
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(dx), hx)
            np.testing.assert_array_equal(dd, hd)
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(dy), hy)


def test_flip_tta_averages_the_logits_of_each_image_and_its_mirror():
    from actbench.evaluation import predict_logits

    inputs = keras.Input((4, 4, 1), dtype="uint8")
    flat = keras.layers.Flatten()(keras.ops.cast(inputs, "float32"))
    model = keras.Model(inputs, keras.layers.Dense(3, kernel_initializer="glorot_uniform")(flat))
    x = np.random.default_rng(4).integers(0, 256, (5, 4, 4, 1), dtype=np.uint8)
    plain = model.predict(x, verbose=0)
    mirrored = model.predict(x[:, :, ::-1], verbose=0)
    np.testing.assert_allclose(predict_logits(model, x, 8), plain, rtol=1e-6)
    np.testing.assert_allclose(
        predict_logits(model, x, 8, flip_tta=True), (plain + mirrored) / 2, rtol=1e-6
    )
    assert not np.allclose(plain, mirrored)  # the mirror matters to this model


def test_validation_images_are_not_augmented():
    assert no_draws(5).shape == (5, 5) and not no_draws(5).any()


def test_the_feed_setting_resolves_per_backend_and_device():
    from actbench.errors import ActbenchError
    from actbench.training import device

    assert device.resolve_feed("auto") is False  # a CPU: host batches
    assert device.resolve_feed("host") is False
    if keras.config.backend() == "jax":
        assert device.resolve_feed("device") is True
    else:
        with pytest.raises(ActbenchError, match="train.feed = 'device' is not valid on tensorflow"):
            device.resolve_feed("device")


def _values(variable) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(variable))


@pytest.mark.parametrize(("weight_decay", "nesterov"), [(0.05, True), (0.0, False)])
def test_the_recipe_optimizer_is_keras_sgd_with_the_activation_weights_kept_out_of_decay(
    weight_decay, nesterov
):
    """``compile_model``'s optimizer, over four steps of fixed gradients on a PReLU ResNet,
    updates every weight as stock ``keras.optimizers.SGD`` configured by hand does, and as the
    recipe's formula in NumPy does: ``w -= lr(t) * wd * w`` for every weight but the PReLU
    slopes, then the (Nesterov) momentum step."""
    from types import SimpleNamespace

    from actbench.resnet import activation_sites

    keras.utils.set_random_seed(0)
    model, _ = loop.build_model((8, 8, 1), 3, "prelu", width=2, pad=1, flip=False)
    train = SimpleNamespace(momentum=0.9, nesterov=nesterov, weight_decay=weight_decay,
                            label_smoothing=0.1, steps_per_execution=1)  # fmt: skip
    lr = loop.WarmupCosine(peak=0.5, warmup_steps=1, total_steps=4)
    loop.compile_model(model, SimpleNamespace(train=train), lr, steps=4, jit=False)
    variables = model.trainable_variables
    body = next(lay for lay in model.layers if isinstance(lay, keras.Model))
    slopes = [w for site in activation_sites(body) for w in site.trainable_weights]
    kept = [any(v is s for s in slopes) for v in variables]  # out of the decay
    assert sum(kept) == 17 and len(variables) > 17
    start = [_values(v).copy() for v in variables]
    rng = np.random.default_rng(1)
    grads = [[rng.normal(size=w.shape).astype("float32") for w in start] for _ in range(4)]

    stock_vars = [keras.Variable(w) for w in start]
    stock = keras.optimizers.SGD(learning_rate=lr, momentum=0.9, nesterov=nesterov,
                                 weight_decay=weight_decay or None)  # fmt: skip
    if weight_decay:
        stock.exclude_from_weight_decay(
            var_list=[v for v, k in zip(stock_vars, kept, strict=True) if k]
        )
    for step in grads:
        model.optimizer.apply_gradients(zip(step, variables, strict=True))
        stock.apply_gradients(zip(step, stock_vars, strict=True))

    def formula(decay_all: bool) -> list[np.ndarray]:
        w = [x.astype(np.float64) for x in start]
        m = [np.zeros_like(x) for x in w]
        for t, step in enumerate(grads):
            rate = float(keras.ops.convert_to_numpy(lr(t)))
            for i, g in enumerate(step):
                if decay_all or not kept[i]:
                    w[i] = w[i] - w[i] * weight_decay * rate
                m[i] = 0.9 * m[i] - rate * g
                w[i] = w[i] + (0.9 * m[i] - rate * g if nesterov else m[i])
        return w

    expected = formula(decay_all=False)
    for got, ref, want in zip(variables, stock_vars, expected, strict=True):
        got = _values(got)
        np.testing.assert_allclose(got, _values(ref), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    if weight_decay:  # the exclusion is visible at this tolerance: decayed slopes would differ
        decayed = formula(decay_all=True)
        assert not all(np.allclose(_values(v), d, rtol=1e-5, atol=1e-5)
                       for v, d, k in zip(variables, decayed, kept, strict=True) if k)  # fmt: skip
    assert int(_values(model.optimizer.iterations)) == 4

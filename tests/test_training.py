"""The training path: schedule, host batches, on-device augmentation, resumable randomness."""

import math

import keras
import numpy as np
import pytest

from actbench.training import loop
from actbench.training.pipeline import Augment, Batches, even_batch, no_draws, padding_pixels

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
    assert draws.shape == (32, 3) and draws.dtype == np.int32
    assert set(draws[:, :2].ravel()) <= {0, 1, 2} and set(draws[:, 2]) == {0, 1}
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
    layer = Augment(pad=1, flip=True)
    for out in (layer(x), layer([x, np.array([[2, 0, 1]], np.int32)], training=False)):
        out = keras.ops.convert_to_numpy(out)
        assert out.dtype == np.float32
        np.testing.assert_allclose(out, x / 255.0, rtol=1e-6)


def test_crop_and_flip_apply_exactly_the_draws():
    x = np.arange(64, dtype=np.uint8).reshape(1, 8, 8, 1) + 1  # no zero pixels
    src = x[0, :, :, 0].astype(np.float32) / 255
    padded = np.zeros((10, 10), np.float32)
    padded[1:9, 1:9] = src
    draws = np.array([[dy, dx, f] for dy in range(3) for dx in range(3) for f in (0, 1)], np.int32)
    images = np.repeat(x, len(draws), axis=0)
    out = keras.ops.convert_to_numpy(Augment(pad=1, flip=True)([images, draws], training=True))[
        ..., 0
    ]
    for (dy, dx, f), img in zip(draws, out, strict=True):
        crop = padded[dy : dy + 8, dx : dx + 8]  # a shift of (dy - 1, dx - 1) with zero padding
        np.testing.assert_allclose(
            img, crop[:, ::-1] if f else crop, rtol=1e-6
        )  # one-hot selection


def test_validation_images_are_not_augmented():
    assert no_draws(5).shape == (5, 3) and not no_draws(5).any()

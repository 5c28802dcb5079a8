"""The input pipeline: the host slices uint8 batches and draws the augmentation, the device
applies it.

* ``Batches`` (a ``keras.utils.PyDataset``, so every backend takes it) yields fixed-shape uint8
  batches with one-hot labels, and per image the augmentation to apply: a crop offset and a
  flip bit. The order and the draws of epoch ``e`` come from a generator seeded with
  ``(seed, e)`` alone, so a run resumed at epoch ``e`` sees exactly what an uninterrupted run
  would, on any backend and over any number of devices. No ``tf.data``: the same code feeds
  TensorFlow and JAX.
* ``Augment`` is the model's first layer. It turns uint8 images into float32 in [0, 1] and, in
  training, crops (zero padding, a translation of up to ``pad`` pixels) and flips them as
  ``Batches`` drew, vectorised over the batch on the device, as the fastest CIFAR trainers do.
  The saved model calls it on images alone, where it only rescales: it takes uint8 images.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

AUGMENT_FIELDS = 3  # per image: crop row offset, crop column offset, flip (0 or 1)


def padding_pixels(image_side: int, crop_padding: float) -> int:
    """Random-crop padding in pixels: a fraction of the image side, at least 1 when non-zero."""
    return max(1, round(image_side * crop_padding)) if crop_padding > 0 else 0


@keras.saving.register_keras_serializable(package="actbench")
class Augment(keras.layers.Layer):
    """``images`` uint8 (B, H, W, C) -> float32 in [0, 1]. Called as ``[images, draws]`` with
    ``draws`` int32 (B, 3) in training, each image is cropped and flipped as drawn."""

    def __init__(self, pad: int = 0, flip: bool = False, **kwargs):
        kwargs["dtype"] = "float32"  # scale in float32 whatever the policy; the stem casts
        super().__init__(**kwargs)
        self.pad, self.flip = int(pad), bool(flip)

    def call(self, inputs, training=False):
        images, draws = inputs if isinstance(inputs, list | tuple) else (inputs, None)
        x = ops.cast(images, "float32") / 255.0
        if not training or draws is None or (not self.pad and not self.flip):
            return x
        height, width = x.shape[1], x.shape[2]
        if self.pad:
            p = self.pad
            padded = ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]])  # (B, H + 2p, W + 2p, C)
            rows = draws[:, 0:1] + ops.arange(height)[None, :]  # (B, H): source rows
            cols = draws[:, 1:2] + ops.arange(width)[None, :]  # (B, W): source columns
            # Crop by one-hot selection matrices: exact, and plain matmuls on every backend
            # (a gather's int64 indices have no oneDNN kernel on some CPUs).
            pick_rows = ops.one_hot(rows, height + 2 * p, dtype=x.dtype)  # (B, H, H + 2p)
            pick_cols = ops.one_hot(cols, width + 2 * p, dtype=x.dtype)  # (B, W, W + 2p)
            x = ops.einsum("bhi,biwc->bhwc", pick_rows, padded)  # (B, H, W + 2p, C)
            x = ops.einsum("bwj,bhjc->bhwc", pick_cols, x)  # (B, H, W, C)
        if self.flip:
            mirror = ops.cast(draws[:, 2], "bool")[:, None, None, None]  # (B, 1, 1, 1)
            x = ops.where(mirror, ops.flip(x, axis=2), x)
        return x

    def compute_output_shape(self, input_shape):
        if (
            isinstance(input_shape, list | tuple)
            and input_shape
            and isinstance(input_shape[0], list | tuple)
        ):
            return tuple(input_shape[0])  # [images, draws] -> images
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "pad": self.pad, "flip": self.flip}


class Batches(keras.utils.PyDataset):
    """Shuffled, fixed-shape uint8 batches with one-hot labels and the augmentation to apply;
    the remainder of an epoch is dropped."""

    def __init__(self, x: np.ndarray, y: np.ndarray, num_classes: int, batch_size: int, seed: int,
                 pad: int = 0, flip: bool = False):  # fmt: skip
        super().__init__()
        self.x, self.y, self.batch_size, self.seed = x, y, batch_size, seed
        self.pad, self.flip = pad, flip
        self.eye = np.eye(num_classes, dtype="float32")
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """The order and the augmentation of epoch ``epoch``: a function of (seed, epoch) only."""
        rng = np.random.default_rng([self.seed, epoch])
        n = len(self.x)
        self.order = rng.permutation(n)
        self.draws = np.zeros((n, AUGMENT_FIELDS), dtype="int32")
        self.draws[:, :2] = rng.integers(0, 2 * self.pad + 1, size=(n, 2))  # crop offsets
        self.draws[:, 2] = rng.random(n) < 0.5 if self.flip else 0  # flip coins

    def __len__(self) -> int:
        return len(self.x) // self.batch_size

    def __getitem__(self, i: int):
        at = slice(i * self.batch_size, (i + 1) * self.batch_size)
        idx = self.order[at]
        return (self.x[idx], self.draws[at]), self.eye[self.y[idx]]


def no_draws(n: int) -> np.ndarray:
    """The ``draws`` input for images that are not augmented (validation)."""
    return np.zeros((n, AUGMENT_FIELDS), dtype="int32")


def even_batch(n: int, cap: int, multiple: int = 1) -> int:
    """A batch size of at most ``cap`` (rounded to a ``multiple`` of the replicas) that splits
    ``n`` images into equal batches where it can, so inference traces one batch shape, not two."""
    batches = math.ceil(n / cap)
    return math.ceil(math.ceil(n / batches) / multiple) * multiple

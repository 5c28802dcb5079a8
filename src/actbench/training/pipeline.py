"""The input pipeline: the host draws the order and the augmentation, the device applies it.

* ``Batches`` (a ``keras.utils.PyDataset``, so every backend takes it) yields fixed-shape uint8
  batches with one-hot labels, and per image the augmentation to apply: a crop offset, a flip
  bit and a cutout corner. The order and the draws of epoch ``e`` come from a generator seeded
  with ``(seed, e)`` alone, so a run resumed at epoch ``e`` sees exactly what an uninterrupted
  run would, on any backend and over any number of devices. No ``tf.data``: the same code feeds
  TensorFlow and JAX. With ``on_device`` (JAX) the images and labels are put on the accelerator
  once (CIFAR-10 as uint8 is 150 MB) and each batch is gathered there: the host sends only the
  indices and draws, so it cannot starve a fast GPU. The batches are the same either way.
* ``Augment`` is the model's first layer. It turns uint8 images into float32 in [0, 1] and, in
  training, zeroes a ``cutout`` square, pads by ``pad`` pixels (zeros, or a mirror image with
  ``reflect``), crops back (a translation) and flips, as ``Batches`` drew, vectorised over the
  batch on the device, as the fastest CIFAR trainers do. The saved model calls it on images
  alone, where it only rescales: it takes uint8 images.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

AUGMENT_FIELDS = 5  # per image: crop row and column offset, flip (0 or 1), cutout row and column


def padding_pixels(image_side: int, crop_padding: float) -> int:
    """Random-crop padding in pixels: a fraction of the image side, at least 1 when non-zero."""
    return max(1, round(image_side * crop_padding)) if crop_padding > 0 else 0


def cutout_pixels(image_side: int, cutout: float) -> int:
    """The side of the cutout square in pixels: a fraction of the image side (0.375: 12 at 32)."""
    return max(1, round(image_side * cutout)) if cutout > 0 else 0


@keras.saving.register_keras_serializable(package="actbench")
class Augment(keras.layers.Layer):
    """``images`` uint8 (B, H, W, C) -> float32 in [0, 1]. Called as ``[images, draws]`` with
    ``draws`` int32 (B, 5) in training, each image gets its cutout square zeroed (filled with 0
    after scaling, i.e. black), then is padded, cropped and flipped as drawn."""

    def __init__(self, pad: int = 0, flip: bool = False, cutout: int = 0, reflect: bool = False,
                 **kwargs):  # fmt: skip
        kwargs["dtype"] = "float32"  # scale in float32 whatever the policy; the stem casts
        super().__init__(**kwargs)
        self.pad, self.flip, self.cutout, self.reflect = (
            int(pad),
            bool(flip),
            int(cutout),
            bool(reflect),
        )

    def call(self, inputs, training=False):
        images, draws = inputs if isinstance(inputs, list | tuple) else (inputs, None)
        x = ops.cast(images, "float32") / 255.0
        if not training or draws is None or not (self.pad or self.flip or self.cutout):
            return x
        height, width = x.shape[1], x.shape[2]
        if self.cutout:
            rows = ops.arange(height)[None, :] - draws[:, 3:4]  # (B, H): row minus the corner's
            cols = ops.arange(width)[None, :] - draws[:, 4:5]  # (B, W)
            inside_r = ops.logical_and(rows >= 0, rows < self.cutout)
            inside_c = ops.logical_and(cols >= 0, cols < self.cutout)
            square = ops.logical_and(inside_r[:, :, None], inside_c[:, None, :])  # (B, H, W)
            x = ops.where(square[..., None], 0.0, x)
        if self.pad:
            p = self.pad
            mode = "reflect" if self.reflect else "constant"
            padded = ops.pad(
                x, [[0, 0], [p, p], [p, p], [0, 0]], mode=mode
            )  # (B, H + 2p, W + 2p, C)
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
        return {**super().get_config(), "pad": self.pad, "flip": self.flip, "cutout": self.cutout,
                "reflect": self.reflect}  # fmt: skip


class Batches(keras.utils.PyDataset):
    """Shuffled, fixed-shape uint8 batches with one-hot labels and the augmentation to apply;
    the remainder of an epoch is dropped. ``on_device``: gathered on the accelerator from a copy
    of the images and labels put there once (JAX; Keras hands JAX arrays to the step as they are)."""

    def __init__(self, x: np.ndarray, y: np.ndarray, num_classes: int, batch_size: int, seed: int,
                 pad: int = 0, flip: bool = False, cutout: int = 0, on_device: bool = False):  # fmt: skip
        super().__init__()
        self.x, self.y, self.batch_size, self.seed = x, y, batch_size, seed
        self.pad, self.flip, self.cutout = pad, flip, cutout
        self.num_classes = num_classes
        self.eye = np.eye(num_classes, dtype="float32")
        self.on_device = on_device
        if on_device:
            self.x_device = ops.convert_to_tensor(x)  # (N, H, W, C) uint8, once
            self.y_device = ops.convert_to_tensor(y.astype("int32"))  # (N,)
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """The order and the augmentation of epoch ``epoch``: a function of (seed, epoch) only."""
        rng = np.random.default_rng([self.seed, epoch])
        n, height, width = self.x.shape[:3]
        self.order = rng.permutation(n)
        self.draws = np.zeros((n, AUGMENT_FIELDS), dtype="int32")
        self.draws[:, :2] = rng.integers(0, 2 * self.pad + 1, size=(n, 2))  # crop offsets
        self.draws[:, 2] = rng.random(n) < 0.5 if self.flip else 0  # flip coins
        if self.cutout:  # the square's top-left corner, the square inside the image
            self.draws[:, 3] = rng.integers(0, height - self.cutout + 1, size=n)
            self.draws[:, 4] = rng.integers(0, width - self.cutout + 1, size=n)

    def __len__(self) -> int:
        return len(self.x) // self.batch_size

    def __getitem__(self, i: int):
        at = slice(i * self.batch_size, (i + 1) * self.batch_size)
        idx = self.order[at]
        if self.on_device:
            idx = ops.convert_to_tensor(idx.astype("int32"))
            labels = ops.one_hot(ops.take(self.y_device, idx, axis=0), self.num_classes)
            return (ops.take(self.x_device, idx, axis=0), self.draws[at]), labels
        return (self.x[idx], self.draws[at]), self.eye[self.y[idx]]


def no_draws(n: int) -> np.ndarray:
    """The ``draws`` input for images that are not augmented (validation)."""
    return np.zeros((n, AUGMENT_FIELDS), dtype="int32")


def even_batch(n: int, cap: int, multiple: int = 1) -> int:
    """A batch size of at most ``cap`` (rounded to a ``multiple`` of the replicas) that splits
    ``n`` images into equal batches where it can, so inference traces one batch shape, not two."""
    batches = math.ceil(n / cap)
    return math.ceil(math.ceil(n / batches) / multiple) * multiple

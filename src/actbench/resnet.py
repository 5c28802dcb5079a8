"""ResNet-18 for small images, built with the Keras Functional API.

The architecture is data: ``BasicBlock`` x ``STAGES = (2, 2, 2, 2)`` with widths ``w, 2w, 4w, 8w``.
The stem is the CIFAR one (3x3 conv, stride 1, no max-pool), so 32x32, 28x28 and 8x8 inputs keep
their resolution into the first stage. Every nonlinearity goes through ``activation``: each of
the 17 activation sites (``site_names()``) is its own layer, made by ``activations.site``, so a
learnable activation has its own weights at every site; ``activation_sites`` lists them.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
from keras import layers

from actbench import activations

STAGES = (2, 2, 2, 2)  # BasicBlocks per stage: the "18" in ResNet-18
BN_MOMENTUM = 0.9  # moving-average momentum of batch norm, as in PyTorch's 0.1 update rate
BN_EPSILON = 1e-5  # PyTorch's default, so parameter counts and numerics match the reference


def _conv(filters: int, kernel: int, stride: int, name: str) -> layers.Conv2D:
    return layers.Conv2D(
        filters,
        kernel,
        strides=stride,
        padding="same",
        use_bias=False,  # batch norm follows and has its own shift
        kernel_initializer="he_normal",
        name=name,
    )


def _bn(name: str) -> layers.BatchNormalization:
    return layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name)


def basic_block(x, filters: int, stride: int, act: str | Callable, name: str):
    """Two 3x3 convolutions with a residual connection; ``(B, H, W, C) -> (B, H/s, W/s, F)``."""
    shortcut = x
    y = _conv(filters, 3, stride, f"{name}_conv1")(x)
    y = _bn(f"{name}_bn1")(y)
    y = activations.site(act, f"{name}_act1")(y)
    y = _conv(filters, 3, 1, f"{name}_conv2")(y)
    y = _bn(f"{name}_bn2")(y)
    if stride != 1 or x.shape[-1] != filters:  # shape changes: project the shortcut
        shortcut = _conv(filters, 1, stride, f"{name}_proj_conv")(x)
        shortcut = _bn(f"{name}_proj_bn")(shortcut)
    y = layers.Add(name=f"{name}_add")([y, shortcut])
    return activations.site(act, f"{name}_act2")(y)


def resnet_stage(x, filters: int, blocks: int, stride: int, act: str | Callable, name: str):
    """One stage: the first block may downsample, the rest keep the shape."""
    for i in range(blocks):
        x = basic_block(x, filters, stride if i == 0 else 1, act, name=f"{name}_block{i + 1}")
    return x


def build_resnet18(
    input_shape: tuple[int, int, int],
    num_classes: int,
    activation: str | Callable,
    width: int = 64,
) -> keras.Model:
    """Return an uncompiled ResNet-18 whose output is ``num_classes`` logits.

    ``activation`` is a registry name (see ``actbench.activations.names()``), what
    ``activations.get`` returns, a callable ``f(x)`` or a ``keras.layers.Layer`` subclass (see
    ``activations.site``). The input is float images in [0, 1] (``training.pipeline.Augment``
    makes them from uint8). ``width`` is the channel count of the first stage; 64 is the
    standard ResNet-18.
    """
    act = activations.get(activation) if isinstance(activation, str) else activation
    if width < 1:
        raise ValueError(f"width must be a positive integer, got {width!r}")
    name = activations.name_of(act)
    inputs = keras.Input(shape=input_shape, name="image")  # (B, H, W, C), floats in [0, 1]
    x = _conv(width, 3, 1, "stem_conv")(inputs)
    x = _bn("stem_bn")(x)
    x = activations.site(act, "stem_act")(x)
    for i, blocks in enumerate(STAGES):
        x = resnet_stage(
            x, width * 2**i, blocks, stride=1 if i == 0 else 2, act=act, name=f"stage{i + 1}"
        )
    x = layers.GlobalAveragePooling2D(name="pool")(x)  # (B, 8w)
    # The logits compute in float32 under mixed precision too: softmax and the loss need the range.
    outputs = layers.Dense(num_classes, name="logits", dtype="float32")(x)  # (B, num_classes)
    return keras.Model(inputs, outputs, name=f"resnet18_{name}_w{width}")


def site_names() -> list[str]:
    """The 17 activation sites' layer names, in the order the forward pass meets them."""
    blocks = [f"stage{i + 1}_block{j + 1}" for i, n in enumerate(STAGES) for j in range(n)]
    return ["stem_act", *(f"{block}_act{k}" for block in blocks for k in (1, 2))]


def activation_sites(model: keras.Model) -> list[keras.layers.Layer]:
    """The activation layers of a ResNet-18, in site order (``site_names()``).

    ``model`` is ``build_resnet18``'s model or a model containing it (a training or saved run:
    the ResNet is a nested model there).
    """
    names = set(site_names())
    if not names <= {lay.name for lay in model.layers}:
        inner = [lay for lay in model.layers if isinstance(lay, keras.Model)]
        found = next((m for m in inner if names <= {lay.name for lay in m.layers}), None)
        if found is None:
            raise ValueError(
                f"model {model.name!r} is not a ResNet-18 of actbench (no activation sites)"
            )
        model = found
    return [model.get_layer(name) for name in site_names()]

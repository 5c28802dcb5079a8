"""Speed measurements, taken side by side in one process so machine noise cancels.

* ``interleaved``: median seconds per call of several calls, one per round in a shuffled order.
* ``activation_cost``: forward + backward of every activation on the four ResNet-18 stage shapes
  at batch 128, in graph mode and under XLA (TensorFlow), as ratios to ReLU in the same rounds.
* ``training_step``: ResNet-18 training throughput per activation, and its model FLOP utilisation
  against a measured matmul peak.
* ``training_flops_per_image``: the FLOPs a training step spends per image (any backend).

Numbers depend on the machine: every result records it. Ratios are what travel between machines.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import keras
import numpy as np

from actbench import activations
from actbench.resnet import build_resnet18

STAGE_SHAPES = ((128, 32, 32, 64), (128, 16, 16, 128), (128, 8, 8, 256), (128, 4, 4, 512))


def _wait(out) -> None:
    """Block until ``out`` is computed (device work is asynchronous on GPUs)."""
    keras.tree.map_structure(
        lambda t: keras.ops.convert_to_numpy(t) if hasattr(t, "shape") else t, out
    )


def _time(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    _wait(call())
    return time.perf_counter() - start


def interleaved(
    calls: dict[str, Callable[[], object]], rounds: int, seed: int = 0, warmup: int = 2
) -> dict[str, float]:
    """Median seconds per call, calling each once per round in a shuffled order."""
    for call in calls.values():  # trace/compile and warm caches outside the timing
        for _ in range(warmup):
            _time(call)
    samples: dict[str, list[float]] = {k: [] for k in calls}
    order = list(calls)
    rng = random.Random(seed)
    for _ in range(rounds):
        rng.shuffle(order)
        for key in order:
            samples[key].append(_time(calls[key]))
    return {k: float(np.median(v)) for k, v in samples.items()}


def _fwd_bwd(fn: Callable, jit: bool):
    import tensorflow as tf

    @tf.function(jit_compile=jit, reduce_retracing=True)
    def step(x, dy):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = fn(x)
        return y, tape.gradient(y, x, output_gradients=dy)

    return step


def activation_cost(names: list[str], shapes=STAGE_SHAPES, rounds: int = 15) -> dict:
    """TensorFlow: forward + backward of each activation, graph mode and XLA."""
    import tensorflow as tf

    out: dict[str, dict] = {}
    for mode, jit in (("graph", False), ("xla", True)):
        per_shape = {}
        for shape in shapes:
            x = tf.random.stateless_normal(shape, seed=(0, 1))
            dy = tf.random.stateless_normal(shape, seed=(2, 3))
            steps = {n: _fwd_bwd(activations.get(n), jit) for n in names}
            medians = interleaved(
                {n: (lambda s=steps[n], x=x, dy=dy: s(x, dy)) for n in names}, rounds
            )
            per_shape["x".join(map(str, shape))] = {
                n: {"ms": round(1e3 * t, 3), "ratio_to_relu": round(t / medians["relu"], 3)}
                for n, t in medians.items()
            }
        geo = {n: round(float(np.exp(np.mean([np.log(s[n]["ratio_to_relu"]) for s in per_shape.values()]))), 3)
               for n in names}  # fmt: skip
        out[mode] = {"per_shape": per_shape, "geomean_ratio_to_relu": geo}
    return out


def matmul_peak(n: int = 2048, rounds: int = 10, dtype: str = "float32") -> float:
    """Measured dense matmul throughput in FLOP/s (the MFU denominator), compiled, any backend."""
    rng = np.random.default_rng(0)
    a = keras.ops.cast(
        keras.ops.convert_to_tensor(rng.standard_normal((n, n), dtype=np.float32)), dtype
    )
    b = keras.ops.cast(
        keras.ops.convert_to_tensor(rng.standard_normal((n, n), dtype=np.float32)), dtype
    )
    if keras.config.backend() == "jax":
        import jax

        mm = jax.jit(lambda: a @ b)
    else:
        import tensorflow as tf

        mm = tf.function(lambda: tf.linalg.matmul(a, b), jit_compile=True)
    seconds = interleaved({"mm": mm}, rounds)["mm"]
    return 2.0 * n**3 / seconds


def training_flops_per_image(model: keras.Model) -> float:
    """Forward FLOPs of convolutions and dense layers (nested models included), times 3 for
    forward + backward."""
    flops = 0.0
    layers = list(model.layers)
    while layers:
        layer = layers.pop()
        if isinstance(layer, keras.Model):
            layers.extend(layer.layers)
        elif isinstance(layer, keras.layers.Conv2D):
            _, h, w, c_out = layer.output.shape
            kh, kw, c_in, _ = layer.kernel.shape
            flops += 2.0 * h * w * kh * kw * c_in * c_out
        elif isinstance(layer, keras.layers.Dense):
            flops += 2.0 * np.prod(layer.kernel.shape)
    return 3.0 * flops


def _compiled(name: str, width: int, jit: bool, shape=(32, 32, 3)) -> keras.Model:
    model = build_resnet18(shape, 10, name, width=width)
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9, nesterov=True),
                  loss=keras.losses.CategoricalCrossentropy(from_logits=True), jit_compile=jit)  # fmt: skip
    return model


def training_step(
    names: list[str], width: int, batch: int = 128, steps: int = 5, rounds: int = 5
) -> dict:
    """Images per second of compiled training steps, per activation and XLA mode, interleaved.

    Each timed call runs ``steps`` optimizer steps through the model's own compiled train
    function (``train_on_batch``), so the step is measured, not ``fit``'s per-call set-up.
    """
    rng = np.random.default_rng(8)
    x = rng.random((batch, 32, 32, 3), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[np.arange(batch) % 10]
    models = {(n, jit): _compiled(n, width, jit) for n in names for jit in (False, True)}

    def run(model):
        for _ in range(steps):
            loss = model.train_on_batch(x, y)
        return loss

    medians = interleaved({k: (lambda m=m: run(m)) for k, m in models.items()}, rounds)
    flops = training_flops_per_image(next(iter(models.values())))
    out = {}
    for jit, mode in ((False, "graph"), (True, "xla")):
        ips = {n: batch * steps / medians[(n, jit)] for n in names}
        out[mode] = {
            n: {"images_per_s": round(ips[n], 1), "step_time_ratio_to_relu": round(ips["relu"] / ips[n], 3),
                "tflops": round(ips[n] * flops / 1e12, 4)}
            for n in names
        }  # fmt: skip
    out["training_gflop_per_image"] = round(flops / 1e9, 4)
    return out


def input_pipeline(n_images: int = 20_000, batch: int = 128) -> float:
    """Images per second of the host side of the training input pipeline alone (CIFAR shapes)."""
    from actbench.training.pipeline import Batches

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n_images, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, n_images)
    batches = Batches(x, y, 10, batch, seed=0)
    start = time.perf_counter()
    count = sum(len(batches[i][0]) for i in range(len(batches)))
    return count / (time.perf_counter() - start)

"""Speed measurements, taken side by side in one process so machine noise cancels.

* ``interleaved``: median seconds per call of several calls, one per round in a shuffled order.
* ``activation_cost``: forward + backward of every activation on the four ResNet-18 stage shapes
  at batch 128, in graph mode and under XLA (TensorFlow), as ratios to ReLU in the same rounds.
* ``training_step``: ResNet-18 training throughput per activation, and its model FLOP utilisation
  against a measured matmul peak.
* ``fit_epochs`` / ``fit_throughput``: training throughput through a compiled model's own
  ``fit``, timed per epoch, with no host sync between its steps (``tools/gpu_check.py``).
* ``matmul_peak``: the device's dense matmul throughput, the MFU denominator.
* ``step_memory``: the device memory one compiled training step needs.
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


def _activation_layer(name: str, layer_name: str) -> keras.layers.Layer:
    """A fresh layer that applies activation ``name``: a function plug-in wrapped in
    ``keras.layers.Activation``, a learnable one a new instance with its own weights."""
    return activations.site(name, layer_name)


def wait(out) -> None:
    """Block until ``out`` (tensors, in any nesting) is computed, without copying it to the
    host: work on a GPU is asynchronous, and a copy would be timed with it."""
    if keras.config.backend() == "jax":
        import jax

        jax.block_until_ready(out)
    elif keras.config.backend() == "tensorflow":
        import tensorflow as tf

        if tf.config.list_logical_devices("GPU"):
            tf.test.experimental.sync_devices()  # on a CPU, an eager call returns when done


def _time(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    wait(call())
    return time.perf_counter() - start


def interleaved_samples(
    measures: dict[str, Callable[[], float]], rounds: int, seed: int = 0, warmup: int = 2
) -> dict[str, list[float]]:
    """Seconds per round of each measure (a call that returns the seconds it measured): each
    is called ``warmup`` times first, then once per round, in a new shuffled order every round."""
    for measure in measures.values():  # trace/compile and warm caches outside the timing
        for _ in range(warmup):
            measure()
    samples: dict[str, list[float]] = {k: [] for k in measures}
    order = list(measures)
    rng = random.Random(seed)
    for _ in range(rounds):
        rng.shuffle(order)
        for key in order:
            samples[key].append(measures[key]())
    return samples


def interleaved(
    calls: dict[str, Callable[[], object]], rounds: int, seed: int = 0, warmup: int = 2
) -> dict[str, float]:
    """Median seconds per call, calling each once per round in a shuffled order."""
    measures = {k: (lambda c=c: _time(c)) for k, c in calls.items()}
    samples = interleaved_samples(measures, rounds, seed, warmup)
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


def _built(name: str, shape: tuple[int, ...]) -> keras.layers.Layer:
    """The activation as a layer, built outside the timed graph (a learnable one makes its
    weights here, not while TensorFlow traces)."""
    layer = _activation_layer(name, f"{name}_alone")
    layer.build(shape)
    return layer


def activation_cost(names: list[str], shapes=STAGE_SHAPES, rounds: int = 15) -> dict:
    """TensorFlow: forward + backward of each activation, graph mode and XLA."""
    import tensorflow as tf

    out: dict[str, dict] = {}
    for mode, jit in (("graph", False), ("xla", True)):
        per_shape = {}
        for shape in shapes:
            x = tf.random.stateless_normal(shape, seed=(0, 1))
            dy = tf.random.stateless_normal(shape, seed=(2, 3))
            steps = {n: _fwd_bwd(_built(n, shape), jit) for n in names}
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


def matmul_peak(
    n: int = 2048, rounds: int = 10, dtype: str = "float32", products: int = 4
) -> float:
    """The device's dense matmul throughput in FLOP/s (the MFU denominator), compiled, any backend.

    One timed call runs ``products`` (n, n) x (n, n) products as a chain, ``x = x @ b``: each
    needs the one before, so the compiler can neither skip nor merge them. The operands are the
    compiled function's arguments: captured in a closure they would be constants, and XLA would
    compute the product while compiling (it does below ~45M elements). The call is waited for on
    the device (``wait``); the product is never copied to the host. ``b`` is scaled by 1/sqrt(n),
    so the chain stays of order 1 in bfloat16.
    """
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32) / np.sqrt(n)
    a, b = keras.ops.cast(a, dtype), keras.ops.cast(b, dtype)  # on the device
    if keras.config.backend() == "jax":
        import jax

        compile_ = jax.jit
    else:
        import tensorflow as tf

        def compile_(fn):
            return tf.function(fn, jit_compile=True)

    @compile_
    def chain(x, w):  # (n, n), (n, n) -> (n, n)
        for _ in range(products):
            x = keras.ops.matmul(x, w)
        return x

    seconds = interleaved({"mm": lambda: chain(a, b)}, rounds)["mm"]
    return products * 2.0 * n**3 / seconds


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


class RepeatedBatch(keras.utils.PyDataset):
    """One batch, ``steps`` times an epoch: training input that costs the host nothing."""

    def __init__(self, batch, steps: int):
        super().__init__()
        self.batch, self.steps = batch, steps

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, i: int):
        return self.batch


class EpochSeconds(keras.callbacks.Callback):
    """The seconds of every epoch, from its start until its last step is done on the device.
    (No per-batch hook: Keras then dispatches the steps without waiting for them.)"""

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        wait([v.value for v in self.model.trainable_variables])
        self.seconds.append(time.perf_counter() - self._start)


def fit_epochs(model: keras.Model, data: keras.utils.PyDataset, epochs: int) -> list[float]:
    """Train a compiled ``model`` for ``epochs`` epochs of ``data`` with its own ``fit``; the
    seconds of each epoch (the first includes tracing and compiling the train step).

    Between an epoch's steps nothing waits for the device: JAX dispatches them asynchronously,
    and on TensorFlow a model compiled with ``steps_per_execution`` = the epoch's steps runs
    them in one call. Only the epoch's end waits, once.
    """
    timer = EpochSeconds()
    model.fit(data, epochs=epochs, verbose=0, shuffle=False, callbacks=[timer])
    return timer.seconds


def fit_throughput(
    models: dict[str, keras.Model], data: keras.utils.PyDataset, rounds: int, seed: int = 0
) -> dict[str, list[float]]:
    """Seconds of one epoch of ``data`` per model and round (``fit_epochs``), the models in a
    new shuffled order every round. Warm them first: the rounds include no warm-up."""
    measures = {k: (lambda m=m: fit_epochs(m, data, 1)[0]) for k, m in models.items()}
    return interleaved_samples(measures, rounds, seed, warmup=0)


def step_memory(model: keras.Model, batch) -> dict[str, int] | None:
    """Bytes of device memory one compiled training step of ``model`` needs, or None where the
    backend does not say (TensorFlow).

    JAX: XLA's plan of the very step ``fit`` runs (``model.train_step`` compiled as Keras
    compiles it, which JAX finds in its cache once ``fit`` ran): ``arguments`` (weights,
    optimizer slots, metrics and the batch), ``temporaries`` (what the backward pass keeps,
    where activations differ) and ``outputs`` (those not written over their inputs), and
    ``total``, their sum: the step's peak.
    """
    if keras.config.backend() != "jax":
        return None
    import jax

    state = tuple(
        [v.value for v in variables]
        for variables in (model.trainable_variables, model.non_trainable_variables,
                          model.optimizer.variables, model.metrics_variables)
    )  # fmt: skip
    step = jax.jit(model.train_step, donate_argnums=0)  # as Keras' JAX trainer compiles it
    stats = step.lower(state, jax.device_put(batch)).compile().memory_analysis()
    if stats is None:
        return None
    out = {
        "arguments": int(stats.argument_size_in_bytes),
        "temporaries": int(stats.temp_size_in_bytes),
        "outputs": int(stats.output_size_in_bytes - stats.alias_size_in_bytes),
    }
    return out | {"total": sum(out.values())}


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

"""Device policy: which backend and devices a run uses, in which precision, with or without XLA.

Everything backend-specific lives here, so the rest of actbench is plain Keras 3 and runs on
TensorFlow (the default) or JAX (``KERAS_BACKEND=jax``):

* ``auto`` settings: bfloat16 mixed precision and XLA on GPUs, float32 without XLA on CPUs
  (both measured slower on a 2-core CPU); JAX always compiles with XLA; TensorFlow does not
  with data parallelism (Keras runs tf.distribute steps without XLA).
* replicas: ``tf.distribute.MirroredStrategy`` on TensorFlow, ``keras.distribution.DataParallel``
  on JAX, over two or more GPUs (``auto``) or every device (``mirrored``). The batch size is
  global.
* ``ACTBENCH_CPU_DEVICES=N`` splits the CPU into N logical devices, so the multi-device path
  runs (and is tested) on a machine without GPUs.

Call ``configure`` before Keras is imported; the other functions import it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CPU_DEVICES_ENV = "ACTBENCH_CPU_DEVICES"


BACKENDS = ("tensorflow", "jax")


def configure(deterministic: str | bool) -> None:
    """Check the backend and set what must be set before it starts (``deterministic``:
    ``train.deterministic``; only ``true`` asks XLA on GPUs for deterministic kernels)."""
    from actbench.errors import ActbenchError

    chosen = os.environ.get("KERAS_BACKEND", "tensorflow")
    if chosen not in BACKENDS:
        raise ActbenchError(
            f"KERAS_BACKEND = {chosen!r} is not supported; expected one of {', '.join(BACKENDS)}"
        )
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if chosen == "jax":
        flags = os.environ.get("XLA_FLAGS", "")
        n = int(os.environ.get(CPU_DEVICES_ENV, "0") or 0)
        if n > 1 and "xla_force_host_platform_device_count" not in flags:
            flags += f" --xla_force_host_platform_device_count={n}"
        if deterministic is True and "xla_gpu_deterministic_ops" not in flags:
            flags += " --xla_gpu_deterministic_ops=true"
        os.environ["XLA_FLAGS"] = flags.strip()
    _quiet_import("keras")
    if chosen == "tensorflow":
        _tf_split_cpu()  # before TensorFlow initialises its devices


def _quiet_import(module: str) -> None:
    """Import ``module`` with the C++ start-up chatter of TensorFlow/XLA (written to file
    descriptor 2 before any log level applies) captured; it is shown only if the import fails."""
    import importlib
    import sys
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            importlib.import_module(module)
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def backend() -> str:
    import keras

    return keras.config.backend()


_split_done = False


def _tf_split_cpu() -> None:
    """Split the CPU into ``ACTBENCH_CPU_DEVICES`` logical devices (TensorFlow), once."""
    global _split_done
    n = int(os.environ.get(CPU_DEVICES_ENV, "0") or 0)
    if _split_done or n < 2:
        return
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)
    _split_done = True


def gpus() -> list[str]:
    """The GPUs this process sees."""
    if backend() == "tensorflow":
        import tensorflow as tf

        _tf_split_cpu()
        return [d.name for d in tf.config.list_logical_devices("GPU")]
    if backend() == "jax":
        import jax

        try:
            return [str(d) for d in jax.devices("gpu")]
        except RuntimeError:  # no GPU backend
            return []
    return []


def devices() -> list[str]:
    """The devices replicas go to: the GPUs, else the (possibly split) CPU."""
    found = gpus()
    if found:
        return found
    if backend() == "tensorflow":
        import tensorflow as tf

        return [d.name for d in tf.config.list_logical_devices("CPU")]
    if backend() == "jax":
        import jax

        return [str(d) for d in jax.devices("cpu")]
    return ["cpu"]


def device_kind() -> str:
    """``GPU: <name>`` or ``CPU: <model>``; runs of different kinds are never paired."""
    if gpus():
        if backend() == "jax":
            import jax

            return f"GPU: {jax.devices('gpu')[0].device_kind}"
        import tensorflow as tf

        details = tf.config.experimental.get_device_details(
            tf.config.list_physical_devices("GPU")[0]
        )
        return f"GPU: {details.get('device_name', 'unknown')}"
    from actbench.provenance import machine

    return f"CPU: {machine()['cpu']}"


def resolve_jit(setting: str | bool, replicas: int = 1) -> bool:
    """``auto``: XLA on GPUs (on a 2-core CPU it measured slower), except with data parallelism
    on TensorFlow, which Keras does not compile with XLA (tf.distribute steps); JAX always
    compiles with XLA."""
    if backend() == "jax":
        return True
    if replicas > 1:
        if setting is True:
            from actbench.errors import ActbenchError

            raise ActbenchError(
                "train.jit_compile = True is not valid with data parallelism on TensorFlow (Keras "
                "runs tf.distribute steps without XLA); expected auto or false, or KERAS_BACKEND=jax"
            )
        return False
    return bool(gpus()) if setting == "auto" else bool(setting)


def resolve_precision(setting: str) -> str:
    """Keras dtype policy: bfloat16 mixed precision on GPUs when ``auto``, float32 on CPUs."""
    if setting == "auto":
        return "mixed_bfloat16" if gpus() else "float32"
    return {"off": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}[setting]


def resolve_feed(setting: str, replicas: int = 1) -> bool:
    """Whether the training set lives on the accelerator and batches are gathered there:
    ``auto`` does it with JAX on one GPU, where a host feed may not keep up; TensorFlow's
    PyDataset path would copy each device batch through the host, so ``device`` needs JAX."""
    if setting == "device" and backend() != "jax":
        from actbench.errors import ActbenchError

        raise ActbenchError(
            f"train.feed = 'device' is not valid on {backend()} (its PyDataset path copies every "
            "batch through the host); expected auto or host, or KERAS_BACKEND=jax"
        )
    if setting == "auto":
        return backend() == "jax" and replicas == 1 and bool(gpus())
    return setting == "device"


def resolve_deterministic(setting: str | bool) -> bool:
    """``auto``: deterministic kernels on CPUs (measured to cost little there, and it makes the
    default run reproduce bit for bit), the fast non-deterministic ones on GPUs."""
    return not gpus() if setting == "auto" else bool(setting)


def set_seed(seed: int, deterministic: bool) -> None:
    """Seed Python, NumPy and the backend; optionally make TensorFlow ops deterministic."""
    import keras

    keras.utils.set_random_seed(seed)
    if deterministic and backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


@dataclass
class Replicas:
    """Where a model is built and trained: ``replicas`` devices, entered with ``scope()``."""

    replicas: int
    scope: Callable[[], contextlib.AbstractContextManager]
    kind: str  # "one device", "MirroredStrategy" or "DataParallel"


def distribution(setting: str) -> Replicas:
    """``auto``: data parallelism over all GPUs when there are two or more, else one device;
    ``mirrored``: over every device, CPUs included (how the tests check it); ``off``: one."""
    many = devices()
    use = setting == "mirrored" or (setting == "auto" and len(gpus()) > 1)
    if not use or len(many) < 2:
        return Replicas(1, contextlib.nullcontext, "one device")
    if backend() == "tensorflow":
        import tensorflow as tf

        strategy = tf.distribute.MirroredStrategy(devices=many)
        return Replicas(strategy.num_replicas_in_sync, strategy.scope, "MirroredStrategy")
    if backend() == "jax":
        import keras

        # Set for the whole process: on JAX the distribution must also be active during fit.
        found = keras.distribution.list_devices()
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=found))
        return Replicas(len(found), contextlib.nullcontext, "DataParallel")
    return Replicas(1, contextlib.nullcontext, "one device")


def elementwise_derivative(fn: Callable, z) -> Any:
    """``f'(z)`` of an elementwise activation ``fn`` at every element of ``z``, by autodiff."""
    if backend() == "tensorflow":
        import tensorflow as tf

        z = tf.convert_to_tensor(z)
        with tf.GradientTape() as tape:
            tape.watch(z)
            out = fn(z)
        return tape.gradient(out, z)
    if backend() == "jax":
        import jax
        import jax.numpy as jnp

        return jax.grad(lambda v: jnp.sum(fn(v)))(jnp.asarray(z))
    raise NotImplementedError(f"no derivative for backend {backend()!r}")

"""Health check: what this environment will train with.

    python -m actbench.doctor

Prints the TensorFlow, Keras and DVC versions, the visible GPUs, whether GPU memory growth is on,
and the precision and XLA choices `train.mixed_precision: auto` / `train.jit_compile: auto` make
here. Used as the Docker image's default command.
"""

from __future__ import annotations

import os
from importlib import metadata


def report() -> dict[str, object]:
    import keras
    import tensorflow as tf

    from actbench.training import resolve_jit, resolve_precision

    gpus = tf.config.list_physical_devices("GPU")
    return {
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "dvc": metadata.version("dvc"),
        "gpus": [g.name for g in gpus],
        "gpu_memory_growth": os.environ.get("TF_FORCE_GPU_ALLOW_GROWTH", "false"),
        "mixed_precision (auto)": resolve_precision("auto"),
        "xla (auto)": resolve_jit("auto"),
    }


def main() -> None:
    for key, value in report().items():
        print(f"{key:24} {value}")


if __name__ == "__main__":
    main()

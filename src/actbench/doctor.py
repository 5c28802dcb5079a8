"""Health check: what this environment will train with.

    python -m actbench doctor

Prints the backend, the Keras and DVC versions, the visible GPUs, and the precision, XLA,
replica and determinism choices that ``auto`` makes here. The Docker image's default command.
"""

from __future__ import annotations

import os


def report() -> dict[str, object]:
    import keras

    from actbench.provenance import versions
    from actbench.training import device

    return {
        "backend": device.backend(),
        "keras": keras.__version__,
        "versions": ", ".join(f"{k} {v}" for k, v in versions().items()),
        "device kind": device.device_kind(),
        "gpus": device.gpus(),
        "gpu memory growth": os.environ.get("TF_FORCE_GPU_ALLOW_GROWTH", "false"),
        "mixed_precision (auto)": device.resolve_precision("auto"),
        "replicas (auto)": (replicas := device.distribution("auto").replicas),
        "xla (auto)": device.resolve_jit("auto", replicas),
        "deterministic (auto)": device.resolve_deterministic("auto"),
    }


def main() -> None:
    for key, value in report().items():
        print(f"{key:24} {value}")


if __name__ == "__main__":
    main()

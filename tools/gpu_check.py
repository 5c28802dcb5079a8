"""GPU check: what the full profile costs and whether it learns, in under 8 minutes on one GPU.

    python tools/gpu_check.py            # on a GPU: writes metrics/gpu_check.json
    python tools/gpu_check.py --smoke    # the same code in seconds on a CPU (CI runs this)

Runs on whichever Keras backend is installed: TensorFlow, or JAX where TensorFlow is missing
(KERAS_BACKEND=jax). Measures, in one process:

* training throughput (images/s) of the full-profile ResNet-18 (width 64) at batch 512 in
  bfloat16 with XLA, for relu, tanhrelu, elu and swish: compiled train steps, the median of
  interleaved rounds, and each activation's step time as a ratio to ReLU's;
* model FLOP utilisation against the device's bfloat16 peak, measured here with a large matmul;
* a 3-epoch convergence check of the full recipe on the real CIFAR-10 image folder
  (../shared/data/cifar10-jpeg, 10,000 training images): validation accuracy per epoch.

Besides JAX (or TensorFlow) and NumPy it needs only small pure-Python wheels and Pillow:
keras and its dependencies, ruamel.yaml, pillow (README, "GPU check").
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
FOLDER = ROOT.parent / "shared" / "data" / "cifar10-jpeg"
ACTIVATIONS = ("relu", "tanhrelu", "elu", "swish")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for a CPU (CI)")
    parser.add_argument("--out", default=str(ROOT / "metrics" / "gpu_check.json"))
    parser.add_argument(
        "--folder", default=str(FOLDER), help="the CIFAR-10 image folder (train/ and test/)"
    )
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    started = time.time()

    from actbench import params as params_lib
    from actbench.training import device

    device.configure(deterministic=False)
    import keras
    import numpy as np

    from actbench import benchmark
    from actbench.data import folders
    from actbench.runs import machine, versions
    from actbench.training import loop
    from actbench.training.pipeline import Batches, even_batch, no_draws

    params = params_lib.load(ROOT / "params.yaml")
    params = dataclasses.replace(params, profile="full")
    full = params.active_profile
    width, batch = (4, 32) if args.smoke else (full.width, full.batch_size)
    if args.smoke:
        params = dataclasses.replace(
            params,
            profiles={
                **params.profiles,
                "full": dataclasses.replace(full, width=width, batch_size=batch),
            },
        )
    precision = "float32" if args.smoke and not device.gpus() else "mixed_bfloat16"
    keras.config.set_dtype_policy(precision)
    result: dict = {"backend": device.backend(), "device_kind": device.device_kind(), "precision": precision,
                    "xla": True, "width": width, "batch_size": batch, "smoke": args.smoke,
                    "machine": machine(), "versions": versions()}  # fmt: skip
    print(
        f"gpu_check: {result['backend']} on {result['device_kind']}, {precision}, width {width}, batch {batch}",
        flush=True,
    )

    # 1. The device's matmul peak in the training precision (the MFU denominator).
    n = 256 if args.smoke else 8192
    peak = benchmark.matmul_peak(
        n=n,
        rounds=3 if args.smoke else 10,
        dtype="bfloat16" if precision != "float32" else "float32",
    )
    result["matmul_peak_tflops"] = round(peak / 1e12, 3)
    print(f"gpu_check: {n}x{n} matmul peak {peak / 1e12:.2f} TFLOP/s", flush=True)

    # 2. Training throughput per activation: compiled steps, interleaved rounds.
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (batch, 32, 32, 3), dtype=np.uint8)
    y = np.eye(10, dtype=np.float32)[np.arange(batch) % 10]
    draws = Batches(x, np.arange(batch) % 10, 10, batch, seed=0, pad=4, flip=True)[0][0][
        1
    ]  # (B, 3)
    steps = 2 if args.smoke else 20
    models = {}
    for name in ACTIVATIONS:
        model, _ = loop.build_model((32, 32, 3), 10, name, width, pad=4, flip=True)
        loop.compile_model(model, params, loop.schedule(params, 100, 40), 100, jit=True)
        models[name] = model

    def run(model):
        for _ in range(steps):
            loss = model.train_on_batch((x, draws), y)
        return loss

    medians = benchmark.interleaved(
        {k: (lambda m=m: run(m)) for k, m in models.items()}, 2 if args.smoke else args.rounds
    )
    flops = benchmark.training_flops_per_image(models["relu"])
    result["training_gflop_per_image"] = round(flops / 1e9, 3)
    result["throughput"] = {}
    for name, seconds in medians.items():
        ips = batch * steps / seconds
        result["throughput"][name] = {
            "images_per_s": round(ips, 1),
            "step_time_ratio_to_relu": round(seconds / medians["relu"], 3),
            "mfu": round(ips * flops / peak, 4),
        }
        print(
            f"gpu_check: {name:9} {ips:10.0f} images/s, {seconds / medians['relu']:.3f}x relu, MFU {ips * flops / peak:.1%}",
            flush=True,
        )

    # 3. Convergence: three epochs of the full recipe on the real CIFAR-10 JPEG folder.
    folder = Path(args.folder)
    if folder.is_dir():
        arrays = folders.read_folder(str(folder), (32, 32), "rgb", ROOT, skip_bad=False)
        x_train, y_train = arrays["x_train"], arrays["y_train"]
        x_test, y_test = arrays["x_test"], arrays["y_test"]
        if args.smoke:
            keep = rng.permutation(len(x_train))[:256]
            x_train, y_train, x_test, y_test = (
                x_train[keep],
                y_train[keep],
                x_test[:128],
                y_test[:128],
            )
        epochs = 3
        steps_per_epoch = len(x_train) // batch
        model, _ = loop.build_model((32, 32, 3), 10, "relu", width, pad=4, flip=True)
        loop.compile_model(
            model, params, loop.schedule(params, steps_per_epoch, epochs), steps_per_epoch, jit=True
        )
        history = model.fit(
            Batches(x_train, y_train, 10, batch, seed=0, pad=4, flip=True), epochs=epochs, shuffle=False,
            validation_data=((x_test, no_draws(len(x_test))), np.eye(10, dtype=np.float32)[y_test]),
            validation_batch_size=even_batch(len(x_test), 500), verbose=0,
        )  # fmt: skip
        result["convergence"] = {
            "data": f"{folder} (CIFAR-10, JPEG re-encoding): {len(x_train)} training, {len(x_test)} test images",
            "activation": "relu", "epochs": epochs,
            "test_accuracy_per_epoch": [round(float(v), 4) for v in history.history["val_accuracy"]],
            "train_loss_per_epoch": [round(float(v), 4) for v in history.history["loss"]],
        }  # fmt: skip
        print(
            f"gpu_check: convergence, test accuracy per epoch {result['convergence']['test_accuracy_per_epoch']}",
            flush=True,
        )
    else:
        result["convergence"] = f"skipped: no image folder at {folder}"
        print(f"gpu_check: {result['convergence']}", flush=True)
    result["seconds"] = round(time.time() - started, 1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"gpu_check: wrote {args.out} in {result['seconds']} s", flush=True)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main()

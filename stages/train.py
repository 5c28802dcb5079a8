"""Train stage: one ResNet-18 run for one activation, dataset and seed.

    python stages/train.py --role candidate --activation tanhrelu --dataset digits --seed 0

Writes models/<role>/<run>.keras, metrics/train/<role>/<run>.json and dvclive/<role>/<run>/,
where <run> = <activation>_<dataset>_s<seed>. Reads params: profile, profiles.<profile>.{width,
epochs,batch_size}, train.*. A diverged run (NaN loss) fails and leaves none of these behind.
"""

import time

START = time.time()  # before the heavy imports, so the stage's own overhead is measured

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import shutil  # noqa: E402
from pathlib import Path  # noqa: E402

from actbench import config, datasets  # noqa: E402
from actbench.cli import run_stage  # noqa: E402
from actbench.errors import ActbenchError  # noqa: E402
from actbench.io import atomic_path, ensure_writable, versions, write_json  # noqa: E402
from actbench.training import RunSpec, train_run  # noqa: E402


def paths(spec: RunSpec) -> dict[str, Path]:
    return {
        "model": Path("models") / spec.role / f"{spec.name}.keras",
        "metrics": Path("metrics/train") / spec.role / f"{spec.name}.json",
        "live": Path("dvclive") / spec.role / spec.name,
        "checkpoint": Path("checkpoints")
        / spec.role
        / spec.name,  # not a DVC output: survives reruns
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", required=True, choices=["baseline", "candidate"])
    parser.add_argument("--activation", required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--seed", required=True, type=int)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args()
    params = config.load(args.params)
    spec = RunSpec(args.activation, args.dataset, args.seed, args.role)
    out = paths(spec)
    ensure_writable(
        out["model"].parent, out["metrics"].parent, out["live"].parent, out["checkpoint"]
    )
    data_path = Path("data/prepared") / f"{spec.dataset}.npz"
    arrays = datasets.load_prepared(data_path)
    fingerprint = {
        "run": spec.name,
        "role": spec.role,
        "budget": dataclasses.asdict(params.budget),
        "train": dataclasses.asdict(params.train),
        "data_md5": datasets.md5sum(data_path),
    }
    setup_seconds = time.time() - START
    try:
        result = train_run(
            spec, arrays, params.budget, params.train, out["live"], out["checkpoint"], fingerprint
        )
    except ActbenchError:
        shutil.rmtree(out["live"], ignore_errors=True)  # nothing half-written for DVC
        raise
    h = result.history
    val_acc = h["val/accuracy"]
    best = max(range(len(val_acc)), key=lambda i: val_acc[i])
    with atomic_path(out["model"]) as tmp:
        result.model.save(tmp)
    write_json(
        out["metrics"],
        {
            "train_loss": float(h["train/loss"][-1]),
            "train_accuracy": float(h["train/accuracy"][-1]),
            "val_loss": float(h["val/loss"][-1]),
            "val_accuracy": float(val_acc[-1]),
            "best_val_accuracy": float(val_acc[best]),
            "best_epoch": best + 1,
            "epochs": len(val_acc),
            "resumed_from_epoch": result.resumed_from,
            "wall_time_s": round(time.time() - START, 2),
            "fit_time_s": round(result.fit_seconds, 2),
            "setup_time_s": round(setup_seconds, 2),
            "images_per_s": round(result.images_per_second, 1),
            "first_epoch_time_s": round(result.epoch_seconds[0], 2),  # includes graph tracing
            "run": spec.name,
            "role": spec.role,
            "activation": spec.activation,
            "dataset": spec.dataset,
            "seed": spec.seed,
            "profile": params.profile,
            "width": params.budget.width,
            "train_images": int(len(arrays["y_train"])),
            "versions": versions(),
        },
    )
    shutil.rmtree(out["checkpoint"], ignore_errors=True)  # the run is complete: nothing to resume
    print(f"{spec.name}: best val_acc {val_acc[best]:.4f} at epoch {best + 1}")


if __name__ == "__main__":
    run_stage(main)

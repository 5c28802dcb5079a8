"""Evaluate stage: test metrics, confusion pairs and the dying-unit diagnostic for one run.

    python stages/evaluate.py --role candidate --activation tanhrelu --dataset digits --seed 0

Reads models/<role>/<run>.keras and data/prepared/<dataset>.npz. Writes
metrics/eval/<role>/<run>.json and plots/confusion/<role>/<run>.csv (actual,predicted rows for
DVC's confusion template). Reads params: evaluate.*.
"""

import time

START = time.time()  # before the heavy imports, so the stage's own overhead is measured

import argparse  # noqa: E402
import csv  # noqa: E402
from pathlib import Path  # noqa: E402

from actbench import config, datasets, evaluation  # noqa: E402
from actbench.cli import run_stage  # noqa: E402
from actbench.io import atomic_path, ensure_writable, versions, write_json  # noqa: E402
from actbench.training import RunSpec  # noqa: E402


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
    ensure_writable(Path("metrics/eval") / spec.role, Path("plots/confusion") / spec.role)
    arrays = datasets.load_prepared(Path("data/prepared") / f"{spec.dataset}.npz")
    model = evaluation.load_model(Path("models") / spec.role / f"{spec.name}.keras")
    names = [str(n) for n in arrays["class_names"]]
    logits = evaluation.predict_logits(model, arrays["x_test"], params.evaluate.batch_size)
    metrics = evaluation.classification_metrics(arrays["y_test"], logits, names)
    n = min(params.evaluate.dying_batch, len(arrays["x_val"]))
    dying = evaluation.dying_units(
        model, arrays["x_val"][:n], arrays["y_val"][:n], params.evaluate.dying_threshold
    )
    per_class = metrics.pop("per_class")
    confusion = Path("plots/confusion") / spec.role / f"{spec.name}.csv"
    with atomic_path(confusion) as tmp, tmp.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["actual", "predicted"])
        pairs = zip(arrays["y_test"], logits.argmax(1), strict=True)
        writer.writerows((names[a], names[p]) for a, p in pairs)
    write_json(
        Path("metrics/eval") / spec.role / f"{spec.name}.json",
        {
            **metrics,
            "dead_fraction": dying["dead_fraction"],
            "first_conv_grad": dying["first_conv_grad"],
            "test_images": int(len(arrays["y_test"])),
            "dying_images": n,
            "wall_time_s": round(time.time() - START, 2),
            "run": spec.name,
            "role": spec.role,
            "activation": spec.activation,
            "dataset": spec.dataset,
            "seed": spec.seed,
            "profile": params.profile,
            "per_class": per_class,
            "dead_fraction_per_layer": dying["dead_fraction_per_layer"],
            "versions": versions(),
        },
    )
    print(
        f"{spec.name}: test accuracy {metrics['test_accuracy']:.4f}, "
        f"macro F1 {metrics['test_f1_macro']:.4f}"
    )


if __name__ == "__main__":
    run_stage(main)

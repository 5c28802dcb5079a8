"""Evaluate stage: test metrics, confusion pairs and activation diagnostics for one run.

    python stages/evaluate.py --role candidate --activation tanhrelu --dataset digits --seed 0

Reads models/<role>/<run>.keras and data/prepared/<dataset>.npz. Writes
metrics/eval/<role>/<run>.json and metrics/eval/<role>/<run>.confusion.csv (see actbench.runs).
Reads params: evaluate.*, data.split_seed (the diagnostic sample), train.deterministic (the
backend's deterministic kernels), profile (recorded in the provenance).
"""

import time

STARTED = time.time()  # before any import, so the stage's own overhead is measured

import _src  # noqa: E402, F401  (first: run the src/ next to this script)
from actbench import runs  # noqa: E402
from actbench.cli import run_stage  # noqa: E402


def main() -> None:
    params, spec = runs.from_command_line(__doc__.splitlines()[0])  # validated before Keras loads

    from actbench.training import device

    device.configure(params.train.deterministic)
    from actbench import evaluation  # heavy: Keras and its backend

    record = evaluation.evaluate(spec, params, STARTED)
    print(
        f"{spec.name}: test accuracy {record['test_accuracy']:.4f}, macro F1 {record['test_f1_macro']:.4f}, "
        f"never-active units {100 * record['diagnostics']['never_active_fraction']:.1f}%"
    )


if __name__ == "__main__":
    run_stage(main)

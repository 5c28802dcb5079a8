"""Evaluate stage: test metrics, confusion pairs and activation diagnostics for one run.

    python stages/evaluate.py --activation tanhrelu --dataset digits --seed 0 [--runner-up]

Reads models/<run>.keras and data/prepared/<dataset>.npz (the only stage that reads the test
split). Writes metrics/eval/<run>.json and metrics/eval/<run>.confusion.csv (see actbench.runs).
Reads params: evaluate.*, data.split_seed (the diagnostic sample), train.deterministic (the
backend's deterministic kernels), profile (recorded in the provenance).
"""

import time

STARTED = time.time()  # before any import, so the stage's own overhead is measured

import argparse  # noqa: E402

import _src  # noqa: E402, F401  (first: run the src/ next to this script)
from actbench import runs  # noqa: E402
from actbench.cli import run_stage  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    params, spec = runs.from_command_line(parser)  # validated before Keras loads

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

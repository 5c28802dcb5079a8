"""Tune stage: one point of the learning-rate grid for one activation on one dataset.

    python stages/tune.py --activation tanhrelu --dataset digits --lr-multiplier 2 \
        --out metrics/tune/tanhrelu_digits_x2.json

Trains the recipe at --lr-multiplier x the profile's learning_rate with each tuning seed
(profiles.<profile>.tuning.seeds) and writes the validation accuracies (see actbench.tuning);
the test split is never read. Every point is a stage of its own: widening tuning.lr_multipliers
trains only the new points. Reads params: profile, profiles.<profile>.* (the budget and the
recipe), profiles.<profile>.tuning.seeds, train.*, evaluate.batch_size.
"""

import argparse
import time
from pathlib import Path

import _src  # noqa: F401  (first: run the src/ next to this script)
from actbench import params as params_lib
from actbench import runs
from actbench.cli import run_stage
from actbench.io import write_json
from actbench.provenance import provenance


def main() -> None:
    started = time.time()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--activation", required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--lr-multiplier", required=True, type=float)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args()
    params = params_lib.load(args.params)  # validated before Keras loads
    runs.checked_spec(params, args.activation, args.dataset, 0)
    from actbench.training import device

    device.configure(params.train.deterministic)
    from actbench.training import grid  # heavy: Keras and its backend

    point = grid.point(args.activation, args.dataset, args.lr_multiplier, params)
    point |= {"profile": params.profile, "base_learning_rate": params.active_profile.learning_rate,
              "stage_seconds": round(time.time() - started, 2)}  # fmt: skip
    write_json(args.out, {**point, **provenance(params.profile)})
    print(f"{args.activation} on {args.dataset} at x{args.lr_multiplier:g}: mean validation "
          f"accuracy {point['mean']:.4f} over tuning seeds {params.tuning_seeds}")  # fmt: skip


if __name__ == "__main__":
    run_stage(main)

"""Tune stage: one activation on one dataset at every learning rate of the profile's grid.

    python stages/tune.py --activation tanhrelu --dataset digits

Trains profiles.<profile>.tuning.lr_multipliers x learning_rate with each tuning seed and
writes their validation accuracies to metrics/tune/<activation>_<dataset>.json (see
actbench.tuning); the test split is never read. With tuning off it trains nothing and writes
that. Reads params: profile, profiles.<profile>.*, train.*, evaluate.batch_size.
"""

import argparse
import time

import _src  # noqa: F401  (first: run the src/ next to this script)
from actbench import params as params_lib
from actbench import runs, tuning
from actbench.cli import run_stage
from actbench.io import write_json
from actbench.provenance import provenance


def main() -> None:
    started = time.time()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--activation", required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args()
    params = params_lib.load(args.params)  # validated before Keras loads
    runs.checked_spec(params, args.activation, args.dataset, 0)
    if params.tuning.enabled:
        from actbench.training import device

        device.configure(params.train.deterministic)
        from actbench.training import grid  # heavy: Keras and its backend

        record = grid.tune(args.activation, args.dataset, params)
    else:  # nothing to train: no Keras
        record = tuning.header(args.activation, args.dataset, params)
    record["seconds"] = round(time.time() - started, 2)
    write_json(
        runs.tuning_record(args.activation, args.dataset), {**record, **provenance(params.profile)}
    )
    if record["enabled"]:
        scores = ", ".join(f"x{p['lr_multiplier']:g}: {p['mean']:.4f}" for p in record["points"])
        print(f"{args.activation} on {args.dataset}: mean validation accuracy {scores}")
    else:
        print(
            f"{args.activation} on {args.dataset}: tuning is off (profiles.{params.profile}.tuning.enabled)"
        )


if __name__ == "__main__":
    run_stage(main)

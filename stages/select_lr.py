"""Select stage: each activation's learning rate on each dataset, from the tuning scores alone.

    python stages/select_lr.py     # not select.py: that would shadow the standard library's select

Reads metrics/tune/<activation>_<dataset>.json of every activation and dataset the params
define and writes metrics/selected/<activation>_<dataset>.json (the multiple of the profile's
learning rate it trains at: 1 when tuning is off), which that activation's train stages read.
Reads params: activations, datasets, profile, profiles.<profile>.tuning.
"""

import argparse
from pathlib import Path

import _src  # noqa: F401  (first: run the src/ next to this script)
from actbench import params as params_lib
from actbench import runs, tuning
from actbench.cli import run_stage
from actbench.errors import ActbenchError
from actbench.io import atomic_path, read_json, write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", default="metrics/selected", type=Path)
    args = parser.parse_args()
    params = params_lib.load(args.params)
    chosen = {}
    for act in params.activations:
        for dataset in params.datasets:
            path = runs.tuning_record(act, dataset)
            if not path.is_file():
                raise ActbenchError(
                    f"{path} is missing; run `dvc repro` (the tune stage writes it)"
                )
            record = read_json(path)
            if record["enabled"] != params.tuning.enabled or record["profile"] != params.profile:
                raise ActbenchError(
                    f"{path} is from other tuning params; run `dvc repro` to redo it"
                )
            chosen[(act, dataset)] = tuning.selection(record)
    with atomic_path(args.out, directory=True) as tmp:  # the whole folder, or nothing
        for (act, dataset), choice in chosen.items():
            write_json(tmp / runs.selection_of(act, dataset).name, choice)
    how = tuning.protocol(params)
    for (act, dataset), choice in chosen.items():
        print(f"{act} on {dataset}: learning rate x{choice['lr_multiplier']:g} ({how})")


if __name__ == "__main__":
    run_stage(main)

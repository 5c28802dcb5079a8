"""Gather stage: each activation's grid points on each dataset, in one file per pair.

    python stages/gather.py

Reads the tune stages' points (metrics/tune/<activation>_<dataset>_x<multiplier>.json) of the
grid in tuning.lr_multipliers and writes metrics/grid/<activation>_<dataset>.json, which that
activation's select stage reads (so a new point of one activation reruns only its own select).
With tuning off (an empty grid) every file holds no points. Trains nothing.
Reads params: activations, datasets, profile, tuning.lr_multipliers.
"""

import argparse
import json
from pathlib import Path

import _src  # noqa: F401  (first: run the src/ next to this script)
from actbench import params as params_lib
from actbench import runs
from actbench.cli import run_stage
from actbench.errors import ActbenchError
from actbench.io import atomic_path, write_json


def points(activation: str, dataset: str, grid: list[float], profile: str) -> list[dict]:
    """The grid's points of ``activation`` on ``dataset``, by multiplier; each must be there."""
    found = {}
    for path in runs.TUNE.glob(f"{activation}_{dataset}_x*.json"):
        record = json.loads(path.read_text())
        if record["activation"] == activation and record["dataset"] == dataset:
            found[float(record["lr_multiplier"])] = record
    missing = [m for m in grid if float(m) not in found]
    if missing:
        raise ActbenchError(f"{runs.TUNE} has no point of {activation} on {dataset} at "
                            f"{', '.join(f'x{m:g}' for m in missing)}; run `dvc repro`")  # fmt: skip
    stale = [m for m in grid if found[float(m)]["profile"] != profile]
    if stale:
        raise ActbenchError(f"the points of {activation} on {dataset} at {stale} are from another "
                            "profile; run `dvc repro` to redo them")  # fmt: skip
    return [found[float(m)] for m in sorted(grid)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", default="metrics/grid", type=Path)
    args = parser.parse_args()
    params = params_lib.load(args.params)
    grid = params.tuning.lr_multipliers
    gathered = {
        (a, d): points(a, d, grid, params.profile)
        for a in params.activations
        for d in params.datasets
    }
    with atomic_path(args.out, directory=True) as tmp:  # the whole folder, or nothing
        for (act, dataset), found in gathered.items():
            write_json(tmp / runs.grid_record(act, dataset).name,
                       {"activation": act, "dataset": dataset, "grid": sorted(grid), "points": found})  # fmt: skip
    print(
        f"gathered {sum(map(len, gathered.values()))} grid points of {len(gathered)} activation-dataset pairs"
    )


if __name__ == "__main__":
    run_stage(main)

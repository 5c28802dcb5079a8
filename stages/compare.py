"""Compare stage: aggregate every run over seeds and test the candidate against each baseline.

    python stages/compare.py

Writes metrics/comparison.json (per activation and dataset: mean, std, 95% CI and per-seed
values; per dataset and baseline: the family-corrected tests, interval, minimum detectable
difference and verdict; across datasets: the probability of improvement) and
metrics/summary.json (the compact table `dvc exp show` and `dvc metrics diff` display); also
the leaderboard of every activation and, when tuning is on, how it changed their ranking.
Reads params: activation, activations, datasets, seeds, profile, profiles.<profile>.tuning,
compare.*.
"""

import argparse
from pathlib import Path

import _src  # noqa: F401  (first: run the src/ next to this script)
from actbench import params as params_lib
from actbench import results
from actbench.cli import run_stage
from actbench.io import all_or_nothing, write_json
from actbench.provenance import provenance


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", default="metrics/comparison.json", type=Path)
    parser.add_argument("--summary", default="metrics/summary.json", type=Path)
    args = parser.parse_args()
    params = params_lib.load(args.params)
    groups = results.group_runs(params)
    comparison = results.compare(params, groups)
    summary = results.summary(comparison)
    with all_or_nothing(args.out, args.summary):  # both or neither, like every stage's outputs
        write_json(args.out, {**comparison, "provenance": provenance(params.profile)})
        write_json(args.summary, summary)
    for dataset in params.datasets:
        verdicts = ", ".join(
            f"{b}: {v['verdict']}" for b, v in summary[dataset].items() if isinstance(v, dict)
        )
        print(f"{dataset}: {params.activation} {summary[dataset]['accuracy']:.4f} ({verdicts})")


if __name__ == "__main__":
    run_stage(main)

"""Compare stage: aggregate every evaluated run over seeds and test the candidate.

    python stages/compare.py

Writes metrics/compare/<activation>_<dataset>.json (mean, std, 95% CI and per-seed values of test
accuracy, macro-F1, best validation accuracy, last-epochs validation spread and the dying-unit
diagnostic), metrics/compare/comparison.json (paired tests with Holm correction and verdicts)
and metrics/summary.json (the compact table for `dvc exp show`). Reads params: activation,
baselines, datasets, seeds, profile, compare.*.
"""

import argparse
from pathlib import Path

from actbench import config, results
from actbench.cli import run_stage
from actbench.io import write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", default="metrics/compare", type=Path)
    parser.add_argument("--summary", default="metrics/summary.json", type=Path)
    args = parser.parse_args()
    params = config.load(args.params)
    groups = results.group_runs(params)
    for (activation, dataset), group in groups.items():
        summary = group.summary(params.compare.last_epochs, params.profile)
        write_json(args.out / f"{activation}_{dataset}.json", summary)
    comparisons = results.compare(params, groups)
    write_json(
        args.out / "comparison.json",
        {
            "candidate": params.activation,
            "alpha": params.compare.alpha,
            "profile": params.profile,
            "datasets": comparisons,
        },  # fmt: skip
    )
    summary = results.summary(params, groups, comparisons)
    write_json(args.summary, summary)
    for dataset in params.datasets:
        row = summary[dataset]
        print(
            f"{dataset}: {params.activation} {row['test_accuracy']:.4f}, {row.get('verdict_vs_best', '-')}"
        )


if __name__ == "__main__":
    run_stage(main)

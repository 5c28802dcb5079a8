"""Plot stage: the figures under plots/figures/ and report.md at the repository root.

    python stages/plot.py

Reads the per-run metrics and curves, metrics/compare/ and data/prepared/<dataset>.json.
Reads params: activation, baselines, datasets, seeds, profile, profiles.<profile>.*,
compare.*, plot.smoothing.
"""

import argparse
import shutil
from pathlib import Path

from actbench import config, plotting, report, results
from actbench.cli import run_stage
from actbench.io import atomic_path, read_json, versions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--figures", default="plots/figures", type=Path)
    parser.add_argument("--report", default="report.md", type=Path)
    args = parser.parse_args()
    params = config.load(args.params)
    groups = results.group_runs(params)
    comparisons = read_json("metrics/compare/comparison.json")["datasets"]
    summaries = {
        key: read_json(Path("metrics/compare") / f"{key[0]}_{key[1]}.json") for key in groups
    }
    acts, cand, prof = params.activations, params.activation, params.profile
    shutil.rmtree(args.figures, ignore_errors=True)  # no stale figures from other datasets
    figures: dict[str, list[str]] = {}
    sizes = {}
    for dataset in params.datasets:
        meta = read_json(Path("data/prepared") / f"{dataset}.json")
        sizes[dataset] = {k: v["total"] for k, v in meta["counts"].items()}
        names = meta["class_names"]
        paths = {
            kind: args.figures / f"{kind}_{dataset}.png"
            for kind in ("curves", "comparison", "confusion")
        }
        plotting.learning_curves(
            groups, dataset, acts, cand, params.plot.smoothing, prof, paths["curves"]
        )
        plotting.comparison(summaries, comparisons, dataset, acts, cand, prof, paths["comparison"])
        means = {b: summaries[(b, dataset)]["test_accuracy"]["mean"] for b in comparisons[dataset]}
        best = max(means, key=lambda b: means[b]) if means else None
        plotting.confusion(groups, dataset, cand, best, names, prof, paths["confusion"])
        figures[dataset] = [p.as_posix() for p in paths.values()]
    general = [args.figures / "activations.png", args.figures / "dying_units.png"]
    plotting.activation_functions(acts, cand, prof, general[0])
    plotting.dying_units(summaries, params.datasets, acts, cand, prof, general[1])
    figures[""] = [p.as_posix() for p in general]
    text = report.render(
        params=params, summaries=summaries, comparisons=comparisons, sizes=sizes,
        versions=versions(), figures=figures,
    )  # fmt: skip
    with atomic_path(args.report) as tmp:
        tmp.write_text(text)
    print(
        f"wrote {args.report} and {sum(len(v) for v in figures.values())} figures in {args.figures}"
    )


if __name__ == "__main__":
    run_stage(main)

"""Plot stage: figures, the data behind DVC's own charts, and report.md.

    python stages/plot.py

Writes plots/figures/*.png (learning curves and comparison per dataset, activation shapes,
diagnostics), plots/report/confusion_<dataset>.png (for report.md), plots/curves/<dataset>.csv
(mean validation curves of every activation: `dvc plots show` overlays them) and
plots/confusion/<dataset>.csv (the candidate's test predictions over all seeds),
plots/tuning/<dataset>.csv (validation accuracy against the learning rate, when tuning is on),
the leaderboard and tuning figures, each learnable activation's learned shapes, and report.md. Reads params: activation, activations,
datasets, seeds, profile, profiles.<profile>.*, compare.*, plot.smoothing.
"""

import argparse
import shutil
from pathlib import Path

import _src  # noqa: F401  (first: run the src/ next to this script)
from actbench import activations, plotting, report, results
from actbench import params as params_lib
from actbench.cli import run_stage
from actbench.data import prepared
from actbench.io import atomic_path, read_json
from actbench.provenance import versions
from actbench.runs import RunSpec, tuning_record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--plots", default="plots", type=Path)
    parser.add_argument("--report", default="report.md", type=Path)
    args = parser.parse_args()
    params = params_lib.load(args.params)
    groups = results.group_runs(params)
    comparison = read_json("metrics/comparison.json")
    acts, cand, prof = params.activations, params.activation, params.profile
    for sub in ("figures", "report", "curves", "confusion", "tuning"):
        shutil.rmtree(args.plots / sub, ignore_errors=True)  # no stale files from other datasets
    figures: dict[str, list[str]] = {}
    sizes = {}
    for dataset in params.datasets:
        meta = read_json(prepared.sidecar_of(dataset))
        sizes[dataset] = {k: v["total"] for k, v in meta["counts"].items()}
        results.write_curves(groups, params, args.plots / "curves" / f"{dataset}.csv", dataset)
        results.write_candidate_confusion(
            groups, params, args.plots / "confusion" / f"{dataset}.csv", dataset
        )
        paths = [args.plots / "figures" / f"curves_{dataset}.png", args.plots / "figures" / f"comparison_{dataset}.png",
                 args.plots / "report" / f"confusion_{dataset}.png"]  # fmt: skip
        plotting.learning_curves(groups, dataset, acts, cand, params.plot.smoothing, prof, paths[0])
        versus = comparison["comparisons"][dataset]
        plotting.comparison(comparison["aggregates"], versus, dataset, acts, cand, prof, paths[1])
        best = results.best_baseline(comparison, dataset)
        plotting.confusion(groups, dataset, cand, best, meta["class_names"], prof, paths[2])
        figures[dataset] = [p.as_posix() for p in paths]
    general = [
        args.plots / "figures" / "activations.png",
        args.plots / "figures" / "diagnostics.png",
    ]
    plotting.activation_functions(acts, cand, prof, general[0])
    plotting.diagnostics(comparison["aggregates"], params.datasets, acts, cand, prof, general[1])
    figures[""] = [p.as_posix() for p in general]
    learnable = [a for a in acts if activations.is_learnable(a)]
    if learnable:  # what training made of each site, from the first seed's model per dataset
        from actbench.evaluation import load_model

        for act in learnable:
            shapes = args.plots / "figures" / f"learned_{act}.png"
            models = {
                d: load_model(RunSpec(act, d, params.seeds[0]).model, act) for d in params.datasets
            }
            plotting.learned_shapes(models, act, prof, shapes)
            figures[""].append(shapes.as_posix())
    board = args.plots / "figures" / "leaderboard.png"
    plotting.leaderboard(comparison["leaderboard"], cand, prof, board)
    figures["leaderboard"] = [board.as_posix()]
    (args.plots / "tuning").mkdir(parents=True, exist_ok=True)  # a declared output; empty when off
    if comparison["tuning"]:
        for dataset in params.datasets:
            results.write_tuning(params, args.plots / "tuning" / f"{dataset}.csv", dataset)
        scores = {
            d: {a: read_json(tuning_record(a, d))["points"] for a in acts} for d in params.datasets
        }
        grid = args.plots / "figures" / "tuning.png"
        plotting.tuning_curves(comparison["tuning"], scores, cand, prof, grid)
        budget = args.plots / "figures" / "tuning_budget.png"
        plotting.expected_best(comparison["tuning"], cand, prof, budget)
        figures["tuning"] = [grid.as_posix(), budget.as_posix()]
    text = report.render(
        params=params, comparison=comparison, sizes=sizes, versions=versions(), figures=figures
    )
    with atomic_path(args.report) as tmp:
        tmp.write_text(text)
    print(
        f"wrote {args.report} and {sum(len(v) for v in figures.values())} figures under {args.plots}"
    )


if __name__ == "__main__":
    run_stage(main)

"""Aggregation: the runs the params define, over seeds, and the candidate against every
baseline as one family of tests. Reads the runs' JSON records and curves; no TensorFlow.

The runs read are exactly those the current params define, so stale files from other
experiments are never mixed in. When the candidate is also a baseline, the candidate's own runs
represent it and it is not compared with itself. Runs are paired only when they were trained in
the same precision on the same kind of device.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from actbench import stats
from actbench.errors import ActbenchError
from actbench.io import read_json
from actbench.params import Params
from actbench.runs import RunSpec, read_history, runs_of

LR_FLOOR = 0.1  # a late-epoch spread needs the learning rate at >= 10% of its peak throughout
AGGREGATED = ("test_accuracy", "test_f1_macro", "best_val_accuracy", "never_active_fraction",
              "mean_abs_derivative", "late_epoch_spread")  # fmt: skip


@dataclass
class Run:
    spec: RunSpec
    train: dict
    eval: dict
    history: dict[str, list[float]]

    def late_epoch_spread(self, late_epochs: int) -> float:
        """Detrended std of the last ``late_epochs`` validation accuracies, or NaN ("n/a") unless
        the window lies wholly after warm-up and the learning rate stays at least ``LR_FLOOR``
        of its peak in it: otherwise it measures warm-up or an annealed, frozen curve."""
        val, lr = self.history["val_accuracy"], self.history["learning_rate"]
        epochs, warmup = len(val), self.train["schedule"]["warmup_epochs"]
        if epochs - late_epochs < warmup or late_epochs < 3:
            return math.nan
        if min(lr[-late_epochs:]) < LR_FLOOR * max(lr):
            return math.nan
        return stats.detrended_std(val[-late_epochs:])

    def value(self, key: str, late_epochs: int) -> float:
        if key == "late_epoch_spread":
            return self.late_epoch_spread(late_epochs)
        if key == "best_val_accuracy":
            return float(self.train[key])
        if key in ("never_active_fraction", "mean_abs_derivative"):
            return float(self.eval["diagnostics"][key])
        return float(self.eval[key])

    def setup(self) -> tuple[str, str]:
        """How the run was trained: (precision, device kind)."""
        return self.train["device"]["precision"], self.train["device"]["device_kind"]


def load_run(spec: RunSpec) -> Run:
    loaded = {}
    for kind, path in (("train", spec.train_record), ("eval", spec.eval_record)):
        if not path.is_file():
            raise ActbenchError(
                f"{path} is missing; run `dvc repro` to train and evaluate {spec.name}"
            )
        loaded[kind] = read_json(path)
    return Run(spec, loaded["train"], loaded["eval"], read_history(spec.curves))


@dataclass
class Group:
    """All seeds of one activation on one dataset."""

    activation: str
    dataset: str
    role: str
    runs: list[Run] = field(default_factory=list)

    def per_seed(self, key: str, late_epochs: int) -> dict[int, float]:
        """Values by seed; seeds where the quantity is undefined (NaN) are left out."""
        values = {r.spec.seed: r.value(key, late_epochs) for r in self.runs}
        return {s: v for s, v in values.items() if math.isfinite(v)}

    def aggregate(self, late_epochs: int) -> dict:
        out: dict[str, object] = {"role": self.role, "seeds": [r.spec.seed for r in self.runs]}
        for key in AGGREGATED:
            values = self.per_seed(key, late_epochs)
            out[key] = {**stats.describe(list(values.values())).to_dict(), "per_seed": values}
        return out


def stage_of(spec: RunSpec) -> str:
    """The DVC stage that trains ``spec``."""
    stage = "train_candidate" if spec.role == "candidate" else "train"
    return f"{stage}@{spec.role}-{spec.activation}-{spec.dataset}-{spec.seed}"


def group_runs(params: Params) -> dict[tuple[str, str], Group]:
    groups: dict[tuple[str, str], Group] = {}
    specs = runs_of(params.activation, params.baselines, params.datasets, params.seeds)
    for spec in specs:
        key = (spec.activation, spec.dataset)
        groups.setdefault(key, Group(spec.activation, spec.dataset, spec.role))
        groups[key].runs.append(load_run(spec))
    for dataset in params.datasets:
        runs = [r for g in groups.values() if g.dataset == dataset for r in g.runs]
        setups = {r.setup() for r in runs}
        if len(setups) > 1:
            a = runs[0]
            b = next(r for r in runs if r.setup() != a.setup())
            raise ActbenchError(
                f"cannot pair runs trained differently on {dataset}: {a.spec.name} ({a.setup()[0]} on "
                f"{a.setup()[1]}) and {b.spec.name} ({b.setup()[0]} on {b.setup()[1]}); retrain one side "
                f"on the other's kind of device and precision, e.g. `dvc repro -f -s {stage_of(b.spec)}` there"
            )
    return groups


def compare(params: Params, groups: dict[tuple[str, str], Group]) -> dict:
    """Aggregates, the family of comparisons with verdicts, and the cross-dataset summary."""
    late = params.compare.late_epochs
    family = {}
    for dataset in params.datasets:
        cand = groups[(params.activation, dataset)].per_seed("test_accuracy", late)
        for b in params.baselines:
            if b != params.activation:
                family[(dataset, b)] = stats.pair(
                    cand, groups[(b, dataset)].per_seed("test_accuracy", late)
                )
    stats.decide(family, params.compare.alpha, params.margin / 100)
    testable = sum(c.testable for c in family.values())
    baselines = [b for b in params.baselines if b != params.activation]
    first = {d: groups[(params.activation, d)].runs[0] for d in params.datasets}
    return {
        "candidate": params.activation,
        "baselines": baselines,
        "profile": params.profile,
        "family": {
            "comparisons": testable,
            "alpha": params.compare.alpha,
            "correction": "Holm, across every dataset x baseline of this report",
            "sidedness": "two-sided",
            "verdict_test": "paired t-test over seeds",
            "equivalence_test": "TOST (two one-sided paired t-tests)",
            "check_test": f"exact sign-flip permutation test (n >= {stats.MIN_PERMUTATION_SEEDS})",
            "interval_level": 1 - params.compare.alpha / max(testable, 1),
            "equivalence_margin_points": params.margin,
            "power_for_min_detectable_diff": stats.POWER,
        },
        "scope": {
            d: {
                "test_images": first[d].eval["test_images"],
                "train_images": first[d].train["train_images"],
                "epochs": first[d].train["epochs"],
                "batch_size": first[d].train["batch_size"],
                "width": first[d].train["width"],
                "precision": first[d].setup()[0],
                "device_kind": first[d].setup()[1],
            }
            for d in params.datasets
        },
        "aggregates": {
            act: {d: groups[(act, d)].aggregate(late) for d in params.datasets}
            for act in params.activations
        },
        "comparisons": {
            d: {b: family[(d, b)].to_dict() for b in baselines} for d in params.datasets
        },
        "probability_of_improvement": {
            b: stats.probability_of_improvement(
                {d: list(family[(d, b)].diffs.values()) for d in params.datasets}
            )
            for b in baselines
        },
    }


def _round(x: float | None, digits: int = 4) -> float | None:
    return None if x is None else round(float(x), digits)


def summary(comparison: dict) -> dict:
    """The compact table `dvc exp show` and `dvc metrics diff` display (fractions, not %)."""
    out: dict[str, object] = {"candidate": comparison["candidate"]}
    for dataset, versus in comparison["comparisons"].items():
        acc = comparison["aggregates"][comparison["candidate"]][dataset]["test_accuracy"]
        row: dict[str, object] = {
            "accuracy": _round(acc["mean"]),
            "ci_low": _round(acc["ci95"][0]) if acc["ci95"] else None,
            "ci_high": _round(acc["ci95"][1]) if acc["ci95"] else None,
        }
        for baseline, c in versus.items():
            base = comparison["aggregates"][baseline][dataset]["test_accuracy"]["mean"]
            row[baseline] = {
                "accuracy": _round(base),
                "diff": _round(c["mean_diff"]),
                "p_holm": _round(c["p_holm"]),
                "verdict": c["verdict"],
            }
        out[dataset] = row
    return out


def best_baseline(comparison: dict, dataset: str) -> str | None:
    """The baseline with the highest mean test accuracy on ``dataset``."""
    means = {
        b: comparison["aggregates"][b][dataset]["test_accuracy"]["mean"]
        for b in comparison["baselines"]
    }
    return max(means, key=lambda b: means[b]) if means else None


def label(activation: str, candidate: str) -> str:
    return f"{activation} (candidate)" if activation == candidate else activation


def write_curves(
    groups: dict[tuple[str, str], Group], params: Params, path: Path, dataset: str
) -> None:
    """Mean validation accuracy and loss per epoch over seeds, one row per activation and
    epoch (long format, for the DVC chart that overlays the activations)."""
    from actbench.io import atomic_path

    with atomic_path(path) as tmp, tmp.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["epoch", "activation", "val_accuracy", "val_loss"])
        for act in params.activations:
            runs = groups[(act, dataset)].runs
            n = min(len(r.history["val_accuracy"]) for r in runs)
            acc = np.mean([r.history["val_accuracy"][:n] for r in runs], axis=0)
            loss = np.mean([r.history["val_loss"][:n] for r in runs], axis=0)
            name = label(act, params.activation)
            writer.writerows((e + 1, name, f"{acc[e]:.6f}", f"{loss[e]:.6f}") for e in range(n))


def write_candidate_confusion(
    groups: dict[tuple[str, str], Group], params: Params, path: Path, dataset: str
) -> None:
    """The candidate's ``actual,predicted`` pairs of every seed, for DVC's confusion chart."""
    from actbench.io import atomic_path

    with atomic_path(path) as tmp, tmp.open("w", newline="") as out:
        out.write("actual,predicted\n")
        for run in groups[(params.activation, dataset)].runs:
            with run.spec.confusion.open() as fh:
                next(fh)
                out.writelines(fh)

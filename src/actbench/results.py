"""Collect per-run metrics into per-activation aggregates and candidate-vs-baseline verdicts.

The runs read are exactly those the current params define (the candidate over datasets x seeds,
each baseline over datasets x seeds), so stale files from other experiments are never mixed in.
When the candidate is also a baseline, the candidate's own runs represent it and it is not
compared with itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from actbench import stats
from actbench.config import Params
from actbench.errors import ActbenchError
from actbench.io import read_json
from actbench.training import RunSpec, read_history

AGGREGATED = ("test_accuracy", "test_f1_macro", "best_val_accuracy", "last_epochs_val_std",
              "dead_fraction", "first_conv_grad")  # fmt: skip


def runs_of(params: Params) -> list[RunSpec]:
    """Every run the params define; the candidate's runs stand for its activation."""
    out = [
        RunSpec(params.activation, d, s, "candidate") for d in params.datasets for s in params.seeds
    ]
    for act in params.baselines:
        if act != params.activation:
            out += [RunSpec(act, d, s, "baseline") for d in params.datasets for s in params.seeds]
    return out


def detrended_std(values: np.ndarray) -> float:
    """Epoch-to-epoch jitter: std of the residuals around a least-squares line (ddof = 2).

    Removing the line keeps a curve that is still rising from counting as "variance"; NaN when
    fewer than 3 epochs are available.
    """
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 3:
        return math.nan
    epochs = np.arange(len(values))
    residuals = values - np.polyval(np.polyfit(epochs, values, 1), epochs)
    return float(np.sqrt(np.sum(residuals**2) / (len(values) - 2)))


@dataclass
class Run:
    spec: RunSpec
    train: dict
    eval: dict
    history: dict[str, np.ndarray]
    confusion: Path

    def value(self, key: str, last_epochs: int) -> float:
        if key == "last_epochs_val_std":
            return detrended_std(self.history["val/accuracy"][-last_epochs:])
        if key == "best_val_accuracy":
            return float(self.train[key])
        return float(self.eval[key])


def load_run(spec: RunSpec) -> Run:
    paths = {
        "train": Path("metrics/train") / spec.role / f"{spec.name}.json",
        "eval": Path("metrics/eval") / spec.role / f"{spec.name}.json",
    }
    loaded = {}
    for kind, path in paths.items():
        if not path.is_file():
            raise ActbenchError(
                f"{path} is missing; run `dvc repro` to train and evaluate {spec.name}"
            )
        loaded[kind] = read_json(path)
    history = read_history(Path("dvclive") / spec.role / spec.name)
    confusion = Path("plots/confusion") / spec.role / f"{spec.name}.csv"
    return Run(spec, loaded["train"], loaded["eval"], history, confusion)


@dataclass
class Group:
    """All seeds of one activation on one dataset."""

    activation: str
    dataset: str
    role: str
    runs: list[Run] = field(default_factory=list)

    def per_seed(self, key: str, last_epochs: int) -> dict[int, float]:
        """Values by seed; seeds where the quantity is undefined (NaN) are left out."""
        values = {r.spec.seed: r.value(key, last_epochs) for r in self.runs}
        return {s: v for s, v in values.items() if math.isfinite(v)}

    def summary(self, last_epochs: int, profile: str) -> dict:
        out = {
            "activation": self.activation,
            "dataset": self.dataset,
            "role": self.role,
            "profile": profile,
            "n_seeds": len(self.runs),
            "seeds": [r.spec.seed for r in self.runs],
        }
        for key in AGGREGATED:
            values = self.per_seed(key, last_epochs)
            out[key] = {**stats.summarize(list(values.values())).to_dict(), "per_seed": values}
        return out


def group_runs(params: Params) -> dict[tuple[str, str], Group]:
    groups: dict[tuple[str, str], Group] = {}
    for spec in runs_of(params):
        key = (spec.activation, spec.dataset)
        groups.setdefault(key, Group(spec.activation, spec.dataset, spec.role))
        groups[key].runs.append(load_run(spec))
    return groups


def compare(params: Params, groups: dict[tuple[str, str], Group]) -> dict[str, dict]:
    """Per dataset: the candidate against every other baseline, Holm-corrected, with verdicts."""
    last = params.compare.last_epochs
    out = {}
    for dataset in params.datasets:
        cand = groups[(params.activation, dataset)].per_seed("test_accuracy", last)
        family = {
            b: stats.paired(cand, groups[(b, dataset)].per_seed("test_accuracy", last))
            for b in params.baselines
            if b != params.activation
        }
        out[dataset] = {
            b: p.to_dict() for b, p in stats.verdicts(family, params.compare.alpha).items()
        }
    return out


def summary(params: Params, groups: dict[tuple[str, str], Group], comparisons: dict) -> dict:
    """The compact table for `dvc exp show` / `dvc metrics diff`."""
    last = params.compare.last_epochs
    out: dict[str, object] = {"candidate": params.activation, "profile": params.profile}
    for dataset in params.datasets:
        cand = stats.summarize(
            list(groups[(params.activation, dataset)].per_seed("test_accuracy", last).values())
        )
        means = {
            b: stats.summarize(
                list(groups[(b, dataset)].per_seed("test_accuracy", last).values())
            ).mean
            for b in comparisons[dataset]
        }
        row: dict[str, object] = {"test_accuracy": cand.mean, "n_seeds": cand.n}
        if means:
            best = max(means, key=lambda b: means[b])
            row |= {
                "best_baseline": best,
                "delta_vs_best": cand.mean - means[best],
                "verdict_vs_best": comparisons[dataset][best]["verdict"],
            }
        out[dataset] = row
    return out

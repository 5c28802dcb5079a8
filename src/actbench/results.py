"""Aggregation: the runs the params define, over seeds; the candidate against every baseline
as one family of tests; a leaderboard of every activation; what tuning the learning rate changed.
Reads the runs' JSON records, curves and tuning scores; no TensorFlow.

The runs read are exactly those the current params define, so stale files from other
experiments are never mixed in. Runs are paired only when they were trained in the same
precision on the same kind of device.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from actbench import stats, tuning
from actbench.curves import read_history
from actbench.errors import ActbenchError
from actbench.io import read_json
from actbench.params import Params
from actbench.runs import RunSpec, runs_of, tuning_record

AGGREGATED = ("test_accuracy", "test_f1_macro", "best_val_accuracy", "never_active_fraction",
              "mean_abs_derivative")  # fmt: skip


@dataclass
class Run:
    spec: RunSpec
    train: dict
    eval: dict
    history: dict[str, list[float]]

    def value(self, key: str) -> float:
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
    runs: list[Run] = field(default_factory=list)

    def per_seed(self, key: str) -> dict[int, float]:
        """Values by seed; seeds where the quantity is undefined (NaN) are left out."""
        values = {r.spec.seed: r.value(key) for r in self.runs}
        return {s: v for s, v in values.items() if math.isfinite(v)}

    def aggregate(self, candidate: str) -> dict:
        role = "candidate" if self.activation == candidate else "baseline"
        out: dict[str, object] = {"role": role, "seeds": [r.spec.seed for r in self.runs]}
        for key in AGGREGATED:
            values = self.per_seed(key)
            out[key] = {**stats.describe(list(values.values())).to_dict(), "per_seed": values}
        out["learning_rate_multiplier"] = self.runs[0].train["schedule"].get("lr_multiplier", 1.0)
        return out


def stage_of(spec: RunSpec) -> str:
    """The DVC stage that trains ``spec``."""
    return f"train@{spec.activation}-{spec.dataset}-{spec.seed}"


def group_runs(params: Params) -> dict[tuple[str, str], Group]:
    """Every run the params define, by (activation, dataset); refuses to pair runs trained
    differently (device kind, precision) on one dataset."""
    groups: dict[tuple[str, str], Group] = {}
    for spec in runs_of(params.activations, params.datasets, params.seeds):
        key = (spec.activation, spec.dataset)
        groups.setdefault(key, Group(spec.activation, spec.dataset))
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
            )  # fmt: skip
    return groups


def leaderboard(params: Params, groups: dict[tuple[str, str], Group]) -> dict:
    """Every activation the pipeline trained, ranked per dataset by mean test accuracy (with its
    95% interval and n) and across datasets by mean accuracy over datasets, each rank with its
    simultaneous 95% confidence set (``stats.rank_sets``). It describes; the candidate's verdicts
    are the report's tests."""
    acc = {d: {a: groups[(a, d)].per_seed("test_accuracy") for a in params.activations}
           for d in params.datasets}  # fmt: skip
    sets = stats.rank_sets(acc)
    per_dataset = {}
    for dataset, by_act in acc.items():
        table = (sets.get("per_dataset") or {}).get(dataset) or {"ranks": {}}
        rows = []
        for act, values in by_act.items():
            desc = stats.describe(list(values.values())).to_dict()
            bounds = table["ranks"].get(act)
            rows.append({"activation": act, "role": "candidate" if act == params.activation else "baseline",
                         "mean": desc["mean"], "std": desc["std"], "ci95": desc["ci95"], "n": desc["n"],
                         "rank_set": [bounds["low"], bounds["high"]] if bounds else None})  # fmt: skip
        rows.sort(key=lambda r: -(r["mean"] if r["mean"] is not None else -math.inf))
        ranks = stats.ranks([r["mean"] for r in rows])
        for row, rank in zip(rows, ranks, strict=True):
            row["rank"] = rank
        per_dataset[dataset] = rows
    return {
        "ordered_by": "mean test accuracy over seeds; rank 1 = highest (ties share the mean rank)",
        "tested": False,
        "rank_sets": {"method": sets.get("method"), "level": sets.get("level")},
        "per_dataset": per_dataset,
        "overall": sets.get("overall"),
    }


def tuning_effect(params: Params) -> dict | None:
    """On the tuning runs: the ranking of the activations at the shared rate (multiplier 1)
    against the ranking at each one's selected rate, per dataset (Kendall's tau)."""
    if not params.tuning.enabled:
        return None
    from scipy.stats import kendalltau

    out = {}
    for dataset in params.datasets:
        shared, tuned, chosen, runner_up, edge, budget = {}, {}, {}, {}, {}, {}
        for act in params.activations:
            record = read_json(tuning_record(act, dataset))
            means = {p["lr_multiplier"]: p["mean"] for p in record["points"]}
            chosen[act], runner_up[act] = record["chosen"], record["runner_up"]
            shared[act], tuned[act] = means[1.0], means[chosen[act]]
            edge[act] = record["still_at_edge"]
            budget[act] = {**record["budget"], "extended": record["extended"],
                           "points": len(record["points"]), "noise": record["noise"]}  # fmt: skip
        acts = list(shared)
        tau, p = kendalltau([shared[a] for a in acts], [tuned[a] for a in acts])
        out[dataset] = {
            "selected_multiplier": chosen, "runner_up_multiplier": runner_up, "still_at_edge": edge,
            "budget": budget, "val_accuracy_shared": shared, "val_accuracy_tuned": tuned,
            "rank_shared": sorted(acts, key=lambda a: -shared[a]),
            "rank_tuned": sorted(acts, key=lambda a: -tuned[a]), "n": len(acts),
            "kendall_tau": None if math.isnan(tau) else float(tau),
            "kendall_p": None if math.isnan(p) else float(p),
        }  # fmt: skip
    return out


def runner_up_verdicts(params: Params) -> dict | None:
    """The candidate's verdicts again with every activation at its runner-up rate, on the seeds
    of ``tuning.runner_up_seeds`` (a family of its own, Holm-corrected like the main one): does a
    verdict hang on one grid point?"""
    seeds = params.tuning.runner_up_seeds
    if not seeds:
        return None

    def accuracy(act: str, dataset: str) -> dict[int, float]:
        return {s: read_json(RunSpec(act, dataset, s, variant="runner_up").eval_record)["test_accuracy"]
                for s in seeds}  # fmt: skip

    family = {}
    for dataset in params.datasets:
        cand = accuracy(params.activation, dataset)
        for b in params.baselines:
            family[(dataset, b)] = stats.pair(cand, accuracy(b, dataset))
    stats.decide(family, params.compare.alpha, params.margin / 100)
    multipliers = {d: {a: read_json(RunSpec(a, d, seeds[0], variant="runner_up").train_record)["schedule"]["lr_multiplier"]
                       for a in params.activations} for d in params.datasets}  # fmt: skip
    return {
        "seeds": seeds,
        "multipliers": multipliers,
        "comparisons": {
            d: {b: family[(d, b)].to_dict() for b in params.baselines} for d in params.datasets
        },
    }


def compare(params: Params, groups: dict[tuple[str, str], Group]) -> dict:
    """Aggregates, the family of comparisons with verdicts, the leaderboard, the tuning effect
    and the cross-dataset summary."""
    family = {}
    for dataset in params.datasets:
        cand = groups[(params.activation, dataset)].per_seed("test_accuracy")
        for b in params.baselines:
            family[(dataset, b)] = stats.pair(cand, groups[(b, dataset)].per_seed("test_accuracy"))
    stats.decide(family, params.compare.alpha, params.margin / 100)
    testable = sum(c.testable for c in family.values())
    first = {d: groups[(params.activation, d)].runs[0] for d in params.datasets}
    protocol = tuning.protocol(params)
    t = params.tuning
    return {
        "candidate": params.activation,
        "baselines": params.baselines,
        "profile": params.profile,
        "learning_rate_protocol": {
            "protocol": protocol,
            "description": (
                f"per activation and dataset, chosen among x{', x'.join(f'{m:g}' for m in t.lr_multipliers)} "
                f"the profile's learning rate (and at most {params.active_profile.tuning.max_extensions} more "
                f"points beyond an edge) by mean validation accuracy over tuning seeds {params.tuning_seeds}; "
                "points within one standard error of the best count as tied, and x1, else the "
                "lowest tied rate, wins"
                if protocol == tuning.TUNED
                else "one learning rate for every activation (the profile's)"
            ),
        },  # fmt: skip
        "family": {
            "comparisons": testable,
            "alpha": params.compare.alpha,
            "correction": "Holm, across every dataset x baseline of this report",
            "sidedness": "two-sided",
            "verdict_test": "paired t-test over seeds",
            "equivalence_test": "TOST (two one-sided paired t-tests)",
            "check_test": f"exact sign-flip permutation test (n >= {stats.MIN_PERMUTATION_SEEDS})",
            "intervals": "per comparison at Holm's own level alpha_H: the difference at 1 - alpha_H "
            "(ci, ci_level), the equivalence at 1 - 2 alpha_H (ci_equivalence, ci_equivalence_level)",
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
            act: {d: groups[(act, d)].aggregate(params.activation) for d in params.datasets}
            for act in params.activations
        },
        "comparisons": {
            d: {b: family[(d, b)].to_dict() for b in params.baselines} for d in params.datasets
        },
        "probability_of_improvement": {
            b: stats.probability_of_improvement(
                {d: list(family[(d, b)].diffs.values()) for d in params.datasets}
            )
            for b in params.baselines
        },
        "leaderboard": leaderboard(params, groups),
        "tuning": tuning_effect(params),
        "runner_up": runner_up_verdicts(params),
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


def role(activation: str, candidate: str) -> str:
    return "candidate" if activation == candidate else "baseline"


def write_curves(
    groups: dict[tuple[str, str], Group], params: Params, path: Path, dataset: str
) -> None:
    """Mean validation accuracy and loss per epoch over seeds, one row per activation and
    epoch (long format, for the DVC chart that overlays the activations)."""
    from actbench.io import atomic_path

    with atomic_path(path) as tmp, tmp.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["epoch", "activation", "role", "val_accuracy", "val_loss"])
        for act in params.activations:
            runs = groups[(act, dataset)].runs
            n = min(len(r.history["val_accuracy"]) for r in runs)
            acc = np.mean([r.history["val_accuracy"][:n] for r in runs], axis=0)
            loss = np.mean([r.history["val_loss"][:n] for r in runs], axis=0)
            kind = role(act, params.activation)
            writer.writerows(
                (e + 1, act, kind, f"{acc[e]:.6f}", f"{loss[e]:.6f}") for e in range(n)
            )


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


def write_tuning(params: Params, path: Path, dataset: str) -> None:
    """Mean validation accuracy over the tuning seeds per activation and learning-rate
    multiplier (long format, for the DVC chart). Call it only when tuning is on: with tuning off
    there is nothing to draw, and no file means no empty chart."""
    from actbench.io import atomic_path

    with atomic_path(path) as tmp, tmp.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["lr_multiplier", "activation", "role", "val_accuracy", "selected"])
        for act in params.activations:
            record = read_json(tuning_record(act, dataset))
            kind = role(act, params.activation)
            writer.writerows((f"{p['lr_multiplier']:g}", act, kind, f"{p['mean']:.6f}", int(p["lr_multiplier"] == record["chosen"]))
                             for p in record["points"])  # fmt: skip

"""Figures and the Markdown report. Every figure names the profile in its title.

Figures (PNG, under plots/figures/):
* ``curves_<dataset>.png``: train/validation loss and accuracy per activation: the raw mean
  over seeds as the bold line, min..max over seeds as the band (the seed spread); an optional
  EMA (``plot.smoothing`` > 0) is drawn thin and dashed on top, never instead.
* ``comparison_<dataset>.png``: test accuracy and macro-F1 with 95% CIs; candidate highlighted.
* ``confusion_<dataset>.png``: the candidate's and the best baseline's confusion matrices.
* ``activations.png``: every activation and its derivative on [-4, 4].
* ``diagnostics.png``: never-active units and mean |f'(z)| per activation and dataset.

The confusion figures go to ``plots/report/`` (report.md only): DVC draws the candidate's own.
"""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on CI or in Docker

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from actbench import stats  # noqa: E402
from actbench.io import atomic_path  # noqa: E402

CANDIDATE_COLOR = "#d62728"
OTHER_COLORS = [
    "#1f77b4",
    "#2ca02c",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
]


def colors_for(activations: list[str], candidate: str) -> dict[str, str]:
    others = iter(OTHER_COLORS * 2)
    return {a: CANDIDATE_COLOR if a == candidate else next(others) for a in activations}


def save(fig, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)


def learning_curves(groups, dataset, activations, candidate, smoothing, profile, path) -> None:
    panels = [("train_loss", "Training loss"), ("val_loss", "Validation loss"),
              ("train_accuracy", "Training accuracy"), ("val_accuracy", "Validation accuracy")]  # fmt: skip
    colors = colors_for(activations, candidate)
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), sharex=True, layout="constrained")
    for ax, (curve, title) in zip(axes.flat, panels, strict=True):
        for act in activations:
            runs = groups[(act, dataset)].runs
            n = min(len(r.history[curve]) for r in runs)
            curves = np.stack([r.history[curve][:n] for r in runs])  # (seeds, epochs)
            epochs = np.arange(1, n + 1)
            mean = curves.mean(axis=0)
            label = f"{act} (candidate)" if act == candidate else act
            ax.fill_between(
                epochs, curves.min(0), curves.max(0), color=colors[act], alpha=0.15, linewidth=0
            )
            ax.plot(
                epochs, mean, color=colors[act], linewidth=2, marker="o", markersize=3, label=label
            )
            if smoothing > 0:
                ax.plot(
                    epochs,
                    stats.ema(mean, smoothing),
                    color=colors[act],
                    linewidth=1,
                    linestyle="--",
                )
        ax.set_title(title)
        ax.set_ylabel("cross-entropy (nats)" if "loss" in curve else "accuracy (fraction)")
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0, 0].legend(fontsize=8)
    n_seeds = len(groups[(candidate, dataset)].runs)
    smooth = f", dashed: EMA ({smoothing})" if smoothing > 0 else ""
    fig.suptitle(
        f"{dataset}: learning curves over {n_seeds} seeds - line: mean, band: min-max over seeds"
        f"{smooth} - profile {profile}"
    )
    save(fig, path)


def comparison(aggregates, versus, dataset, activations, candidate, profile, path) -> None:
    colors = colors_for(activations, candidate)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), layout="constrained")
    for ax, (key, label) in zip(axes, [("test_accuracy", "Test accuracy"), ("test_f1_macro", "Test macro-F1")],
                                strict=True):  # fmt: skip
        for i, act in enumerate(activations):
            s = aggregates[act][dataset][key]
            lo, hi = s["ci95"] if s["ci95"] else (s["mean"], s["mean"])
            lo, hi = max(lo, 0.0), min(hi, 1.0)  # a t interval can leave [0, 1]; accuracy cannot
            ax.errorbar([i], [s["mean"]], yerr=[[s["mean"] - lo], [hi - s["mean"]]], fmt="o", capsize=5,
                        color=colors[act], markersize=9 if act == candidate else 6)  # fmt: skip
            ax.scatter(np.full(len(s["per_seed"]), i + 0.12), list(s["per_seed"].values()), s=10,
                       color=colors[act], alpha=0.6)  # fmt: skip
        ax.set_xticks(range(len(activations)))
        ax.set_xticklabels([f"{a}\n(candidate)" if a == candidate else a for a in activations])
        ax.set_ylabel(f"{label.lower()} (fraction)")
        ax.set_title(f"{label}: mean, 95% CI (clipped to [0, 1]) and seeds", fontsize=10)
        ax.grid(alpha=0.3, axis="y")
    verdicts = "; ".join(f"vs {b}: {c['verdict']}" for b, c in versus.items())
    fig.suptitle(
        f"{dataset}: {candidate} (red) against baselines - profile {profile}\n{verdicts}",
        fontsize=10,
    )
    save(fig, path)


def read_confusion(paths: list[Path], class_names: list[str]) -> np.ndarray:
    index = {n: i for i, n in enumerate(class_names)}
    matrix = np.zeros((len(class_names), len(class_names)), dtype=np.int64)
    for path in paths:
        with path.open(newline="") as fh:
            for row in csv.DictReader(fh):
                matrix[index[row["actual"]], index[row["predicted"]]] += 1
    return matrix


def confusion(groups, dataset, candidate, best, class_names, profile, path) -> None:
    from sklearn.metrics import ConfusionMatrixDisplay

    shown = [candidate] + ([best] if best else [])
    fig, axes = plt.subplots(
        1, len(shown), figsize=(6.2 * len(shown), 5.8), squeeze=False, layout="constrained"
    )
    for ax, act in zip(axes[0], shown, strict=True):
        counts = read_confusion(
            [r.spec.confusion for r in groups[(act, dataset)].runs], class_names
        )
        rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        ConfusionMatrixDisplay(rates, display_labels=class_names).plot(
            ax=ax, colorbar=False, values_format=".2f", xticks_rotation=45
        )
        role = "candidate" if act == candidate else "best baseline"
        ax.set_title(f"{act} ({role}), all seeds, row-normalised")
    fig.suptitle(f"{dataset}: test-set confusion (fraction of each true class) - profile {profile}")
    save(fig, path)


def activation_functions(names: list[str], candidate: str, profile: str, path) -> None:
    from actbench import activations
    from actbench.training.device import configure, elementwise_derivative

    configure(deterministic=False)
    import keras

    x = np.linspace(-4, 4, 801).astype(np.float32)
    colors = colors_for(names, candidate)
    fig, (ax_f, ax_d) = plt.subplots(1, 2, figsize=(11, 4.6), layout="constrained")
    for name in names:
        fn = activations.get(name)
        y = keras.ops.convert_to_numpy(fn(keras.ops.convert_to_tensor(x)))
        dy = keras.ops.convert_to_numpy(elementwise_derivative(fn, x))
        width = 2.5 if name == candidate else 1.3
        ax_f.plot(x, y, color=colors[name], linewidth=width, label=name)
        ax_d.plot(x, dy, color=colors[name], linewidth=width, label=name)
    ax_f.set_title("f(x)")
    ax_d.set_title("f'(x)")
    for ax, ylabel in ((ax_f, "f(x)"), (ax_d, "df/dx")):
        ax.set_xlabel("x (pre-activation)")
        ax.set_ylabel(ylabel)
        ax.axhline(0, color="black", linewidth=0.5)
        ax.axvline(0, color="black", linewidth=0.5)
        ax.grid(alpha=0.3)
    ax_f.legend(fontsize=8)
    fig.suptitle(
        f"The activations under test and their derivatives (candidate: {candidate}) - profile {profile}"
    )
    save(fig, path)


def diagnostics(aggregates, datasets, activations, candidate, profile, path) -> None:
    colors = colors_for(activations, candidate)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), layout="constrained")
    width = 0.8 / len(activations)
    panels = [("never_active_fraction", "never-active units (fraction, mean over layers)"),
              ("mean_abs_derivative", "mean |f'(z)| (mean over layers)")]  # fmt: skip
    for ax, (key, label) in zip(axes, panels, strict=True):
        for j, act in enumerate(activations):
            means = [aggregates[act][d][key]["mean"] for d in datasets]
            errs = [aggregates[act][d][key]["std"] or 0.0 for d in datasets]
            ax.bar(np.arange(len(datasets)) + j * width, means, width, yerr=errs, capsize=3,
                   color=colors[act], label=act)  # fmt: skip
        ax.set_xticks(np.arange(len(datasets)) + width * (len(activations) - 1) / 2)
        ax.set_xticklabels(datasets)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, axis="y")
    axes[0].set_title("Units whose input is negative for every sample image")
    axes[1].set_title("Gradient the activation lets through")
    axes[0].legend(fontsize=8)
    fig.suptitle(
        f"Diagnostics on a fixed stratified validation sample, float32 (bars: mean over seeds, "
        f"whiskers: std) - profile {profile}"
    )
    save(fig, path)

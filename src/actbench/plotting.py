"""Figures and the Markdown report. Every figure names the profile in its title.

Figures (PNG, under plots/figures/):
* ``curves_<dataset>.png``: train/validation loss and accuracy per activation: the raw mean
  over seeds as the bold line, min..max over seeds as the band (the seed spread); an optional
  EMA (``plot.smoothing`` > 0) is drawn thin and dashed on top, never instead.
* ``comparison_<dataset>.png``: test accuracy and macro-F1 with 95% CIs; candidate highlighted.
* ``confusion_<dataset>.png``: the candidate's and the best baseline's confusion matrices.
* ``activations.png``: every activation and its derivative on [-4, 4] (a learnable one at its
  initial parameters).
* ``learned_<activation>.png`` (learnable activations): every site's function after training,
  per dataset, against its initial shape.
* ``diagnostics.png``: never-active units and mean |f'(z)| per activation and dataset.
* ``leaderboard.png``: every activation's mean test accuracy and 95% CI per dataset, ranked.
* ``tuning.png`` (tuning on): validation accuracy against the learning rate, selected ringed.

The confusion figures go to ``plots/report/`` (report.md only): DVC draws the candidate's own.
"""

from __future__ import annotations

import csv
import zlib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on CI or in Docker

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator, PercentFormatter  # noqa: E402

from actbench import stats  # noqa: E402
from actbench.io import atomic_path  # noqa: E402

# One colour per activation, fixed by name: the same in every figure and DVC chart whoever is the
# candidate (the candidate is drawn larger and labelled instead). .dvc/plots/activation_lines.json
# maps the same names to the same colours (tests/test_plotting.py keeps them equal); a plug-in
# without an entry gets a colour from EXTRA chosen by its name.
PALETTE = {
    "relu": "#1f77b4",
    "elu": "#2ca02c",
    "swish": "#ff7f0e",
    "tanhrelu": "#d62728",
    "gelu": "#9467bd",
    "mish": "#8c564b",
    "leaky_relu": "#e377c2",
    "selu": "#7f7f7f",
    "prelu": "#bcbd22",
    "swish_beta": "#17becf",
    "pau": "#393b79",
}
EXTRA = ["#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354", "#756bb1"]


def color_of(activation: str) -> str:
    """The activation's colour: its PALETTE entry, else one of EXTRA fixed by its name."""
    if activation in PALETTE:
        return PALETTE[activation]
    return EXTRA[zlib.crc32(activation.encode()) % len(EXTRA)]


def colors_for(activations: list[str]) -> dict[str, str]:
    return {a: color_of(a) for a in activations}


def percent_axis(axis) -> None:
    """Accuracy as percent on ``axis`` (the data stay fractions, as in the metrics files), with
    as many decimals as the axis' range needs (matplotlib's own choice): no two ticks alike."""
    axis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=None))


def save(fig, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)


def fit_after_first_epoch(ax, groups, dataset, activations, curve) -> str:
    """Scale a loss panel to epochs 2 onward, so that a large first-epoch loss does not flatten
    the rest; returns a note for the title when epoch 1 is left above the axis."""
    per_run = [r.history[curve] for act in activations for r in groups[(act, dataset)].runs]
    later = [v for h in per_run for v in h[1:]]
    if not later:
        return ""
    low, high = min(later), max(later)
    pad = 0.08 * (high - low or abs(high) or 1.0)
    ax.set_ylim(low - pad, high + pad)
    return " (epoch 1 above the axis)" if max(h[0] for h in per_run) > high + pad else ""


def learning_curves(groups, dataset, activations, candidate, smoothing, profile, path) -> None:
    panels = [("train_loss", "Training loss"), ("val_loss", "Validation loss"),
              ("train_accuracy", "Training accuracy"), ("val_accuracy", "Validation accuracy")]  # fmt: skip
    colors = colors_for(activations)
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
            ax.plot(epochs, mean, color=colors[act], linewidth=2.8 if act == candidate else 1.6,
                    marker="o", markersize=3, label=label)  # fmt: skip
            if smoothing > 0:
                ax.plot(
                    epochs,
                    stats.ema(mean, smoothing),
                    color=colors[act],
                    linewidth=1,
                    linestyle="--",
                )
        ax.set_ylabel("cross-entropy (nats)" if "loss" in curve else "accuracy (%)")
        if "loss" in curve:
            title += fit_after_first_epoch(ax, groups, dataset, activations, curve)
        else:
            percent_axis(ax.yaxis)
        ax.set_title(title)
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
    colors = colors_for(activations)
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
        ax.set_ylabel(f"{label.lower()} (%)")
        percent_axis(ax.yaxis)
        ax.set_title(f"{label}: mean, 95% CI (clipped to [0, 100%]) and seeds", fontsize=10)
        ax.grid(alpha=0.3, axis="y")
    verdicts = "; ".join(f"vs {b}: {c['verdict']}" for b, c in versus.items())
    fig.suptitle(
        f"{dataset}: {candidate} (candidate, large marker) against the others - profile {profile}\n{verdicts}",
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
    colors = colors_for(names)
    fig, (ax_f, ax_d) = plt.subplots(1, 2, figsize=(11, 4.6), layout="constrained")
    for name in names:
        fn = activations.site(name, f"{name}_shape")  # a learnable one: at its initial parameters
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


def leaderboard(board: dict, candidate: str, profile: str, path: Path) -> None:
    """Per dataset, every activation's mean test accuracy and 95% interval, best at the top."""
    per_dataset = board["per_dataset"]
    acts = [r["activation"] for r in next(iter(per_dataset.values()))]
    colors = colors_for(acts)
    fig, axes = plt.subplots(1, len(per_dataset), figsize=(5.2 * len(per_dataset), 0.45 * len(acts) + 1.6),
                             layout="constrained", squeeze=False)  # fmt: skip
    for ax, (dataset, rows) in zip(axes[0], per_dataset.items(), strict=True):
        for y, r in enumerate(reversed(rows)):
            lo, hi = r["ci95"] if r["ci95"] else (r["mean"], r["mean"])
            lo, hi = max(lo, 0.0), min(hi, 1.0)
            ax.errorbar([r["mean"]], [y], xerr=[[r["mean"] - lo], [hi - r["mean"]]], fmt="o", capsize=4,
                        color=colors[r["activation"]], markersize=8 if r["activation"] == candidate else 5)  # fmt: skip
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels([f"{r['rank']:g}. {r['activation']}" + (" (candidate)" if r["activation"] == candidate else "")
                            for r in reversed(rows)])  # fmt: skip
        ax.set_xlabel("test accuracy (%): mean and 95% CI over seeds")
        percent_axis(ax.xaxis)
        ax.set_title(dataset, fontsize=10)
        ax.grid(alpha=0.3, axis="x")
    fig.suptitle(f"Leaderboard (descriptive, not a test) - profile {profile}", fontsize=10)
    save(fig, path)


def tuning_curves(
    effect: dict, tuning_scores: dict, candidate: str, profile: str, path: Path
) -> None:
    """Per dataset, mean validation accuracy over tuning seeds against the learning-rate
    multiplier, one line per activation, the selected point ringed."""
    acts = list(next(iter(tuning_scores.values())))
    colors = colors_for(acts)
    fig, axes = plt.subplots(1, len(tuning_scores), figsize=(5.2 * len(tuning_scores), 4), layout="constrained",
                             squeeze=False)  # fmt: skip
    for ax, (dataset, by_act) in zip(axes[0], tuning_scores.items(), strict=True):
        for act, points in by_act.items():
            xs = [p["lr_multiplier"] for p in points]
            ax.plot(xs, [p["mean"] for p in points], "o-", color=colors[act], label=act,
                    linewidth=2.2 if act == candidate else 1.2)  # fmt: skip
            for p in points:
                ax.scatter([p["lr_multiplier"]] * len(p["per_seed"]), list(p["per_seed"].values()),
                           s=8, color=colors[act], alpha=0.4)  # fmt: skip
                if p.get("extension"):  # trained beyond an edge of the grid
                    ax.scatter([p["lr_multiplier"]], [p["mean"]], s=60, marker="s", facecolors="none",
                               edgecolors=colors[act], linewidths=1.2)  # fmt: skip
            m = effect[dataset]["selected_multiplier"][act]
            best = next(p["mean"] for p in points if p["lr_multiplier"] == m)
            ax.scatter(
                [m], [best], s=160, facecolors="none", edgecolors=colors[act], linewidths=1.8
            )
        ax.set_xscale("log", base=2)
        ax.set_xlabel("learning rate (x the profile's)")
        ax.set_ylabel("validation accuracy (%, mean over tuning seeds)")
        percent_axis(ax.yaxis)
        ax.set_title(f"{dataset}: ringed = selected, squared = beyond the grid", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Learning-rate tuning on validation data - profile {profile}", fontsize=10)
    save(fig, path)


def expected_best(effect: dict, candidate: str, profile: str, path: Path) -> None:
    """Per dataset, each activation's expected best validation accuracy against the number of
    tuning runs (Dodge et al. 2019): what a smaller or larger tuning budget would have found."""
    acts = list(next(iter(effect.values()))["budget"])
    colors = colors_for(acts)
    fig, axes = plt.subplots(1, len(effect), figsize=(5.2 * len(effect), 4), layout="constrained",
                             squeeze=False)  # fmt: skip
    for ax, (dataset, e) in zip(axes[0], effect.items(), strict=True):
        for act in acts:
            curve = e["budget"][act]["expected_best"]
            label = f"{act} (candidate)" if act == candidate else act
            ax.plot(range(1, len(curve) + 1), curve, "o-", color=colors[act], markersize=3,
                    linewidth=2.2 if act == candidate else 1.2, label=label)  # fmt: skip
        ax.set_xlabel("tuning runs (learning rates x tuning seeds)")
        ax.set_ylabel("expected best validation accuracy (%)")
        percent_axis(ax.yaxis)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(dataset, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Expected best validation accuracy against the tuning budget (Dodge et al. 2019) - "
                 f"profile {profile}", fontsize=10)  # fmt: skip
    save(fig, path)


def diagnostics(aggregates, datasets, activations, candidate, profile, path) -> None:
    colors = colors_for(activations)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), layout="constrained")
    width = 0.8 / len(activations)
    panels = [("never_active_fraction", "never-active units (%, mean over layers)"),
              ("mean_abs_derivative", "mean |f'(z)| (mean over layers)")]  # fmt: skip
    for ax, (key, label) in zip(axes, panels, strict=True):
        for j, act in enumerate(activations):
            means = [aggregates[act][d][key]["mean"] for d in datasets]
            errs = [aggregates[act][d][key]["std"] or 0.0 for d in datasets]
            ax.bar(np.arange(len(datasets)) + j * width, means, width, yerr=errs, capsize=3,
                   color=colors[act], label=f"{act} (candidate)" if act == candidate else act,
                   edgecolor="black" if act == candidate else None)  # fmt: skip
        ax.set_xticks(np.arange(len(datasets)) + width * (len(activations) - 1) / 2)
        ax.set_xticklabels(datasets)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, axis="y")
    percent_axis(axes[0].yaxis)
    axes[0].set_title("Units whose input is negative for every sample image")
    axes[1].set_title("Gradient the activation lets through")
    axes[0].legend(fontsize=8)
    fig.suptitle(
        f"Diagnostics on a fixed stratified validation sample, float32 (bars: mean over seeds, "
        f"whiskers: std) - profile {profile}"
    )
    save(fig, path)


SHAPE_GRID = np.linspace(-4, 4, 401, dtype=np.float32)  # pre-activations the shapes are drawn on


def _float32_site(site, input_shape, weights: bool = True):
    """A float32 copy of one activation site (``site`` may compute in bfloat16), built for
    ``input_shape``, with the site's weights or (``weights=False``) its initial ones."""
    copy = site.__class__.from_config({**site.get_config(), "dtype": "float32"})
    copy.build(input_shape)
    if weights:
        copy.set_weights(site.get_weights())
    return copy


def site_curves(site, initial: bool = False, x: np.ndarray = SHAPE_GRID) -> np.ndarray:
    """``f(x)`` of one activation site of a model, for each of its C channels: (len(x), C) in
    float64, every channel on the same grid ``x``; ``initial``: the function the site started
    from (a site built anew from its config) instead of the trained one."""
    import keras

    channels = int(site.input.shape[-1])
    layer = _float32_site(site, (len(x), channels), weights=not initial)
    grid = np.repeat(x[:, None], channels, axis=1)  # (N, C)
    return np.asarray(keras.ops.convert_to_numpy(layer(grid)), dtype=np.float64)


def learned_shapes(models: dict, activation: str, profile: str, path) -> None:
    """Every activation site's function after training on [-4, 4], one panel per site (17).

    ``models`` maps a label (a dataset, a run) to a trained model (a saved run as
    ``evaluation.load_model`` returns it, or a ResNet-18 body); each label is one colour, the
    initial function (a site built anew from its config) the dashed grey line. A site whose
    parameters are per channel is drawn as its median over channels, with the band between
    the 10th and 90th percentile channel; a site with one shared parameter set (PAU) as a line.
    """
    from actbench.resnet import activation_sites

    sites = {label: activation_sites(model) for label, model in models.items()}
    first = next(iter(sites.values()))
    colors = dict(zip(models, EXTRA * (len(models) // len(EXTRA) + 1), strict=False))  # per dataset
    cols = 6
    rows = -(-len(first) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.1 * cols, 2.6 * rows), sharex=True,
                             layout="constrained", squeeze=False)  # fmt: skip
    for ax in axes.flat[len(first) :]:
        ax.set_visible(False)
    for i, (ax, site) in enumerate(zip(axes.flat, first, strict=False)):
        curves = [("initial", site_curves(site, initial=True), "0.4", "--")]
        curves += [(label, site_curves(run[i]), colors[label], "-") for label, run in sites.items()]
        for label, y, color, style in curves:
            mid = np.median(y, axis=1)
            ax.plot(SHAPE_GRID, mid, color=color, linestyle=style, linewidth=1.4, label=label)
            if not np.allclose(y.min(axis=1), y.max(axis=1)):  # per-channel parameters
                lo, hi = np.percentile(y, [10, 90], axis=1)
                ax.fill_between(SHAPE_GRID, lo, hi, color=color, alpha=0.2, linewidth=0)
        ax.axhline(0, color="black", linewidth=0.5)
        ax.axvline(0, color="black", linewidth=0.5)
        ax.set_title(site.name, fontsize=8)
        ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("z (pre-activation)")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(
        f"{activation}: the learned function of each activation site (line: median over channels, "
        f"band: 10-90% of channels; dashed: initial) - profile {profile}",
        fontsize=10,
    )
    save(fig, path)

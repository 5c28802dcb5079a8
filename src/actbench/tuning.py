"""Per-activation learning rates, chosen on validation data only: the protocol and the rule.

The protocol (``tuning`` and ``profiles.<profile>.tuning`` in params.yaml), the same for every
activation, candidate or baseline:

1. ``tune`` (one stage per activation, dataset and grid point) trains the recipe at one
   multiplier of ``tuning.lr_multipliers`` x the profile's ``learning_rate`` with every tuning
   seed (disjoint from the benchmark's ``seeds``). A point's score is the validation accuracy
   after the last epoch, the model the benchmark keeps; the test split is never loaded. Each
   point is a stage of its own, so widening the grid trains only the new points.
2. ``gather`` collects each activation's points; ``select`` (one stage per activation and
   dataset) applies the rule below. While the chosen point is at an edge of the points scored
   so far, it trains the next point beyond that edge (the grid's own spacing), at most
   ``max_extensions`` times; a choice still at an edge is flagged.
3. The benchmark's train stages read the choice (``runs.read_selection``) and record it; with
   ``tuning.runner_up_seeds`` some seeds are also trained at the runner-up, so every verdict can
   be read again there.

The rule: the best mean score wins, unless other points are within noise of it, i.e. their mean
is below the best by at most one standard error of a difference of two means (the pooled
seed-to-seed SD of this activation's points, or with one seed the binomial SE of a validation
accuracy); among those the default (x1) wins if it is one of them, else the lowest rate. With
tuning off every activation gets x1: the shared-rate protocol.

The budget: every tuning run (points x seeds) and its training seconds, and the expected best
validation accuracy after k runs (Dodge et al. 2019, "Show Your Work", eq. 1: the expected
maximum of k draws with replacement from the runs' scores).

The grid's training is ``actbench.training.grid``; this module (the rule) imports no Keras.
"""

from __future__ import annotations

import math
import statistics

TUNED, SHARED = "tuned", "shared"  # the learning-rate protocols
SIGNIFICANT = 6  # digits of an extension's multiplier: 0.125, not 0.12500000000000003


def protocol(params) -> str:
    """``tuned`` when the grid has points, else ``shared``."""
    return TUNED if params.tuning.enabled else SHARED


def noise(points: list[dict]) -> float:
    """One standard error of the difference between two points' mean scores (fractions)."""
    n = min(len(p["per_seed"]) for p in points)
    groups = [list(p["per_seed"].values()) for p in points]
    df = sum(len(g) - 1 for g in groups)
    if df > 0:
        pooled = math.sqrt(
            sum((len(g) - 1) * statistics.variance(g) for g in groups if len(g) > 1) / df
        )
        return pooled * math.sqrt(2 / n)
    best = max(p["mean"] for p in points)  # one seed: the binomial SE of one validation accuracy
    return math.sqrt(2 * best * (1 - best) / (points[0]["val_images"] * n))


def choose(points: list[dict]) -> dict:
    """The rule on ``points`` (each ``{"lr_multiplier", "mean", "per_seed", "val_images"}``): the chosen
    multiplier, the runner-up (the best of the others by mean), the points within noise of the
    best, that noise, and which edge of the scored points the choice is at ("low", "high", None)."""
    if not points:
        return {"chosen": 1.0, "runner_up": None, "within_noise": [], "noise": None, "edge": None}
    by_rate = sorted(points, key=lambda p: p["lr_multiplier"])
    best = max(p["mean"] for p in points)
    se = noise(points)
    near = [p["lr_multiplier"] for p in by_rate if best - p["mean"] <= se]
    chosen = 1.0 if 1.0 in near else min(near)
    others = [p for p in by_rate if p["lr_multiplier"] != chosen]
    runner_up = max(others, key=lambda p: p["mean"])["lr_multiplier"] if others else None
    rates = [p["lr_multiplier"] for p in by_rate]
    edge = None
    if len(rates) > 1:
        edge = "low" if chosen == rates[0] else "high" if chosen == rates[-1] else None
    return {
        "chosen": chosen,
        "runner_up": runner_up,
        "within_noise": near,
        "noise": se,
        "edge": edge,
    }


def beyond(rates: list[float], edge: str) -> float:
    """The next multiplier past ``edge`` of ``rates`` (sorted), at the spacing of that edge."""
    if edge == "low":
        return round(rates[0] * rates[0] / rates[1], SIGNIFICANT)
    return round(rates[-1] * rates[-1] / rates[-2], SIGNIFICANT)


def expected_best(scores: list[float]) -> list[float]:
    """E[max of k runs] for k = 1..N, drawing with replacement from ``scores`` (Dodge et al.
    2019, eq. 1): sum_i v_(i) [(i/N)^k - ((i-1)/N)^k] over the sorted scores v_(1) <= ... <= v_(N)."""
    v, n = sorted(scores), len(scores)
    return [
        sum(v[i] * (((i + 1) / n) ** k - (i / n) ** k) for i in range(n)) for k in range(1, n + 1)
    ]


def selection(activation: str, dataset: str, multiplier: float, base_learning_rate: float) -> dict:
    """What a train stage reads (``metrics/selected/<activation>_<dataset>.json``): the same
    bytes whenever the choice is the same, so an unchanged choice retrains nothing. It holds no
    protocol: a run at x1 is the same run under tuning (where 1 won) as without it."""
    return {
        "activation": activation, "dataset": dataset, "lr_multiplier": multiplier,
        "learning_rate": base_learning_rate * multiplier,  # per 128 images
    }  # fmt: skip

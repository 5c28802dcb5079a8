"""Statistics over seeds: estimates with t intervals, and verdicts that say what seeds can tell.

Everything a verdict rests on is here; tests/test_stats.py checks each function against fixed
values computed independently with statsmodels and SciPy. Conventions:

* A comparison pairs candidate and baseline by seed (same seed = same data order, augmentation
  stream and initialisation stream) and works on the per-seed differences ``d``.
* One family per report: every dataset x baseline comparison of the report is Holm-corrected
  together, at family-wise error rate ``alpha``. All tests are two-sided.
* Verdicts: ``better`` / ``worse`` when the paired t-test is significant after Holm;
  ``equivalent`` when two one-sided tests (TOST) at the same Holm-adjusted level put the mean
  difference inside +/- margin; ``inconclusive`` otherwise, with the minimum detectable
  difference: the smallest true mean difference the test would detect with 80% power at the
  family's Bonferroni level ``alpha / m`` (the level of Holm's first step, which bounds all
  others), given n and the observed SD of the differences. Fewer than ``MIN_SEEDS`` pairs give
  ``not enough seeds``; differences without spread give ``inconclusive`` with that reason.
* Intervals of a difference are at level ``1 - alpha / m`` (simultaneous for the family by
  Bonferroni): one that excludes 0 implies a Holm-significant test; the reverse need not hold.
* Alongside the t-test, an exact sign-flip permutation p-value where n >= 6 (below that the
  smallest attainable p, 2 / 2^n, exceeds 0.05); a comparison where the two tests, each
  Holm-corrected, disagree is flagged.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import optimize, stats

MIN_SEEDS = 3  # below this a paired t-test has at most 1 degree of freedom: no verdict
MIN_PERMUTATION_SEEDS = 6  # 2 / 2**5 > 0.05: fewer pairs can never reach significance
CONFIDENCE = 0.95  # of the per-activation intervals
POWER = 0.80  # of the minimum detectable difference

BETTER, WORSE, EQUIVALENT, INCONCLUSIVE, TOO_FEW = (
    "better", "worse", "equivalent", "inconclusive", "not enough seeds",
)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# One activation over seeds
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeedStats:
    """A quantity over seeds: its mean, sample std (ddof=1) and two-sided t interval."""

    n: int
    mean: float | None
    std: float | None  # None for one value
    ci95: tuple[float, float] | None  # None for one value

    def to_dict(self) -> dict:
        out = asdict(self)
        out["ci95"] = list(self.ci95) if self.ci95 is not None else None
        return out


def t_interval(values, level: float = CONFIDENCE) -> tuple[float, float] | None:
    """Student-t interval of the mean; a zero-variance sample gives a zero-width interval."""
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    if n < 2:
        return None
    mean = float(np.mean(values))
    sem = float(np.std(values, ddof=1)) / math.sqrt(n)
    if sem == 0.0:
        return (mean, mean)
    half = float(stats.t.ppf(0.5 + level / 2, df=n - 1)) * sem
    return (mean - half, mean + half)


def describe(values) -> SeedStats:
    """Mean, sample std and 95% CI of ``values`` (NaNs are not allowed)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return SeedStats(0, None, None, None)
    if np.isnan(values).any():
        raise ValueError("describe() got NaN values")
    std = float(np.std(values, ddof=1)) if values.size > 1 else None
    return SeedStats(int(values.size), float(np.mean(values)), std, t_interval(values))


# ---------------------------------------------------------------------------------------------
# Tests on paired differences
# ---------------------------------------------------------------------------------------------


def paired_t(diff) -> float:
    """Two-sided p-value of the paired t-test that the mean difference is 0 (needs sd > 0)."""
    d = np.asarray(diff, dtype=np.float64)
    n = len(d)
    t = np.mean(d) / (np.std(d, ddof=1) / math.sqrt(n))
    return float(2 * stats.t.sf(abs(t), df=n - 1))


def tost(diff, margin: float) -> float:
    """p-value of two one-sided t-tests that the mean difference lies in (-margin, +margin):
    the larger of the p-values of H0: mean <= -margin and H0: mean >= +margin."""
    d = np.asarray(diff, dtype=np.float64)
    n = len(d)
    se = np.std(d, ddof=1) / math.sqrt(n)
    mean = np.mean(d)
    p_lower = stats.t.sf((mean + margin) / se, df=n - 1)  # H0: mean <= -margin
    p_upper = stats.t.cdf((mean - margin) / se, df=n - 1)  # H0: mean >= +margin
    return float(max(p_lower, p_upper))


def power_paired_t(delta: float, n: int, sd: float, level: float) -> float:
    """Power of the two-sided paired t-test at ``level`` for a true mean difference ``delta``."""
    df = n - 1
    crit = stats.t.ppf(1 - level / 2, df)
    nc = delta * math.sqrt(n) / sd
    upper = stats.nct.sf(crit, df, nc)
    lower = stats.nct.cdf(-crit, df, nc)  # the far tail: tiny, and NaN in SciPy for some nc
    return float(upper + (0.0 if math.isnan(lower) else lower))


def min_detectable_diff(n: int, sd: float, level: float, power: float = POWER) -> float:
    """The smallest true mean difference the two-sided paired t-test at ``level`` detects with
    probability ``power``, for ``n`` pairs whose differences have standard deviation ``sd``
    (noncentral t, solved for the difference)."""
    if n < 2 or sd <= 0:
        raise ValueError("min_detectable_diff needs n >= 2 and sd > 0")
    high = sd
    while power_paired_t(high, n, sd, level) < power:
        high *= 2
    return float(
        optimize.brentq(
            lambda d: power_paired_t(d, n, sd, level) - power, 0.0, high, xtol=1e-12 * sd
        )
    )


EXACT_PERMUTATION_SEEDS = 20  # up to 2**20 sign assignments are enumerated exactly


def sign_flip_p(diff) -> float:
    """Exact two-sided p-value of the sign-flip permutation test of a zero mean difference:
    the share of all 2^n sign assignments whose |sum| is at least the observed one."""
    d = np.asarray(diff, dtype=np.float64)
    n = len(d)
    if n > EXACT_PERMUTATION_SEEDS:
        raise ValueError(f"sign_flip_p enumerates at most {EXACT_PERMUTATION_SEEDS} pairs exactly")
    observed = abs(d.sum()) * (1 - 1e-12)  # tolerance: equal sums must count as "at least"
    tail = min(n, 12)  # the last 12 signs as one matrix, the first n - 12 looped over
    tail_sums = np.array(list(itertools.product((1.0, -1.0), repeat=tail))) @ d[n - tail :]
    hits = 0
    for head in itertools.product((1.0, -1.0), repeat=n - tail):
        hits += int(np.count_nonzero(np.abs(tail_sums + np.dot(head, d[: n - tail])) >= observed))
    return hits / 2.0**n


def holm(p_values: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1)."""
    m = len(p_values)
    order = np.argsort(p_values, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted.tolist()


# ---------------------------------------------------------------------------------------------
# A family of comparisons and its verdicts
# ---------------------------------------------------------------------------------------------


@dataclass
class Comparison:
    """Candidate minus baseline on one dataset, over the seeds both have (fractions, not %)."""

    n: int
    seeds: list[int]
    mean_diff: float | None = None
    sd_diff: float | None = None
    effect_size_dz: float | None = None  # mean / sd of the differences
    p_value: float | None = None  # two-sided paired t-test, unadjusted
    p_holm: float | None = None
    p_tost: float | None = None  # equivalence within +/- margin, unadjusted
    p_tost_holm: float | None = None
    p_permutation: float | None = None  # exact sign-flip, n >= MIN_PERMUTATION_SEEDS
    p_permutation_holm: float | None = None
    tests_disagree: bool = False  # t-test and permutation test, each Holm-corrected
    ci: tuple[float, float] | None = None  # of the mean difference, at ci_level
    ci_level: float | None = None
    min_detectable_diff: float | None = None  # 80% power at alpha / m
    verdict: str = TOO_FEW
    within_margin: bool | None = None  # the estimate lies inside +/- margin
    reason: str = ""
    diffs: dict[int, float] = field(default_factory=dict)

    @property
    def testable(self) -> bool:
        return self.n >= MIN_SEEDS and (self.sd_diff or 0.0) > 0.0

    def to_dict(self) -> dict:
        out = asdict(self)
        out["ci"] = list(self.ci) if self.ci is not None else None
        out["diffs"] = {str(k): v for k, v in self.diffs.items()}
        return out


def pair(candidate: dict[int, float], baseline: dict[int, float]) -> Comparison:
    """Differences over the seeds both sides have, with the statistics that need no family."""
    seeds = sorted(set(candidate) & set(baseline))
    d = np.array([candidate[s] - baseline[s] for s in seeds], dtype=np.float64)
    c = Comparison(
        n=len(seeds), seeds=seeds, diffs={s: float(v) for s, v in zip(seeds, d, strict=True)}
    )
    if c.n == 0:
        c.reason = "no seed has both runs"
        return c
    c.mean_diff = float(np.mean(d))
    if c.n < MIN_SEEDS:
        c.reason = f"{c.n} paired seed(s); a paired test needs at least {MIN_SEEDS}"
        return c
    c.sd_diff = float(np.std(d, ddof=1))
    if c.sd_diff == 0.0:
        c.verdict = INCONCLUSIVE
        c.reason = (
            f"every seed differs by the same amount ({100 * c.mean_diff:+.2f} points): the "
            "differences have no spread, so no test can say whether that is chance"
        )
        return c
    c.effect_size_dz = c.mean_diff / c.sd_diff
    c.p_value = paired_t(d)
    if MIN_PERMUTATION_SEEDS <= c.n <= EXACT_PERMUTATION_SEEDS:
        c.p_permutation = sign_flip_p(d)
    return c


def decide(family: dict, alpha: float, margin: float) -> dict:
    """Holm-correct a family of ``pair`` results together and give each its verdict.

    ``margin`` is the equivalence margin as a fraction of accuracy (1 point = 0.01).
    """
    testable = [k for k, c in family.items() if c.testable]
    m = len(testable)
    for key, p in zip(testable, holm([family[k].p_value for k in testable]), strict=True):
        family[key].p_holm = p
    for k in testable:
        c = family[k]
        d = np.array(list(c.diffs.values()))
        c.p_tost = tost(d, margin)
    for key, p in zip(testable, holm([family[k].p_tost for k in testable]), strict=True):
        family[key].p_tost_holm = p
    permuted = [k for k in testable if family[k].p_permutation is not None]
    for key, p in zip(permuted, holm([family[k].p_permutation for k in permuted]), strict=True):
        family[key].p_permutation_holm = p
    for k in testable:
        c = family[k]
        level = alpha / m
        c.ci_level = 1 - level
        c.ci = t_interval(list(c.diffs.values()), level=c.ci_level)
        c.min_detectable_diff = min_detectable_diff(c.n, c.sd_diff, level)
        c.within_margin = abs(c.mean_diff) < margin
        if c.p_holm < alpha:
            c.verdict = BETTER if c.mean_diff > 0 else WORSE
        elif c.p_tost_holm < alpha:
            c.verdict = EQUIVALENT
        else:
            c.verdict = INCONCLUSIVE
            c.reason = (
                f"these {c.n} seeds detect a true difference of {100 * c.min_detectable_diff:.2f} "
                f"points or more (80% power at alpha/m = {level:.3g}); smaller ones may exist"
            )
        if c.p_permutation_holm is not None:
            c.tests_disagree = (c.p_holm < alpha) != (c.p_permutation_holm < alpha)
    return family


def probability_of_improvement(
    diffs_by_dataset: dict[str, list[float]], samples: int = 2000, seed: int = 0
) -> dict[str, float]:
    """P(candidate beats baseline): per dataset the share of seeds where the paired difference
    is positive (ties count one half), averaged over datasets; with a 95% percentile interval
    from a bootstrap that resamples seeds within each dataset (stratified), pairs kept."""
    wins = {k: np.where(np.asarray(v) > 0, 1.0, np.where(np.asarray(v) == 0, 0.5, 0.0))
            for k, v in diffs_by_dataset.items() if len(v)}  # fmt: skip
    if not wins:
        return {"estimate": None, "ci_low": None, "ci_high": None, "datasets": 0}
    estimate = float(np.mean([w.mean() for w in wins.values()]))
    rng = np.random.default_rng(seed)
    boot = np.zeros(samples)
    for w in wins.values():
        idx = rng.integers(0, len(w), size=(samples, len(w)))
        boot += w[idx].mean(axis=1)
    boot /= len(wins)
    low, high = np.percentile(boot, [2.5, 97.5])
    return {
        "estimate": estimate,
        "ci_low": float(low),
        "ci_high": float(high),
        "datasets": len(wins),
    }


# ---------------------------------------------------------------------------------------------
# Ranks
# ---------------------------------------------------------------------------------------------


def ranks(values) -> list[float]:
    """Rank 1 for the highest value; ties share their mean rank (SciPy's ``rankdata``)."""
    from scipy.stats import rankdata

    return [float(r) for r in rankdata(-np.asarray(values, dtype=np.float64), method="average")]


def mean_ranks(
    values: dict[str, dict[str, dict[int, float]]], samples: int = 2000, seed: int = 0
) -> dict[str, dict]:
    """Each activation's rank by mean over seeds, averaged over datasets, with a 95% percentile
    interval from a bootstrap that resamples the seeds within each dataset. ``values`` is
    ``{dataset: {activation: {seed: value}}}``; runs of one seed share their initialisation and
    data order, so a bootstrap draw keeps an activation's seeds paired with the others'."""
    datasets = [d for d, acts in values.items() if acts and all(acts.values())]
    if not datasets:
        return {}
    acts = list(values[datasets[0]])
    rng = np.random.default_rng(seed)
    point = np.zeros(len(acts))
    boot = np.zeros((samples, len(acts)))
    for d in datasets:
        seeds = sorted(set.intersection(*(set(values[d][a]) for a in acts)))
        table = np.array([[values[d][a][s] for a in acts] for s in seeds])  # (seeds, activations)
        point += ranks(table.mean(axis=0))
        idx = rng.integers(0, len(seeds), size=(samples, len(seeds)))
        means = table[idx].mean(axis=1)  # (samples, activations)
        boot += np.apply_along_axis(ranks, 1, means)
    point, boot = point / len(datasets), boot / len(datasets)
    low, high = np.percentile(boot, [2.5, 97.5], axis=0)
    return {
        a: {
            "estimate": float(point[i]),
            "ci_low": float(low[i]),
            "ci_high": float(high[i]),
            "datasets": len(datasets),
        }  # fmt: skip
        for i, a in enumerate(acts)
    }


# ---------------------------------------------------------------------------------------------
# Curves
# ---------------------------------------------------------------------------------------------


def ema(values, factor: float) -> np.ndarray:
    """TensorBoard's debiased exponential moving average (factor 0 = no smoothing)."""
    out, last = [], 0.0
    for i, v in enumerate(np.asarray(values, dtype=np.float64)):
        last = last * factor + (1.0 - factor) * v
        out.append(last / (1.0 - factor ** (i + 1)))
    return np.asarray(out)

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
* One interval per claim, at Holm's own level alpha_H for that comparison (``holm_levels``):
  the (1 - alpha_H) interval of the mean difference excludes 0 exactly when the verdict is
  better/worse, and the (1 - 2 alpha_H) interval (alpha_H of the TOST family) lies inside
  +/- margin exactly when it is equivalent.
* An inconclusive comparison gets the seeds it would need (``seeds_needed``): the count at which,
  at the observed SD of its differences, the minimum detectable difference falls below the margin.
* Alongside the t-test, an exact sign-flip permutation p-value where n >= 6 (below that the
  smallest attainable p, 2 / 2^n, exceeds 0.05); a comparison where the two tests, each
  Holm-corrected, disagree is flagged.
* Seeds to a decision (``seeds_needed``): how many seeds bring the minimum detectable difference
  below the equivalence margin, with a range from the SD's 95% chi-square interval.
* Ranks (the leaderboard): simultaneous confidence sets for the ranks of all activations
  (Mogstad, Romano, Shaikh and Wilhelm 2024) from one-sided paired t-tests of every ordered
  pair, Holm-corrected as one family per table (a dataset, or the mean over datasets), separate
  from the verdicts' family. They hold their level at 3 seeds, where a bootstrap over seeds
  cannot: 3 seeds have 10 distinct resamples (tests/test_rank_coverage.py shows both).
* P(improvement): exact Clopper-Pearson bounds per dataset, Bonferroni over datasets; valid at
  any number of seeds, and as wide as few seeds make it.
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
MAX_SEEDS = 1000  # seeds_needed reports None above this
ZERO_SPREAD = 1e-9  # an SD of differences below this x the largest |value| is round-off: zero

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


def seeds_needed(
    n: int, sd: float, margin: float, level: float, power: float = POWER, max_seeds: int = MAX_SEEDS
) -> dict:
    """Seeds a paired comparison needs before its minimum detectable difference falls below the
    equivalence margin, i.e. before it can tell a difference of ``margin`` from none.

    Method: the smallest N >= ``MIN_SEEDS`` with ``min_detectable_diff(N, sd, level, power) <
    margin`` (two-sided paired t-test at ``level``, the family's Holm/Bonferroni level alpha/m;
    noncentral t; bisection, as the difference falls with N), for the observed ``sd`` of the
    ``n`` differences and for both ends of that SD's 95% chi-square interval
    ``sd * sqrt((n-1) / chi2_{0.975,n-1})`` and ``sd * sqrt((n-1) / chi2_{0.025,n-1})``
    (exact for normal differences): the range says how uncertain the count itself is.
    Source: the textbook power of the one-sample t-test (Cohen 1988, ch. 2; statsmodels'
    ``TTestPower().solve_power`` gives the same N, rounded up).

    Returns ``{"seeds", "seeds_low", "seeds_high": int | None, "sd_interval": (low, high),
    "max_seeds": int}``: ``seeds_low`` at the SD's lower end (fewer seeds), ``seeds_high`` at
    its upper end; None where more than ``max_seeds`` would be needed."""
    if n < 2 or sd <= 0 or margin <= 0:
        raise ValueError("seeds_needed needs n >= 2, sd > 0 and margin > 0")
    df = n - 1
    sd_interval = (
        sd * math.sqrt(df / stats.chi2.ppf(0.5 + CONFIDENCE / 2, df)),
        sd * math.sqrt(df / stats.chi2.ppf(0.5 - CONFIDENCE / 2, df)),
    )

    def first(s: float) -> int | None:
        if min_detectable_diff(max_seeds, s, level, power) >= margin:
            return None
        low, high = MIN_SEEDS, max_seeds  # high always detects the margin
        while low < high:
            mid = (low + high) // 2
            if min_detectable_diff(mid, s, level, power) < margin:
                high = mid
            else:
                low = mid + 1
        return low

    return {
        "seeds": first(sd),
        "seeds_low": first(sd_interval[0]),
        "seeds_high": first(sd_interval[1]),
        "sd_interval": sd_interval,
        "max_seeds": max_seeds,
    }


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


def holm_levels(p_values: list[float], alpha: float) -> list[float]:
    """Each hypothesis' own level in Holm's step-down at family-wise ``alpha``: its p-value is
    below that level exactly when Holm rejects it. Step r (1 = smallest p) tests at alpha/(m-r+1)
    while every earlier step rejected; from the first step that does not, every later
    hypothesis keeps that step's level (its p-value is at least as large, so it is kept too).
    A (1 - level) interval therefore excludes 0 exactly when Holm rejects, and a (1 - 2 level)
    interval lies inside the margin exactly when the Holm-corrected TOST does."""
    m = len(p_values)
    order = np.argsort(p_values, kind="stable")
    levels = np.empty(m)
    stopped = None
    for rank, i in enumerate(order):
        step = alpha / (m - rank)
        if stopped is None and not p_values[i] < step:
            stopped = step
        levels[i] = step if stopped is None else stopped
    return levels.tolist()


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
    # The interval behind each claim (Holm's own level for this comparison, ``holm_levels``):
    ci: tuple[float, float] | None = None  # of the mean difference, at ci_level: excludes 0 iff
    ci_level: float | None = None  # better/worse (1 - alpha_Holm)
    ci_equivalence: tuple[float, float] | None = None  # at ci_equivalence_level: inside
    ci_equivalence_level: float | None = None  # +/- margin iff equivalent (1 - 2 alpha_Holm)
    min_detectable_diff: float | None = None  # 80% power at alpha / m
    verdict: str = TOO_FEW
    within_margin: bool | None = None  # the estimate lies inside +/- margin
    reason: str = ""
    seeds_needed: dict | None = (
        None  # inconclusive only: seeds until margin-sized gaps are detectable
    )
    diffs: dict[int, float] = field(default_factory=dict)

    @property
    def testable(self) -> bool:
        return self.n >= MIN_SEEDS and (self.sd_diff or 0.0) > 0.0

    def to_dict(self) -> dict:
        out = asdict(self)
        for key in ("ci", "ci_equivalence"):
            out[key] = list(out[key]) if out[key] is not None else None
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
    scale = max(max(map(abs, candidate.values())), max(map(abs, baseline.values())))
    if c.sd_diff <= ZERO_SPREAD * scale:  # round-off, e.g. 3 test images fewer on every seed
        c.sd_diff = 0.0
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
    for k in testable:
        family[k].p_tost = tost(np.array(list(family[k].diffs.values())), margin)
    p_t, p_tost = ([getattr(family[k], a) for k in testable] for a in ("p_value", "p_tost"))
    for key, p, p_eq, level, level_eq in zip(testable, holm(p_t), holm(p_tost), holm_levels(p_t, alpha),
                                             holm_levels(p_tost, alpha), strict=True):  # fmt: skip
        c = family[key]
        c.p_holm, c.p_tost_holm = p, p_eq
        d = list(c.diffs.values())
        c.ci_level, c.ci_equivalence_level = 1 - level, 1 - 2 * level_eq
        c.ci = t_interval(d, level=c.ci_level)
        c.ci_equivalence = t_interval(d, level=c.ci_equivalence_level)
    permuted = [k for k in testable if family[k].p_permutation is not None]
    for key, p in zip(permuted, holm([family[k].p_permutation for k in permuted]), strict=True):
        family[key].p_permutation_holm = p
    for k in testable:
        c = family[k]
        level = alpha / m
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
            c.seeds_needed = seeds_needed(c.n, c.sd_diff, margin, level)
        if c.p_permutation_holm is not None:
            c.tests_disagree = (c.p_holm < alpha) != (c.p_permutation_holm < alpha)
    return family


def _clopper_pearson(k: int, n: int, tail: float) -> tuple[float, float]:
    """One-sided exact binomial bounds for k successes in n, each at error ``tail``."""
    low = 0.0 if k == 0 else float(stats.beta.ppf(tail, k, n - k + 1))
    high = 1.0 if k == n else float(stats.beta.ppf(1 - tail, k + 1, n - k))
    return low, high


def probability_of_improvement(
    diffs_by_dataset: dict[str, list[float]], level: float = CONFIDENCE
) -> dict:
    """P(candidate beats baseline): per dataset the share of seeds where the paired difference
    is positive (ties count one half), averaged over datasets, with an interval valid at every
    number of seeds.

    Estimand: the mean over datasets of P(D > 0) + P(D = 0) / 2 for the difference D of a new
    seed. Interval (level ``level``): per dataset, exact Clopper-Pearson bounds (Clopper and
    Pearson 1934), the lower one on the count of wins (P(D > 0) bounds the estimand from below)
    and the upper one on the count of wins and ties (P(D >= 0) bounds it from above), each
    one-sided at (1 - level) / (2 x datasets); the interval is the mean of the lower and of the
    upper bounds. By Bonferroni over those 2 x datasets bounds it covers with probability at
    least ``level`` for any number of seeds and any dependence between datasets; it assumes only
    that a dataset's seeds are independent draws. It is wide at few seeds (3 seeds that all win,
    one dataset: [0.29, 1]) because that is what 3 seeds can say. It replaces a percentile
    bootstrap, which at 3 seeds collapses to [1, 1] whenever every seed wins.

    Returns ``{"estimate", "ci_low", "ci_high": float | None, "level": float, "method": str,
    "datasets": int}``."""
    diffs = {k: np.asarray(v, dtype=np.float64) for k, v in diffs_by_dataset.items() if len(v)}
    out = {"estimate": None, "ci_low": None, "ci_high": None, "level": level,
           "method": "exact Clopper-Pearson bounds per dataset, Bonferroni over datasets",
           "datasets": len(diffs)}  # fmt: skip
    if not diffs:
        return out
    tail = (1 - level) / (2 * len(diffs))
    bounds = [
        (_clopper_pearson(int(np.sum(d > 0)), len(d), tail)[0],
         _clopper_pearson(int(np.sum(d >= 0)), len(d), tail)[1])
        for d in diffs.values()
    ]  # fmt: skip
    out["estimate"] = float(np.mean([np.mean(d > 0) + np.mean(d == 0) / 2 for d in diffs.values()]))
    out["ci_low"], out["ci_high"] = (float(x) for x in np.mean(bounds, axis=0))
    return out


# ---------------------------------------------------------------------------------------------
# Ranks
# ---------------------------------------------------------------------------------------------


def ranks(values) -> list[float]:
    """Rank 1 for the highest value; ties share their mean rank (SciPy's ``rankdata``)."""
    from scipy.stats import rankdata

    return [float(r) for r in rankdata(-np.asarray(values, dtype=np.float64), method="average")]


def declared_better(table, level: float = CONFIDENCE) -> np.ndarray:
    """Which activation is significantly better than which, for the whole family at once.

    ``table`` is ``(..., seeds, activations)`` (leading axes are independent tables: the
    coverage tests pass thousands at once). Entry ``[..., j, k]`` is True when the one-sided
    paired t-test of H0: mean_j <= mean_k rejects, with Holm's step-down over all p(p-1) ordered
    pairs at family-wise error 1 - ``level``. Holm holds under any dependence between the tests,
    and each one-sided t-test is exact for normal per-seed differences, so the probability of
    any false claim "j is better than k" is at most 1 - ``level`` at every number of seeds.
    Differences without spread (all seeds differ by the same amount, to round-off) test as not
    rejecting: conservative, as no t statistic exists. Below ``MIN_SEEDS`` nothing rejects."""
    x = np.asarray(table, dtype=np.float64)
    n, p = x.shape[-2:]
    better = np.zeros(x.shape[:-2] + (p, p), dtype=bool)
    if n < MIN_SEEDS:
        return better
    d = x[..., :, :, None] - x[..., :, None, :]  # (..., seed, j, k): j minus k on each seed
    mean, sd = d.mean(axis=-3), d.std(axis=-3, ddof=1)
    spread = sd > ZERO_SPREAD * np.abs(x).max(axis=(-2, -1))[..., None, None]
    t = np.divide(mean * math.sqrt(n), sd, out=np.zeros_like(mean), where=spread)
    p_one = np.where(spread, stats.t.sf(t, df=n - 1), 1.0)  # H0: mean_j <= mean_k
    off = ~np.eye(p, dtype=bool)
    flat = p_one[..., off]  # (..., m): the m = p(p-1) ordered pairs
    m = flat.shape[-1]
    order = np.argsort(flat, axis=-1, kind="stable")
    steps = np.take_along_axis(flat, order, axis=-1) * (m - np.arange(m)) < 1 - level
    rejected = np.empty_like(steps)
    np.put_along_axis(rejected, order, np.logical_and.accumulate(steps, axis=-1), axis=-1)
    better[..., off] = rejected
    return better


def rank_bounds(table, level: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    """Simultaneous confidence sets for the ranks of all activations (rank 1 = highest mean):
    integer arrays ``(low, high)`` of shape ``(..., activations)`` for ``table`` of shape
    ``(..., seeds, activations)``. Method of Mogstad, Romano, Shaikh and Wilhelm, "Inference
    for Ranks with Applications to Mobility across Neighborhoods and Academic Achievement across
    Countries" (Review of Economic Studies 2024; R package csranks), with the pairwise tests
    of ``declared_better``: low_j = 1 + #{k declared better than j}, high_j = p - #{k that j is
    declared better than}. With probability at least ``level`` no false claim is made, so every
    true rank lies in its set, all at once (activations with tied true means: every rank their
    tied block spans)."""
    better = declared_better(table, level)
    p = better.shape[-1]
    return 1 + better.sum(axis=-2), p - better.sum(axis=-1)


def rank_sets(values: dict[str, dict[str, dict[int, float]]], level: float = CONFIDENCE) -> dict:
    """The leaderboard's ranks with simultaneous confidence sets, per dataset and overall.

    ``values`` is ``{dataset: {activation: {seed: value}}}``; datasets where some activation has
    no run are left out. Per dataset: on the seeds every activation has, each activation's rank
    by mean over those seeds (ties share the mean rank) and its ``rank_bounds`` set. Overall: the
    same on each seed's mean over the datasets, on the seeds every activation has on every
    dataset. Seeds are shared across datasets and activations (same seed = same initialisation
    and data order), so per-seed means are independent across seeds and paired across
    activations, and the overall sets are for the rank by mean accuracy over datasets (which
    weighs datasets by how far apart the activations are on them, not by a rank per dataset).
    Each table -- one dataset, or overall -- is a family of its own, simultaneous over its
    activations at ``level``. Below ``MIN_SEEDS`` shared seeds every set is [1, p].

    Returns ``{}`` when no dataset has every activation, else ``{"method": str, "level": float,
    "overall": TABLE | None, "per_dataset": {dataset: TABLE | None}}`` where ``TABLE`` is
    ``{"datasets": [str], "seeds": [int], "ranks": {activation: {"rank": float, "low": int,
    "high": int}}}``; a table is None when no seed has every one of its runs."""
    datasets = [d for d, acts in values.items() if acts and all(acts.values())]
    if not datasets:
        return {}
    acts = list(values[datasets[0]])

    def table(ds: list[str]) -> dict | None:
        seeds = sorted(set.intersection(*(set(values[d][a]) for d in ds for a in acts)))
        if not seeds:
            return None
        x = np.array([[np.mean([values[d][a][s] for d in ds]) for a in acts] for s in seeds])
        low, high = rank_bounds(x, level)
        estimate = ranks(x.mean(axis=0))
        return {
            "datasets": ds,
            "seeds": seeds,
            "ranks": {a: {"rank": estimate[i], "low": int(low[i]), "high": int(high[i])}
                      for i, a in enumerate(acts)},
        }  # fmt: skip

    return {
        "method": "simultaneous rank confidence sets (Mogstad, Romano, Shaikh and Wilhelm 2024) "
        "from one-sided paired t-tests of every ordered pair, Holm step-down",
        "level": level,
        "overall": table(datasets),
        "per_dataset": {d: table([d]) for d in datasets},
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

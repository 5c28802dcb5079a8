"""Statistics over seeds: summaries with t confidence intervals, paired tests, Holm correction.

Everything a verdict rests on is here, and each function is checked against SciPy or NumPy in
tests/test_stats.py. Conventions:

* Confidence intervals are two-sided 95% Student-t intervals of the mean over seeds.
* Candidate vs baseline is a paired t-test over seeds (same seed = same data order and
  initialisation stream); the effect size is Cohen's d_z = mean(diff) / sd(diff).
* p-values are Holm-corrected across the baselines the candidate is compared with, per dataset.
* Fewer than ``MIN_SEEDS`` paired seeds gives the verdict ``not enough seeds``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

MIN_SEEDS = 3  # below this a paired t-test has at most 1 degree of freedom: no verdict
CONFIDENCE = 0.95

BETTER, WORSE, SAME, TOO_FEW = "better", "worse", "no significant difference", "not enough seeds"


def _finite_or_none(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


@dataclass(frozen=True)
class Summary:
    n: int
    mean: float | None
    std: float | None  # sample standard deviation (ddof=1); None for one value
    ci95: tuple[float, float] | None  # t interval of the mean; None for one value

    def to_dict(self) -> dict:
        out = asdict(self)
        out["ci95"] = list(self.ci95) if self.ci95 is not None else None
        return out


def t_interval(values: np.ndarray) -> tuple[float, float] | None:
    """95% Student-t interval of the mean; a zero-variance sample gives a zero-width interval."""
    n = len(values)
    if n < 2:
        return None
    mean, sem = float(np.mean(values)), float(stats.sem(values))
    if sem == 0.0:
        return (mean, mean)
    low, high = stats.t.interval(CONFIDENCE, df=n - 1, loc=mean, scale=sem)
    return (float(low), float(high))


def summarize(values) -> Summary:
    """Mean, sample std and 95% CI of ``values`` (NaNs are not allowed)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return Summary(0, None, None, None)
    if np.isnan(values).any():
        raise ValueError("summarize() got NaN values")
    std = float(np.std(values, ddof=1)) if values.size > 1 else None
    return Summary(int(values.size), float(np.mean(values)), std, t_interval(values))


@dataclass(frozen=True)
class Paired:
    n: int
    seeds: list[int]
    mean_diff: float | None  # candidate - baseline, mean over seeds
    ci95: tuple[float, float] | None
    p_value: float | None  # two-sided paired t-test
    effect_size_dz: float | None  # mean(diff) / sd(diff); None when undefined
    p_holm: float | None = None
    verdict: str = TOO_FEW

    def to_dict(self) -> dict:
        out = asdict(self)
        out["ci95"] = list(self.ci95) if self.ci95 is not None else None
        return out


def paired(candidate: dict[int, float], baseline: dict[int, float]) -> Paired:
    """Paired comparison over the seeds both sides have."""
    seeds = sorted(set(candidate) & set(baseline))
    a = np.array([candidate[s] for s in seeds], dtype=np.float64)
    b = np.array([baseline[s] for s in seeds], dtype=np.float64)
    diff = a - b
    n = len(seeds)
    if n == 0:
        return Paired(0, [], None, None, None, None)
    mean = float(np.mean(diff))
    if n < 2:
        return Paired(n, seeds, mean, None, None, None)
    sd = float(np.std(diff, ddof=1))
    if sd == 0.0:
        # Every seed differs by the same amount (ties included): SciPy's t is 0/0 or +-inf.
        p = 1.0 if mean == 0.0 else 0.0
        dz = 0.0 if mean == 0.0 else None
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            p = float(stats.ttest_rel(a, b).pvalue)
        dz = mean / sd
    return Paired(n, seeds, mean, t_interval(diff), _finite_or_none(p), dz)


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


def verdicts(comparisons: dict[str, Paired], alpha: float) -> dict[str, Paired]:
    """Holm-correct a family of comparisons (one dataset, every baseline) and give verdicts."""
    testable = {k: c for k, c in comparisons.items() if c.n >= MIN_SEEDS and c.p_value is not None}
    adjusted = dict(zip(testable, holm([c.p_value for c in testable.values()]), strict=True))
    out = {}
    for name, c in comparisons.items():
        if name not in adjusted:
            out[name] = Paired(**{**asdict(c), "verdict": TOO_FEW})
            continue
        p = adjusted[name]
        verdict = SAME if p >= alpha else (BETTER if c.mean_diff > 0 else WORSE)
        out[name] = Paired(**{**asdict(c), "p_holm": p, "verdict": verdict})
    return out


def ema(values, factor: float) -> np.ndarray:
    """TensorBoard's debiased exponential moving average (factor 0 = no smoothing)."""
    out, last = [], 0.0
    for i, v in enumerate(np.asarray(values, dtype=np.float64)):
        last = last * factor + (1.0 - factor) * v
        out.append(last / (1.0 - factor ** (i + 1)))
    return np.asarray(out)

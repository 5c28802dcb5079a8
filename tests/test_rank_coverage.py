"""Coverage by simulation: the leaderboard's rank sets and P(improvement) intervals hold their
95% level at 3, 5 and 10 seeds, and the percentile bootstraps they replaced do not at 3.

Accuracies are simulated as true mean + a per-seed effect shared by every activation (SD 2
points: the seed's initialisation and data order) + independent noise (SD 0.3 points). A
method "covers" in one repetition when every activation's interval holds its true rank at once,
the true rank being what ``stats.ranks`` gives the true means (four equal activations: 2.5 each).
For the new sets the stricter statement is also checked: no pair is declared different in the
wrong direction (with all activations equal: no pair declared different at all). A coverage
passes when it is at least the lower end of the 99% binomial interval around 0.95 for its number
of repetitions, and fails when its own 99% upper end is below 0.95.
"""

import numpy as np
import pytest
from scipy import stats as sps

from actbench import stats

pytestmark = pytest.mark.portable

LEVEL = 0.95
Z99 = 2.5758  # two-sided 99% normal quantile: Monte Carlo error bands
EQUAL = (0.90, 0.90, 0.90, 0.90)
SPACED = (0.900, 0.905, 0.910, 0.915)  # 0.5 points apart: sets shrink at 10 seeds
PAIRS = (0.900, 0.900, 0.905, 0.905)  # two tied pairs: true ranks 3.5, 3.5, 1.5, 1.5


def _accuracies(means, seeds: int, reps: int, rng) -> np.ndarray:
    """(reps, seeds, activations): mean + shared per-seed effect + independent noise."""
    shared = rng.normal(0.0, 0.02, size=(reps, seeds, 1))
    return np.asarray(means) + shared + rng.normal(0.0, 0.003, size=(reps, seeds, len(means)))


def _covers(low, high, means) -> np.ndarray:
    """Per repetition: every activation's interval holds its true rank, all at once."""
    true = np.asarray(stats.ranks(means))
    return np.all((low <= true) & (true <= high), axis=-1)


def _holds(coverage: float, reps: int) -> bool:
    return coverage >= LEVEL - Z99 * np.sqrt(LEVEL * (1 - LEVEL) / reps)


def _fails(coverage: float, reps: int) -> bool:
    return coverage + Z99 * np.sqrt(max(coverage * (1 - coverage), 1e-12) / reps) < LEVEL


def _old_bootstrap_rank_intervals(tables: np.ndarray, samples: int = 1000, seed: int = 0):
    """The percentile bootstrap of the former ``stats.mean_ranks`` on one dataset (each draw
    resamples the seeds, keeping activations paired; ranks of the resampled means; 2.5 and 97.5
    percentiles), vectorised over a batch of ``(reps, seeds, activations)`` tables: SciPy's
    ``rankdata(axis=-1)`` in place of ``np.apply_along_axis(ranks, 1, ...)``."""
    rng = np.random.default_rng(seed)
    reps, n, _ = tables.shape
    idx = rng.integers(0, n, size=(reps, samples, n))
    means = np.take_along_axis(tables[:, None], idx[..., None], axis=2).mean(axis=2)
    boot = sps.rankdata(-means, method="average", axis=-1)  # (reps, samples, activations)
    return np.percentile(boot, [2.5, 97.5], axis=1)


@pytest.mark.parametrize("seeds", [3, 5, 10])
@pytest.mark.parametrize("means", [EQUAL, SPACED, PAIRS], ids=["equal", "spaced", "pairs"])
def test_rank_sets_cover_the_true_ranks(seeds, means):
    reps = 2000
    x = _accuracies(means, seeds, reps, np.random.default_rng(seeds))
    low, high = stats.rank_bounds(x, LEVEL)
    better = stats.declared_better(x, LEVEL)
    true = np.asarray(means)
    wrong = (better & (true[:, None] <= true[None, :])).any(axis=(-2, -1))  # a false claim
    assert _holds(1 - wrong.mean(), reps), 1 - wrong.mean()
    assert _holds(_covers(low, high, means).mean(), reps)
    if means == SPACED and seeds == 10:  # the sets are not trivially [1, 4]
        assert np.mean(high - low) < 1.0


def test_old_bootstrap_rank_intervals_fail_at_three_seeds():
    reps = 400
    x = _accuracies(EQUAL, 3, reps, np.random.default_rng(3))
    low, high = _old_bootstrap_rank_intervals(x)
    coverage = _covers(low, high, EQUAL).mean()
    assert _fails(coverage, reps), coverage  # about 0.48 where 0.95 was claimed
    assert np.mean(low == high) > 0.02  # equal activations, and an exact rank claimed
    new_low, new_high = stats.rank_bounds(x, LEVEL)
    assert _holds(_covers(new_low, new_high, EQUAL).mean(), reps)  # the same draws


def _old_probability_of_improvement(diffs_by_dataset, samples=2000, seed=0):
    """The former ``stats.probability_of_improvement`` interval: a percentile bootstrap that
    resamples seeds within each dataset, win shares averaged over datasets (copied)."""
    wins = {k: np.where(np.asarray(v) > 0, 1.0, np.where(np.asarray(v) == 0, 0.5, 0.0))
            for k, v in diffs_by_dataset.items() if len(v)}  # fmt: skip
    rng = np.random.default_rng(seed)
    boot = np.zeros(samples)
    for w in wins.values():
        idx = rng.integers(0, len(w), size=(samples, len(w)))
        boot += w[idx].mean(axis=1)
    boot /= len(wins)
    return np.percentile(boot, [2.5, 97.5])


SHIFTS = (0.85, 0.5)  # mean / SD of the differences on two datasets: P(D > 0) = 0.80, 0.69


def _differences(seeds: int, reps: int, rng) -> np.ndarray:
    """(reps, datasets, seeds): differences correlated across datasets through the seed."""
    shared = rng.normal(0.0, 1.0, size=(reps, 1, seeds))
    own = rng.normal(0.0, 1.0, size=(reps, len(SHIFTS), seeds))
    return np.asarray(SHIFTS)[:, None] + (shared + own) / np.sqrt(2)


@pytest.mark.parametrize("seeds", [3, 5, 10])
def test_probability_of_improvement_interval_covers(seeds):
    reps = 300
    truth = float(np.mean(sps.norm.cdf(SHIFTS)))
    d = _differences(seeds, reps, np.random.default_rng(seeds))
    hits = 0
    for rep in d:
        out = stats.probability_of_improvement({"a": rep[0], "b": rep[1]})
        hits += out["ci_low"] <= truth <= out["ci_high"]
    assert _holds(hits / reps, reps), hits / reps


def test_old_probability_of_improvement_interval_fails_at_three_seeds():
    reps = 300
    truth = float(np.mean(sps.norm.cdf(SHIFTS)))
    d = _differences(3, reps, np.random.default_rng(3))
    hits = [
        low <= truth <= high
        for low, high in (_old_probability_of_improvement({"a": r[0], "b": r[1]}) for r in d)
    ]
    assert _fails(np.mean(hits), reps), np.mean(hits)

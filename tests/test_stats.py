"""Every statistic behind a verdict, against SciPy/NumPy on known inputs."""

import numpy as np
import pytest
from scipy import stats as sps

from actbench import stats


def test_summary_matches_numpy_and_scipy_t_interval():
    values = [0.91, 0.93, 0.92, 0.95, 0.90]
    s = stats.summarize(values)
    assert s.n == 5
    assert s.mean == pytest.approx(np.mean(values))
    assert s.std == pytest.approx(np.std(values, ddof=1))
    lo, hi = sps.t.interval(0.95, 4, loc=np.mean(values), scale=sps.sem(values))
    assert s.ci95 == pytest.approx((lo, hi))


def test_summary_of_one_seed_has_no_spread_or_interval():
    s = stats.summarize([0.8])
    assert (s.n, s.mean, s.std, s.ci95) == (1, 0.8, None, None)


def test_summary_zero_variance_gives_zero_width_interval():
    s = stats.summarize([0.5, 0.5, 0.5])
    assert s.std == 0.0
    assert s.ci95 == (0.5, 0.5)


def test_paired_matches_scipy_ttest_rel_and_cohens_dz():
    cand = {0: 0.91, 1: 0.93, 2: 0.92, 3: 0.94}
    base = {0: 0.90, 1: 0.90, 2: 0.91, 3: 0.92, 7: 0.5}  # seed 7 has no partner: ignored
    p = stats.paired(cand, base)
    a, b = np.array([0.91, 0.93, 0.92, 0.94]), np.array([0.90, 0.90, 0.91, 0.92])
    d = a - b
    assert p.seeds == [0, 1, 2, 3]
    assert p.mean_diff == pytest.approx(d.mean())
    assert p.p_value == pytest.approx(sps.ttest_rel(a, b).pvalue)
    assert p.effect_size_dz == pytest.approx(d.mean() / d.std(ddof=1))
    lo, hi = sps.t.interval(0.95, 3, loc=d.mean(), scale=sps.sem(d))
    assert p.ci95 == pytest.approx((lo, hi))


def test_paired_all_ties_is_no_difference():
    p = stats.paired({0: 0.9, 1: 0.8, 2: 0.7}, {0: 0.9, 1: 0.8, 2: 0.7})
    assert p.mean_diff == 0.0 and p.p_value == 1.0 and p.effect_size_dz == 0.0
    v = stats.verdicts({"relu": p}, alpha=0.05)["relu"]
    assert v.verdict == stats.SAME


def test_paired_constant_nonzero_difference_is_degenerate_but_decided():
    p = stats.paired({0: 0.91, 1: 0.81, 2: 0.71}, {0: 0.90, 1: 0.80, 2: 0.70})
    assert p.p_value == 0.0
    assert p.effect_size_dz is None
    assert p.ci95 == pytest.approx((0.01, 0.01))


def test_one_or_two_seeds_give_not_enough_seeds():
    one = stats.paired({0: 0.9}, {0: 0.1})
    two = stats.paired({0: 0.9, 1: 0.91}, {0: 0.1, 1: 0.12})
    assert one.p_value is None and one.ci95 is None
    out = stats.verdicts({"a": one, "b": two}, alpha=0.05)
    assert out["a"].verdict == stats.TOO_FEW
    assert out["b"].verdict == stats.TOO_FEW
    assert out["b"].p_holm is None


def _holm_reference(p):
    """Holm's definition, written out: step down through sorted p-values."""
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    adj = [0.0] * m
    prev = 0.0
    for k, i in enumerate(order):
        prev = max(prev, min(1.0, (m - k) * p[i]))
        adj[i] = prev
    return adj


@pytest.mark.parametrize(
    "p",
    [[0.01, 0.04, 0.03], [0.2, 0.01], [0.5], [0.04, 0.04, 0.04], [0.001, 0.8, 0.02, 0.03]],
)
def test_holm_matches_definition(p):
    assert stats.holm(p) == pytest.approx(_holm_reference(p))


def test_holm_textbook_example():
    # p = (0.01, 0.04, 0.03): sorted 0.01*3, 0.03*2, 0.04*1 -> 0.03, 0.06, 0.06 (monotone)
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def test_verdict_direction_and_holm_correction_change_the_outcome():
    rng = np.random.default_rng(0)
    base = {s: 0.80 + 0.01 * rng.standard_normal() for s in range(5)}
    better = {s: v + 0.05 + 0.002 * rng.standard_normal() for s, v in base.items()}
    worse = {s: v - 0.05 + 0.002 * rng.standard_normal() for s, v in base.items()}
    assert stats.verdicts({"x": stats.paired(better, base)}, 0.05)["x"].verdict == stats.BETTER
    assert stats.verdicts({"x": stats.paired(worse, base)}, 0.05)["x"].verdict == stats.WORSE
    # p = 0.03 alone passes at 0.05; as the smallest of three with 0.04 and 0.5 it becomes 0.09.
    fake = {
        k: stats.Paired(5, [0, 1, 2, 3, 4], 0.01, (0.0, 0.02), pv, 1.0)
        for k, pv in {"a": 0.03, "b": 0.04, "c": 0.5}.items()
    }
    out = stats.verdicts(fake, 0.05)
    assert out["a"].p_holm == pytest.approx(0.09)
    assert {v.verdict for v in out.values()} == {stats.SAME}
    alone = stats.verdicts({"a": fake["a"]}, 0.05)
    assert alone["a"].verdict == stats.BETTER


def test_ema_matches_tensorboard_debiased_definition():
    values = np.array([1.0, 0.0, 0.0, 1.0])
    w = 0.6
    expected, last = [], 0.0
    for i, v in enumerate(values):
        last = w * last + (1 - w) * v
        expected.append(last / (1 - w ** (i + 1)))
    np.testing.assert_allclose(stats.ema(values, w), expected)
    np.testing.assert_allclose(stats.ema(values, 0.0), values)
    assert stats.ema([3.0, 3.0, 3.0], 0.9) == pytest.approx([3.0, 3.0, 3.0])


def test_detrended_std_ignores_a_steady_trend_and_measures_jitter():
    from actbench.results import detrended_std

    assert detrended_std(np.array([0.5, 0.6, 0.7, 0.8, 0.9])) == pytest.approx(0.0, abs=1e-12)
    values = np.array([0.80, 0.84, 0.81, 0.85, 0.82])
    x = np.arange(5)
    res = sps.linregress(x, values)
    resid = values - (res.intercept + res.slope * x)
    assert detrended_std(values) == pytest.approx(np.sqrt(np.sum(resid**2) / 3))
    assert np.isnan(detrended_std(np.array([0.1, 0.2])))

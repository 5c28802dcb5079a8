"""Every statistic behind a verdict, against fixed reference values computed independently.

The reference numbers were computed once with statsmodels 0.15.0 and SciPy 1.17.1 (the calls
are given next to each) and are written into the tests, so the tests do not reuse the
implementation they check. The minimum detectable difference is also checked by simulation.
"""

import numpy as np
import pytest
from scipy import stats as sps

from actbench import stats

pytestmark = pytest.mark.portable  # also runs on Keras + JAX (make test-jax)

A = np.array([0.951, 0.948, 0.955, 0.950, 0.946, 0.953])  # candidate, per seed
B = np.array([0.949, 0.950, 0.951, 0.947, 0.948, 0.950])  # baseline, same seeds


def test_describe_matches_numpy_and_scipy_t_interval():
    values = [0.91, 0.93, 0.92, 0.95, 0.90]
    s = stats.describe(values)
    assert s.n == 5
    assert s.mean == pytest.approx(np.mean(values))
    assert s.std == pytest.approx(np.std(values, ddof=1))
    lo, hi = sps.t.interval(0.95, 4, loc=np.mean(values), scale=sps.sem(values))
    assert s.ci95 == pytest.approx((lo, hi))


def test_describe_of_one_seed_has_no_spread_or_interval():
    s = stats.describe([0.8])
    assert (s.n, s.mean, s.std, s.ci95) == (1, 0.8, None, None)


def test_paired_t_matches_scipy_ttest_rel():
    # scipy.stats.ttest_rel(A, B).pvalue
    assert stats.paired_t(A - B) == pytest.approx(0.2738937828454586, rel=1e-9)


@pytest.mark.parametrize(
    ("p", "expected"),
    [
        # statsmodels.stats.multitest.multipletests(p, method="holm")[1]
        ([0.01, 0.04, 0.03, 0.005, 0.2], [0.04, 0.09, 0.09, 0.025, 0.2]),
        ([0.0081, 0.0123, 0.049, 0.5], [0.0324, 0.0369, 0.098, 0.5]),
    ],
)
def test_holm_matches_statsmodels(p, expected):
    assert stats.holm(p) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("margin", "expected"),
    # statsmodels.stats.weightstats.ttost_paired(A, B, -margin, margin)[0]
    [(0.01, 0.0002485092633344849), (0.003, 0.09259941388533)],
)
def test_tost_matches_statsmodels_ttost_paired(margin, expected):
    assert stats.tost(A - B, margin) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(
    ("n", "level", "effect"),
    # statsmodels.stats.power.TTestPower().solve_power(nobs=n, alpha=level, power=0.8,
    # alternative="two-sided"): the detectable effect in units of the SD of the differences.
    # (For n = 3 statsmodels returns 4.29, where its own power() gives 0.61: SciPy's nct.cdf is
    # NaN in its bracket. The simulation test below checks n = 3 instead.)
    [(5, 0.05 / 6, 2.7592626303094554), (10, 0.05 / 6, 1.3714409532441014),
     (10, 0.05, 0.9960019107624178)],
)  # fmt: skip
def test_min_detectable_diff_matches_statsmodels_within_2_percent(n, level, effect):
    sd = 0.0037  # accuracy SD of the differences; the answer scales with it
    assert stats.min_detectable_diff(n, sd, level) == pytest.approx(effect * sd, rel=0.02)


@pytest.mark.parametrize(("n", "level"), [(3, 0.05 / 3), (5, 0.05 / 3)])
def test_min_detectable_diff_has_80_percent_power_by_simulation(n, level):
    sd = 0.01
    delta = stats.min_detectable_diff(n, sd, level)
    rng = np.random.default_rng(0)
    d = rng.normal(delta, sd, size=(40_000, n))
    t = d.mean(axis=1) / (d.std(axis=1, ddof=1) / np.sqrt(n))
    power = np.mean(np.abs(t) > sps.t.ppf(1 - level / 2, n - 1))
    assert power == pytest.approx(0.80, abs=0.01)


def test_sign_flip_matches_scipy_permutation_test():
    # scipy.stats.permutation_test((d,), np.mean, permutation_type="samples",
    # n_resamples=np.inf, alternative="two-sided").pvalue
    d8 = [0.012, -0.004, 0.009, 0.015, 0.003, 0.007, -0.002, 0.011]
    assert stats.sign_flip_p(d8) == pytest.approx(0.046875, rel=1e-12)
    assert stats.sign_flip_p([0.01, 0.02, 0.015, 0.03, 0.005, 0.012]) == pytest.approx(0.03125)


def test_sign_flip_enumerates_more_than_the_block_size_exactly():
    d = np.linspace(-0.01, 0.03, 14)  # 2**14 assignments: the loop over the head is exercised
    signs = np.array(np.meshgrid(*[[1.0, -1.0]] * 14)).reshape(14, -1).T
    brute = np.mean(np.abs(signs @ d) >= abs(d.sum()) * (1 - 1e-12))
    assert stats.sign_flip_p(d) == pytest.approx(brute, rel=1e-12)


def _family(pairs, alpha=0.05, margin=0.01):
    fam = {k: stats.pair(dict(enumerate(a)), dict(enumerate(b))) for k, (a, b) in pairs.items()}
    return stats.decide(fam, alpha, margin)


def test_verdicts_better_worse_equivalent_inconclusive():
    rng = np.random.default_rng(1)
    base = 0.90 + rng.normal(0, 0.002, 10)
    fam = _family({
        "better": (base + 0.02 + rng.normal(0, 0.002, 10), base),
        "worse": (base - 0.02 + rng.normal(0, 0.002, 10), base),
        "equivalent": (base + rng.normal(0, 0.001, 10), base),
        "inconclusive": (base + rng.normal(0.003, 0.03, 10), base),
    })  # fmt: skip
    for name, c in fam.items():
        assert c.verdict == name, (name, c)
    inc = fam["inconclusive"]
    assert inc.min_detectable_diff > 0 and "detect" in inc.reason
    # Holm over the whole family of 4; the interval is at 1 - alpha/4 and contains the mean.
    assert inc.ci_level == pytest.approx(1 - 0.05 / 4)
    assert inc.ci[0] < inc.mean_diff < inc.ci[1]
    assert fam["better"].p_holm >= fam["better"].p_value


def test_zero_variance_difference_is_inconclusive_with_the_reason():
    fam = _family({"same": ([0.91, 0.81, 0.71], [0.90, 0.80, 0.70])})
    c = fam["same"]
    assert c.verdict == stats.INCONCLUSIVE
    assert c.p_value is None and c.p_holm is None
    assert "no spread" in c.reason and "+1.00 points" in c.reason


def test_too_few_seeds_and_no_shared_seeds():
    fam = _family({"two": ([0.9, 0.8], [0.7, 0.6])})
    assert fam["two"].verdict == stats.TOO_FEW
    c = stats.pair({0: 0.9}, {1: 0.8})
    assert c.n == 0 and c.verdict == stats.TOO_FEW


def test_permutation_flag_when_tests_disagree():
    # n = 6: the exact sign-flip p cannot fall below 2/64 = 0.031, so after Holm over two
    # comparisons it can never reject, while a clear t-test does: the pair is flagged.
    a = [0.95, 0.96, 0.955, 0.958, 0.952, 0.957]
    b = [0.90, 0.91, 0.905, 0.907, 0.903, 0.906]
    fam = _family({"x": (a, b), "y": (b, a)})
    assert fam["x"].verdict == stats.BETTER and fam["x"].p_permutation == pytest.approx(0.03125)
    assert fam["x"].tests_disagree


def test_probability_of_improvement_is_a_stratified_paired_bootstrap():
    out = stats.probability_of_improvement(
        {"a": [0.01, 0.02, -0.01, 0.0], "b": [0.03, 0.01]}, samples=4000
    )
    assert out["estimate"] == pytest.approx(((1 + 1 + 0 + 0.5) / 4 + 1.0) / 2)
    assert out["ci_low"] <= out["estimate"] <= out["ci_high"] <= 1.0
    assert out["datasets"] == 2


def test_ema_matches_tensorboard_debiased_definition():
    values = [1.0, 0.0, 1.0]
    out = stats.ema(values, 0.5)
    assert out[0] == pytest.approx(1.0)
    assert out[1] == pytest.approx((0.5 * 1.0 * 0.5 + 0.5 * 0.0) / (1 - 0.25))

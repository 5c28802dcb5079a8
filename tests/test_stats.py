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
    # Holm over the family of 4: better and worse reject at steps 1 and 2 (0.05/4, 0.05/3); the
    # step-down stops at step 3 (0.05/2), which every later comparison keeps.
    assert {k: c.ci_level for k, c in fam.items()} == pytest.approx(
        {"better": 1 - 0.05 / 4, "worse": 1 - 0.05 / 3, "equivalent": 0.975, "inconclusive": 0.975}
    ) or {k: c.ci_level for k, c in fam.items()} == pytest.approx(
        {"better": 1 - 0.05 / 3, "worse": 1 - 0.05 / 4, "equivalent": 0.975, "inconclusive": 0.975}
    )
    assert inc.ci[0] < inc.mean_diff < inc.ci[1]
    assert fam["better"].p_holm >= fam["better"].p_value
    assert inc.seeds_needed["seeds"] > inc.n


def test_holm_levels_reject_exactly_where_holm_does():
    # Worked example: m = 4 at alpha 0.05; steps test at 0.0125, 0.0167, 0.025, 0.05.
    p = [0.03, 0.001, 0.014, 0.2]
    assert stats.holm_levels(p, 0.05) == pytest.approx([0.025, 0.0125, 0.05 / 3, 0.025])
    rng = np.random.default_rng(7)
    for _ in range(500):
        p = list(rng.uniform(0, 0.1, rng.integers(1, 8)) ** rng.uniform(1, 3))
        levels = stats.holm_levels(p, 0.05)
        assert [q < a for q, a in zip(p, levels, strict=True)] == [q < 0.05 for q in stats.holm(p)]


def test_the_interval_beside_each_verdict_is_the_one_that_decided_it():
    """The difference interval excludes 0 exactly for better/worse; the equivalence interval
    lies inside the margin exactly for equivalent (random families of 1-6 comparisons)."""
    rng = np.random.default_rng(3)
    for _ in range(50):
        k, n, margin = rng.integers(1, 7), rng.integers(3, 11), 0.01
        pairs = {i: (0.9 + rng.normal(rng.normal(0, 0.01), rng.uniform(0.001, 0.02), n), np.full(n, 0.9))
                 for i in range(k)}  # fmt: skip
        for c in _family(pairs, margin=margin).values():
            assert (c.ci[0] > 0 or c.ci[1] < 0) == (c.verdict in (stats.BETTER, stats.WORSE))
            inside = -margin < c.ci_equivalence[0] and c.ci_equivalence[1] < margin
            assert (inside and c.verdict not in (stats.BETTER, stats.WORSE)) == (
                c.verdict == stats.EQUIVALENT
            )


def test_zero_variance_difference_is_inconclusive_with_the_reason():
    fam = _family({"same": ([0.91, 0.81, 0.71], [0.90, 0.80, 0.70])})
    c = fam["same"]
    assert c.verdict == stats.INCONCLUSIVE
    assert c.p_value is None and c.p_holm is None
    assert "no spread" in c.reason and "+1.00 points" in c.reason
    # 3 of 360 test images fewer on every seed: the float differences differ by round-off alone
    # (SD 6e-17), which must not pass for spread (it gave p = 2e-29, "better").
    a = [k / 360 for k in (300, 301, 302)]
    c = _family({"images": (a, [(k - 3) / 360 for k in (300, 301, 302)])})["images"]
    assert c.verdict == stats.INCONCLUSIVE and c.sd_diff == 0.0 and "no spread" in c.reason


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


@pytest.mark.parametrize(
    ("n", "sd", "margin", "level", "expected"),
    # math.ceil(TTestPower().solve_power(effect_size=margin / s, alpha=level, power=0.8,
    # alternative="two-sided")) for s = sd and the ends of its 95% chi-square interval (None:
    # above 1000 seeds; statsmodels says 1115).
    [(3, 0.004, 0.005, 0.05 / 6, (12, 6, 310)), (5, 0.01, 0.003, 0.05 / 6, (139, 52, None)),
     (10, 0.002, 0.003, 0.05 / 3, (8, 6, 19))],
)  # fmt: skip
def test_seeds_needed_matches_statsmodels_solve_power(n, sd, margin, level, expected):
    out = stats.seeds_needed(n, sd, margin, level)
    assert (out["seeds"], out["seeds_low"], out["seeds_high"]) == expected
    assert out["max_seeds"] == 1000


def test_seeds_needed_sd_interval_is_the_chi_square_interval_and_floor_is_min_seeds():
    out = stats.seeds_needed(3, 0.004, 0.005, 0.05 / 6)
    # 0.004 * sqrt(2 / scipy.stats.chi2.ppf(q, 2)) for q = 0.975, 0.025
    assert out["sd_interval"] == pytest.approx((0.00208263306679527, 0.02513893878594153))
    assert stats.seeds_needed(3, 0.001, 0.05, 0.05)["seeds"] == stats.MIN_SEEDS


def test_probability_of_improvement_has_exact_bonferroni_clopper_pearson_bounds():
    # statsmodels.stats.proportion.proportion_confint(k, n, alpha, method="beta"), per dataset
    # at alpha = 0.05 / datasets: the lower bound on the wins, the upper on wins and ties.
    out = stats.probability_of_improvement({"a": [0.01, 0.02, -0.01, 0.0], "b": [0.03, 0.01]})
    assert out["estimate"] == pytest.approx(((1 + 1 + 0 + 0.5) / 4 + 1.0) / 2)
    assert out["ci_low"] == pytest.approx((0.0471207920639668 + 0.11180339887498948) / 2)
    assert out["ci_high"] == pytest.approx((0.9968602438243735 + 1.0) / 2)
    assert (out["datasets"], out["level"]) == (2, 0.95)
    one = stats.probability_of_improvement({"a": [0.01, 0.02, 0.03]})
    assert (one["estimate"], one["ci_high"]) == (1.0, 1.0)
    assert one["ci_low"] == pytest.approx(0.2924017738212866)  # 3 wins of 3 say this little
    assert stats.probability_of_improvement({"a": []})["ci_low"] is None


# Seeds x activations A, B, C. One-sided paired p-values, scipy.stats.ttest_rel(alternative=
# "greater"): A > B 0.00177, A > C 0.00840, B > C 0.0330, the reverse directions > 0.96.
# statsmodels multipletests(method="holm") over all 6 rejects A > B and A > C (the second only
# at Holm's second step: 0.00840 > 0.05/6, < 0.05/5); Bonferroni would reject A > B alone.
RANKED = np.array([[0.950, 0.944, 0.941], [0.947, 0.943, 0.943], [0.953, 0.945, 0.936],
                   [0.949, 0.946, 0.944], [0.951, 0.9445, 0.939]])  # fmt: skip


def test_rank_bounds_match_holm_over_one_sided_paired_t_tests():
    better = stats.declared_better(RANKED)
    assert better.tolist() == [[False, True, True], [False, False, False], [False, False, False]]
    low, high = stats.rank_bounds(RANKED)
    assert low.tolist() == [1, 2, 2] and high.tolist() == [1, 3, 3]
    # Vectorised over leading axes; below MIN_SEEDS, or without spread, nothing is declared.
    assert stats.rank_bounds(np.stack([RANKED, RANKED]))[1].tolist() == [[1, 3, 3]] * 2
    assert not stats.declared_better(RANKED[:2]).any()
    images = np.array([[k / 360, (k - 3) / 360] for k in (300, 301, 302)])  # round-off spread
    assert not stats.declared_better(images).any()


def test_rank_sets_per_dataset_and_over_the_per_seed_mean_of_datasets():
    a = {act: dict(enumerate(RANKED[:, i])) for i, act in enumerate("ABC")}
    flipped = {act: {s: 1.8 - v for s, v in by_seed.items()} for act, by_seed in a.items()}
    out = stats.rank_sets({"a": a, "b": flipped, "empty": {"A": {}, "B": {}, "C": {}}})
    assert out["level"] == 0.95 and "Holm" in out["method"]
    assert set(out["per_dataset"]) == {"a", "b"}  # a dataset missing an activation is left out
    assert out["per_dataset"]["a"]["ranks"]["A"] == {"rank": 1.0, "low": 1, "high": 1}
    assert out["per_dataset"]["b"]["ranks"]["A"] == {"rank": 3.0, "low": 3, "high": 3}
    overall = out["overall"]
    assert overall["datasets"] == ["a", "b"] and overall["seeds"] == [0, 1, 2, 3, 4]
    # Each seed's mean over the two datasets is 0.9 for every activation: a tie, no claim.
    assert all(v == {"rank": 2.0, "low": 1, "high": 3} for v in overall["ranks"].values())
    assert stats.rank_sets({"a": {"A": {}}}) == {}
    assert stats.ranks([0.3, 0.9, 0.3]) == [2.5, 1.0, 2.5]


def test_ema_matches_tensorboard_debiased_definition():
    values = [1.0, 0.0, 1.0]
    out = stats.ema(values, 0.5)
    assert out[0] == pytest.approx(1.0)
    assert out[1] == pytest.approx((0.5 * 1.0 * 0.5 + 0.5 * 0.0) / (1 - 0.25))

"""agent.stats against the reference implementations (statsmodels, scipy) on the same counts,
against published worked examples where no library implements the method, and by property
(fixed seeds, so every run is the same)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.stats import chi2_contingency
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    proportion_effectsize,
    proportions_ztest,
)

from agent.stats import (
    Difference,
    chi2_units,
    cluster_mean,
    mcnemar,
    paired_means,
    paired_rates,
    power_two_rates,
    rate,
    sample_size_paired,
    sample_size_two_rates,
    two_rates,
    wilson,
)

COUNTS = [(0, 1), (0, 7), (1, 7), (3, 7), (7, 7), (5, 20), (19, 20), (0, 50), (37, 120)]


def arms(both: int, only_b: int, only_a: int, neither: int) -> tuple[list[bool], list[bool]]:
    """Outcome lists of two arms on the same units, from the four cells of the paired table."""
    a = [True] * both + [False] * only_b + [True] * only_a + [False] * neither
    b = [True] * both + [True] * only_b + [False] * only_a + [False] * neither
    return a, b


def test_rate_and_wilson_match_statsmodels_wilson() -> None:
    for k, n in COUNTS:
        low, high = proportion_confint(k, n, alpha=0.05, method="wilson")
        est = rate(k, n)
        assert (est.value, est.n) == (k / n, n)
        assert (est.low, est.high) == pytest.approx((low, high), abs=1e-12)
        assert wilson(k, n) == pytest.approx((low, high), abs=1e-12)


def test_rate_of_no_units_or_impossible_counts_is_an_error() -> None:
    for k, n in [(0, 0), (3, 2), (-1, 4)]:
        with pytest.raises(ValueError):
            rate(k, n)
    assert wilson(0, 0) == (0.0, 1.0)  # the old convention that existing callers rely on


def test_mcnemar_matches_statsmodels_exact() -> None:
    for only_a, only_b in [(0, 1), (1, 0), (2, 12), (12, 2), (5, 5), (0, 9), (17, 30)]:
        ref = sm_mcnemar([[3, only_a], [only_b, 4]], exact=True).pvalue
        assert mcnemar(only_a, only_b) == pytest.approx(ref, rel=1e-12)
    assert mcnemar(0, 0) == 1.0


# Newcombe (1998), "Improved confidence intervals for the difference between binomial proportions
# based on paired data", Stat Med 17:2635-2650: the worked examples' method 10 limits (4 dp).
# Cells (e, f, g, h) = (both, first only, second only, neither); difference = (f - g) / n.
# The paper itself was not reachable; the rows are as transcribed by two independent test suites
# that agree where they overlap: m-Py/propint tests/testthat/test_Two_Dependent_Props_CI.R (the
# rows marked *) and a TypeScript suite citing the paper's Table III (all 18 rows). The brief's
# "36, 12, 2, 0 -> 0.1176 (0.0299, 0.2175)" matches neither: that table's difference is 10/50.
# 17 rows agree to 4 dp; the lower limit of (1, 97, 1, 1) computes to 0.87367 against a printed
# 0.8736 (no variant of phi explains it), hence a tolerance of one unit in the 4th place. Row
# (35, 14, 0, 1) tells the two phis apart: it needs Newcombe's phi* (numerator reduced by n/2).
NEWCOMBE_1998_METHOD_10 = [
    ((36, 12, 2, 0), 0.0569, 0.3404),  # *
    ((20, 12, 2, 16), 0.0562, 0.3292),
    ((18, 12, 2, 18), 0.0562, 0.3290),  # *
    ((36, 14, 0, 0), 0.1528, 0.4167),
    ((35, 14, 0, 1), 0.1461, 0.4175),
    ((18, 14, 0, 18), 0.1441, 0.3963),
    ((2, 97, 1, 0), 0.8721, 0.9854),
    ((1, 97, 1, 1), 0.8736, 0.9850),
    ((0, 29, 1, 0), 0.6666, 0.9882),
    ((2, 98, 0, 0), 0.9178, 0.9945),
    ((1, 98, 0, 1), 0.9171, 0.9916),
    ((0, 30, 0, 0), 0.8395, 1.0),  # *
    ((54, 0, 0, 0), -0.0664, 0.0664),
    ((53, 0, 0, 1), -0.0729, 0.0729),  # *
    ((30, 0, 0, 24), -0.0358, 0.0358),
    ((29, 0, 0, 25), -0.0354, 0.0354),
    ((28, 0, 0, 26), -0.0352, 0.0352),
    ((27, 0, 0, 27), -0.0351, 0.0351),
]


@pytest.mark.parametrize(("cells", "low", "high"), NEWCOMBE_1998_METHOD_10)
def test_paired_rates_reproduce_newcombe_1998_method_10(
        cells: tuple[int, int, int, int], low: float, high: float) -> None:
    both, only_b, only_a, neither = cells
    d = paired_rates(*arms(both, only_b, only_a, neither))
    assert d.value == (only_b - only_a) / sum(cells)
    assert d.n == sum(cells)
    assert d.low == pytest.approx(low, abs=1e-4)
    assert d.high == pytest.approx(high, abs=1e-4)


def test_paired_rates_p_is_statsmodels_exact_mcnemar() -> None:
    for cells in [(36, 12, 2, 0), (10, 0, 6, 4), (40, 5, 9, 46), (3, 7, 0, 1)]:
        both, only_b, only_a, neither = cells
        d = paired_rates(*arms(*cells))
        ref = sm_mcnemar([[both, only_a], [only_b, neither]], exact=True).pvalue
        assert d.p == pytest.approx(ref, rel=1e-12)
        assert d.method == "newcombe-paired+mcnemar-exact"


def test_paired_interval_holds_the_estimate_stays_in_range_and_mirrors_when_arms_swap() -> None:
    # Every paired table of 6 units.
    for cells in itertools.product(range(7), repeat=4):
        if sum(cells) != 6:
            continue
        a, b = arms(*cells)
        d, swapped = paired_rates(a, b), paired_rates(b, a)
        assert -1.0 <= d.low <= d.value <= d.high <= 1.0
        assert (swapped.value, swapped.low, swapped.high) == pytest.approx(
            (-d.value, -d.high, -d.low), abs=1e-12)
        assert swapped.p == d.p


def test_paired_rates_needs_aligned_nonempty_arms() -> None:
    with pytest.raises(ValueError):
        paired_rates([True, False], [True])
    with pytest.raises(ValueError):
        paired_rates([], [])


def test_two_rates_match_statsmodels_newcombe_interval_and_pooled_z_test() -> None:
    for (k1, n1), (k2, n2) in itertools.product(COUNTS, repeat=2):
        d = two_rates(k1, n1, k2, n2)
        assert d.value == pytest.approx(k2 / n2 - k1 / n1, abs=1e-15)
        # statsmodels' interval is for count1/nobs1 - count2/nobs2: pass arm B first.
        low, high = confint_proportions_2indep(k2, n2, k1, n1, method="newcomb", compare="diff")
        assert (d.low, d.high) == pytest.approx((low, high), abs=1e-12)
        if 0 < k1 + k2 < n1 + n2:  # statsmodels' z is 0/0 when both arms are all 0 or all 1
            _, p = proportions_ztest([k2, k1], [n2, n1])
            assert d.p == pytest.approx(p, rel=1e-9)
        else:
            assert d.p == 1.0
        assert d.n == n1 + n2


def test_cluster_mean_is_the_mean_of_all_values_and_deterministic_for_a_seed() -> None:
    units = [[1.0, 0.0, 1.0], [0.0, 0.0], [1.0, 1.0, 1.0, 1.0], [0.5], [0.2, 0.4]]
    est = cluster_mean(units, seed=3)
    assert est.value == pytest.approx(np.mean([v for u in units for v in u]))
    assert est.n == len(units)
    assert est.low <= est.value <= est.high
    assert cluster_mean(units, seed=3) == est
    assert cluster_mean(units, seed=4) != est


def test_cluster_mean_resamples_personas_not_dialogues() -> None:
    # Ten personas that always / never buy: 100 dialogues but only 10 independent units, so the
    # interval must be far wider than if each dialogue were its own unit.
    personas = [[1.0] * 10 if i % 2 else [0.0] * 10 for i in range(10)]
    dialogues = [[v] for u in personas for v in u]
    by_persona, by_dialogue = cluster_mean(personas), cluster_mean(dialogues)
    assert by_persona.value == by_dialogue.value == 0.5
    assert by_persona.high - by_persona.low > 2 * (by_dialogue.high - by_dialogue.low)


def test_cluster_mean_needs_two_nonempty_units() -> None:
    for units in ([[1.0, 2.0]], [[1.0], []]):
        with pytest.raises(ValueError):
            cluster_mean(units)


def test_paired_means_of_identical_arms_is_zero_and_not_significant() -> None:
    rng = np.random.default_rng(11)
    units = [list(rng.normal(size=int(rng.integers(1, 5)))) for _ in range(15)]
    d = paired_means(units, units)
    assert (d.value, d.p) == (0.0, 1.0)
    assert d.covers_zero
    assert d.method == "paired-bootstrap+sign-flip"


def test_paired_means_finds_a_large_shift() -> None:
    rng = np.random.default_rng(12)
    a = [list(rng.normal(size=3)) for _ in range(20)]
    b = [[x + 2.0 for x in u] for u in a]
    d = paired_means(a, b)
    assert d.value == pytest.approx(2.0)
    assert not d.covers_zero and d.low > 1.0
    assert d.p < 0.001
    assert paired_means(a, b, seed=5) == paired_means(a, b, seed=5)


def test_paired_means_p_is_the_exact_sign_flip_enumeration_for_few_units() -> None:
    a = [[0.0], [1.0, 0.0], [0.2], [0.4, 0.4], [0.1], [0.0, 0.3], [0.5], [0.9]]
    b = [[0.3], [1.0, 1.0], [0.1], [0.9, 0.7], [0.6], [0.0, 0.1], [0.8], [1.0]]
    diffs = np.array([np.mean(y) - np.mean(x) for x, y in zip(a, b, strict=True)])
    observed = abs(diffs.mean())
    flips = [abs((np.array(s) * diffs).mean()) for s in itertools.product((-1, 1), repeat=8)]
    exact = np.mean([f >= observed - 1e-12 for f in flips])
    # 2**8 sign patterns <= n_boot: scipy enumerates them all, so every seed agrees.
    for seed in (0, 1):
        assert paired_means(a, b, seed=seed).p == pytest.approx(exact, rel=1e-12)


def test_paired_means_needs_the_same_units_in_both_arms() -> None:
    with pytest.raises(ValueError):
        paired_means([[1.0], [2.0]], [[1.0]])


LEVELS = [(0.05, 0.8), (0.01, 0.9), (0.1, 0.5)]


@pytest.mark.parametrize(("p1", "p2"), [(0.2, 0.3), (0.5, 0.6), (0.1, 0.05), (0.1, 0.5),
                                        (0.40, 0.41)])
def test_sample_size_and_power_match_statsmodels_normal_ind_power(p1: float, p2: float) -> None:
    h = proportion_effectsize(p2, p1)
    for alpha, power in LEVELS:
        ref = NormalIndPower().solve_power(h, alpha=alpha, power=power, ratio=1)
        n = sample_size_two_rates(p1, p2, alpha=alpha, power=power)
        assert n == math.ceil(ref)
        for m in (n - 1, n, 3 * n):
            assert power_two_rates(p1, p2, m, alpha=alpha) == pytest.approx(
                NormalIndPower().power(h, nobs1=m, alpha=alpha, ratio=1), rel=1e-12)


@pytest.mark.parametrize(("p1", "p2"), [(0.2, 0.3), (0.02, 0.9), (0.9, 0.02), (0.5, 0.501)])
def test_sample_size_is_the_fewest_units_reaching_the_power(p1: float, p2: float) -> None:
    # Includes huge effects (n of a few units), where statsmodels' solver fails to converge.
    for alpha, power in LEVELS:
        n = sample_size_two_rates(p1, p2, alpha=alpha, power=power)
        assert power_two_rates(p1, p2, n, alpha=alpha) >= power > power_two_rates(
            p1, p2, n - 1, alpha=alpha)


def test_sample_size_of_no_difference_is_an_error() -> None:
    with pytest.raises(ValueError):
        sample_size_two_rates(0.3, 0.3)
    with pytest.raises(ValueError):
        sample_size_paired(0.1, 0.1)


def test_sample_size_paired_matches_connor_1987_worked_example() -> None:
    # powerandsamplesize.com, McNemar Z-test (Connor 1987, Biometrics 43:207, p. 209):
    # p01 = 0.45, p10 = 0.05, alpha 0.05 two-sided, power 0.8 -> 23 pairs; its 1-sided page
    # (alpha 0.05 one-sided == 0.1 two-sided), power 0.9 -> 23 as well.
    assert sample_size_paired(0.05, 0.45) == 23
    assert sample_size_paired(0.45, 0.05) == 23
    assert sample_size_paired(0.05, 0.45, alpha=0.1, power=0.9) == 23


def test_chi2_units_is_scipy_without_yates() -> None:
    for table in ([[12, 5], [3, 10]], [[4, 6, 9], [7, 1, 3]], [[20, 0], [11, 9]]):
        ref = chi2_contingency(table, correction=False)
        assert chi2_units(table) == pytest.approx((ref.statistic, ref.pvalue, ref.dof), rel=1e-12)


def test_difference_covers_zero_includes_the_boundary() -> None:
    assert Difference(0.1, 0.0, 0.2, 0.05, 10, "x").covers_zero
    assert not Difference(0.1, 0.01, 0.2, 0.01, 10, "x").covers_zero
    assert not Difference(-0.1, -0.2, -0.01, 0.01, 10, "x").covers_zero


def test_holm_adjustment_equals_statsmodels() -> None:
    from statsmodels.stats.multitest import multipletests

    from agent.stats import holm

    for ps in ([0.01, 0.04, 0.03], [0.5, 0.001, 0.2, 0.049], [0.3], [0.02, 0.02]):
        assert holm(ps) == pytest.approx(list(multipletests(ps, method="holm")[1]))

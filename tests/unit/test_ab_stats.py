"""agent.ab_stats against scipy/statsmodels on the same counts, against numerical
integration where the method has a closed form, and by simulation (fixed seeds): the A/A
false-winner rate with daily peeking, power, the planned size of the always-valid test,
coverage of the confidence sequence."""

from __future__ import annotations

import itertools
import math

import numpy as np
import numpy.typing as npt
import pytest
from scipy import integrate
from scipy.stats import beta, chisquare, norm
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from agent.ab_stats import (
    confidence_sequence,
    msprt_log_lr,
    msprt_plan,
    msprt_pvalues,
    power_msprt,
    prob_beats,
    ratio_diff,
    ratio_mean,
    sample_size_msprt,
    srm,
)
from agent.stats import cluster_mean, power_two_rates, sample_size_two_rates, two_rates

_Ints = npt.NDArray[np.int64]
_Floats = npt.NDArray[np.float64]
DAYS, PER_DAY, BASE, MDE = 30, 300, 0.10, 0.03


def daily_counts(p_control: float, p_treatment: float, runs: int,
                 seed: int) -> tuple[_Ints, _Ints, _Ints, _Ints]:
    """Cumulative (k_c, n_c, k_t, n_t) at the end of each day, shape (runs, DAYS): Poisson
    traffic of PER_DAY callers a day split 50/50 at random."""
    rng = np.random.default_rng(seed)
    total = rng.poisson(PER_DAY, size=(runs, DAYS))
    n_c = rng.binomial(total, 0.5)
    n_t = total - n_c
    k_c, k_t = rng.binomial(n_c, p_control), rng.binomial(n_t, p_treatment)
    return (np.cumsum(k_c, axis=1), np.cumsum(n_c, axis=1), np.cumsum(k_t, axis=1),
            np.cumsum(n_t, axis=1))


def msprt_winner_rate(counts: tuple[_Ints, _Ints, _Ints, _Ints], alpha: float = 0.05) -> float:
    """Share of runs where the always-valid p fell below alpha at some daily look."""
    k_c, n_c, k_t, n_t = (c.tolist() for c in counts)
    wins = [msprt_pvalues(list(zip(*run, strict=True)), tau=MDE)[-1] < alpha
            for run in zip(k_c, n_c, k_t, n_t, strict=True)]
    return float(np.mean(wins))


def naive_winner_rate(counts: tuple[_Ints, _Ints, _Ints, _Ints], alpha: float = 0.05) -> float:
    """Share of runs where the fixed-horizon pooled z-test was below alpha at some daily look
    (what a team does when it checks the ordinary p-value every morning)."""
    k_c, n_c, k_t, n_t = (c.astype(float) for c in counts)
    pooled = (k_c + k_t) / (n_c + n_t)
    z = (k_t / n_t - k_c / n_c) / np.sqrt(pooled * (1 - pooled) * (1 / n_c + 1 / n_t))
    return float(np.mean((2 * norm.sf(np.abs(z)) < alpha).any(axis=1)))


def test_naive_peeking_helper_is_the_pooled_z_test_of_agent_stats() -> None:
    counts = daily_counts(BASE, BASE, 1, seed=3)
    k_c, n_c, k_t, n_t = (int(c[0, -1]) for c in counts)
    pooled = (k_c + k_t) / (n_c + n_t)
    z = (k_t / n_t - k_c / n_c) / math.sqrt(pooled * (1 - pooled) * (1 / n_c + 1 / n_t))
    assert 2 * norm.sf(abs(z)) == pytest.approx(two_rates(k_c, n_c, k_t, n_t).p, abs=1e-12)


def test_aa_with_daily_peeking_declares_a_winner_in_at_most_5_percent_of_1000_runs() -> None:
    counts = daily_counts(BASE, BASE, 1000, seed=16)
    assert msprt_winner_rate(counts) <= 0.05


def test_aa_with_daily_peeking_at_the_naive_p_value_declares_far_more_winners() -> None:
    # The same bar, the same data: the fixed-horizon test checked daily fails it by far
    # (about 28 %), which is what the always-valid p-value is there to prevent.
    counts = daily_counts(BASE, BASE, 1000, seed=16)
    assert naive_winner_rate(counts) > 0.15
    assert naive_winner_rate(counts) > 4 * msprt_winner_rate(counts)


def test_a_real_lift_of_the_mde_is_detected_with_daily_peeking() -> None:
    counts = daily_counts(BASE, BASE + MDE, 300, seed=7)
    assert msprt_winner_rate(counts) >= 0.8


def log_lr_array(k1: _Ints, n1: _Ints, k2: _Ints, n2: _Ints, tau: float = MDE) -> _Floats:
    """msprt_log_lr over arrays of looks (same plug-in variance, same pooled fallback), so
    thousands of simulated experiments take a fraction of a second."""
    p1, p2 = k1 / n1, k2 / n2
    var = p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
    pooled = (k1 + k2) / (n1 + n2)
    var = np.where(var == 0, pooled * (1 - pooled) * (1 / n1 + 1 / n2), var)
    t2 = tau * tau
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 0.5 * np.log(var / (var + t2)) + t2 * (p2 - p1) ** 2 / (2 * var * (var + t2))
    return np.where(var > 0, out, -np.inf)


def to_planned_size(p_control: float, p_treatment: float, n: int, runs: int, seed: int,
                    per_day: int = PER_DAY // 2) -> tuple[_Ints, _Ints, _Ints, _Ints]:
    """Cumulative (k_c, n_c, k_t, n_t) at the end of each day, shape (runs, days): per_day
    callers a day in each arm until both reach n units, the last look at exactly n."""
    rng = np.random.default_rng(seed)
    days = -(-n // per_day)
    sizes = np.minimum(per_day * np.arange(1, days + 1), n)
    new = np.diff(sizes, prepend=0)
    k_c = np.cumsum(rng.binomial(new, p_control, (runs, days)), axis=1)
    k_t = np.cumsum(rng.binomial(new, p_treatment, (runs, days)), axis=1)
    n_arm = np.broadcast_to(sizes, (runs, days))
    return k_c, n_arm, k_t, n_arm


def test_the_vectorised_log_lr_of_these_tests_is_msprt_log_lr() -> None:
    looks = np.array([(10, 100, 18, 100), (97, 812, 120, 790), (500, 5000, 430, 5000),
                      (0, 5, 0, 7), (0, 5, 5, 5), (3, 40, 0, 35)])
    for look, value in zip(looks.tolist(), log_lr_array(*looks.T).tolist(), strict=True):
        assert value == pytest.approx(msprt_log_lr(*look, tau=MDE), rel=1e-12)


@pytest.mark.parametrize(("p1", "p2", "n"), [(BASE, BASE + MDE, None), (BASE, BASE + MDE, 1769),
                                             (0.20, 0.25, None)])
def test_msprt_power_is_the_simulated_rejection_rate_at_the_final_look(
        p1: float, p2: float, n: int | None) -> None:
    # The closed form uses V of the planned rates; the test uses the observed rates.
    tau = p2 - p1
    n = n or sample_size_msprt(p1, p2, tau=tau)
    runs = 40_000
    rng = np.random.default_rng(21)
    k1, k2 = rng.binomial(n, p1, runs), rng.binomial(n, p2, runs)
    sizes = np.full(runs, n)
    rejected = float(np.mean(log_lr_array(k1, sizes, k2, sizes, tau) >= -math.log(0.05)))
    expected = power_msprt(p1, p2, n, tau=tau)
    assert abs(rejected - expected) < 4 * math.sqrt(expected * (1 - expected) / runs)


def test_the_msprt_planned_size_has_the_planned_power_with_daily_peeking() -> None:
    # 10 % -> 13 %: 3,433 per arm. Looked at every day it finds the lift in about 85 % of
    # runs (the final look alone: 80 %, the bound the size is solved for), while an A/A test
    # taken to the same size still declares a winner in under 5 %.
    n = sample_size_msprt(BASE, BASE + MDE, alpha=0.05, power=0.8, tau=MDE)
    assert n == 3433
    threshold = -math.log(0.05)
    lift = log_lr_array(*to_planned_size(BASE, BASE + MDE, n, 4000, seed=8))
    final = float(np.mean(lift[:, -1] >= threshold))
    peeking = float(np.mean((lift >= threshold).any(axis=1)))
    assert final == pytest.approx(0.80, abs=4 * math.sqrt(0.16 / 4000))
    assert peeking >= 0.8
    null = log_lr_array(*to_planned_size(BASE, BASE, n, 4000, seed=9))
    assert float(np.mean((null >= threshold).any(axis=1))) <= 0.05


@pytest.mark.parametrize(("p1", "p2", "alpha"), [(0.10, 0.13, 0.05), (0.10, 0.13, 0.025),
                                                 (0.20, 0.25, 0.05), (0.05, 0.06, 0.05),
                                                 (0.30, 0.20, 0.05)])
def test_msprt_planned_size_is_the_smallest_with_the_power_and_above_the_fixed_horizon_one(
        p1: float, p2: float, alpha: float) -> None:
    tau = abs(p2 - p1)
    n = sample_size_msprt(p1, p2, alpha=alpha, power=0.8, tau=tau)
    assert power_msprt(p1, p2, n - 1, alpha=alpha, tau=tau) < 0.8
    assert power_msprt(p1, p2, n, alpha=alpha, tau=tau) >= 0.8
    fixed = sample_size_two_rates(p1, p2, alpha=alpha, power=0.8)
    assert n > 1.5 * fixed
    # At the fixed-horizon size the test that decides is far short of the planned power.
    assert power_msprt(p1, p2, fixed, alpha=alpha, tau=tau) < 0.5
    assert power_two_rates(p1, p2, fixed, alpha=alpha) >= 0.8


def test_msprt_plan_reports_both_sizes_and_the_power_so_far() -> None:
    plan = msprt_plan(BASE, BASE + MDE, 1000, alpha=0.05, power=0.8, tau=MDE)
    assert plan == {"units_per_arm": 3433, "progress": pytest.approx(1000 / 3433),
                    "power_now": pytest.approx(power_msprt(BASE, BASE + MDE, 1000, tau=MDE)),
                    "units_per_arm_fixed": 1769}
    given = msprt_plan(BASE, BASE + MDE, 1000, alpha=0.05, power=0.8, tau=MDE,
                       units_per_arm=800)
    assert (given["units_per_arm"], given["progress"]) == (800, 1.0)


def test_msprt_power_edges_and_bad_plans() -> None:
    assert power_msprt(BASE, BASE + MDE, 0, tau=MDE) == 0.0
    assert power_msprt(0.0, 1.0, 1, tau=MDE) == 1.0
    assert power_msprt(BASE, BASE + MDE, 10**7, tau=MDE) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="zero difference"):
        sample_size_msprt(0.1, 0.1, tau=MDE)
    with pytest.raises(ValueError, match="power"):
        sample_size_msprt(0.1, 0.13, power=1.0, tau=MDE)
    with pytest.raises(ValueError, match="alpha"):
        power_msprt(0.1, 0.13, 100, alpha=0.0, tau=MDE)
    with pytest.raises(ValueError, match="tau"):
        sample_size_msprt(0.1, 0.13, tau=-1.0)


def test_always_valid_p_never_rises_and_starts_at_one_without_data() -> None:
    counts = daily_counts(BASE, BASE + 0.01, 1, seed=5)
    looks = [(0, 0, 0, 0), *zip(*(c[0].tolist() for c in counts), strict=True)]
    p = msprt_pvalues(looks, tau=MDE)
    assert p[0] == 1.0
    assert all(b <= a for a, b in itertools.pairwise(p))
    assert len(p) == DAYS + 1


@pytest.mark.parametrize("look", [(10, 100, 18, 100), (97, 812, 120, 790), (3, 40, 0, 35),
                                  (500, 5000, 430, 5000)])
def test_mixture_likelihood_ratio_equals_the_integral_it_stands_for(
        look: tuple[int, int, int, int]) -> None:
    # Lambda = ∫ N(theta_hat; theta, V) N(theta; 0, tau²) dtheta / N(theta_hat; 0, V).
    k1, n1, k2, n2 = look
    p1, p2 = k1 / n1, k2 / n2
    diff, sd = p2 - p1, math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    tau = 0.03
    num = integrate.quad(lambda t: norm.pdf(diff, t, sd) * norm.pdf(t, 0, tau),
                         -10 * tau, 10 * tau, epsabs=0, epsrel=1e-12, limit=400)[0]
    expected = math.log(num / norm.pdf(diff, 0, sd))
    assert msprt_log_lr(k1, n1, k2, n2, tau=tau) == pytest.approx(expected, rel=1e-8, abs=1e-10)
    assert msprt_pvalues([look], tau=tau)[0] == pytest.approx(min(1.0, math.exp(-expected)),
                                                             rel=1e-8)


def test_confidence_sequence_excludes_zero_exactly_when_the_always_valid_p_is_below_alpha(
        ) -> None:
    for seed, lift in [(1, 0.0), (2, 0.02), (3, 0.04), (4, -0.03)]:
        counts = daily_counts(BASE, BASE + lift, 1, seed=seed)
        looks = list(zip(*(c[0].tolist() for c in counts), strict=True))
        p = msprt_pvalues(looks, tau=MDE)
        cs = confidence_sequence(looks, tau=MDE, alpha=0.05)
        assert [not lo <= 0 <= hi for lo, hi in cs] == [x < 0.05 for x in p]
        assert all(b[0] >= a[0] and b[1] <= a[1] for a, b in itertools.pairwise(cs))


def test_confidence_sequence_covers_the_true_difference_at_every_look_in_95_percent_of_runs(
        ) -> None:
    lift = 0.02
    k_c, n_c, k_t, n_t = (c.tolist() for c in daily_counts(BASE, BASE + lift, 500, seed=11))
    misses = 0
    for run in zip(k_c, n_c, k_t, n_t, strict=True):
        low, high = confidence_sequence(list(zip(*run, strict=True)), tau=MDE)[-1]
        misses += not low <= lift <= high  # the last interval is the intersection of all
    assert misses / 500 <= 0.05


def test_tau_must_be_positive() -> None:
    with pytest.raises(ValueError, match="tau"):
        msprt_pvalues([(1, 10, 2, 10)], tau=0.0)


@pytest.mark.parametrize(("counts", "weights"), [
    ([5200, 4800], [1, 1]), ([5000, 5000], [1, 1]), ([2600, 7400], [1, 3]),
    ([31, 40, 29], [1, 1, 1]), ([100, 260, 640], [0.1, 0.25, 0.65])])
def test_srm_equals_scipy_chisquare(counts: list[int], weights: list[float]) -> None:
    total = sum(counts)
    expected = [total * w / sum(weights) for w in weights]
    ref = chisquare(counts, f_exp=expected)
    res = srm(counts, weights)
    assert res.chi2 == pytest.approx(float(ref.statistic), abs=1e-9)
    assert res.p == pytest.approx(float(ref.pvalue), abs=1e-12)
    assert res.expected == pytest.approx(expected)
    assert res.flagged == (float(ref.pvalue) < 0.001)


def test_srm_of_52_48_at_10000_is_flagged_and_50_50_is_not() -> None:
    assert srm([5200, 4800], [1.0, 1.0]).flagged
    assert not srm([5000, 5000], [1.0, 1.0]).flagged
    assert not srm([5060, 4940], [1.0, 1.0]).flagged  # chi2 1.44: ordinary noise


def test_srm_flags_units_in_an_arm_of_weight_zero_and_ignores_an_empty_one() -> None:
    broken = srm([500, 480, 3], [1, 1, 0])
    assert broken.flagged and broken.p == 0.0 and math.isinf(broken.chi2)
    fine = srm([500, 480, 0], [1, 1, 0])
    assert not fine.flagged
    assert fine.chi2 == pytest.approx(float(chisquare([500, 480]).statistic))
    assert srm([0, 0], [1, 1]).p == 1.0


def test_srm_rejects_bad_weights() -> None:
    for weights in ([0, 0], [1, -1], [1, math.inf]):
        with pytest.raises(ValueError, match="weights"):
            srm([10, 10], weights)


def _prob_beats_by_quadrature(k_c: int, n_c: int, k_t: int, n_t: int) -> float:
    # P(p_t > p_c) = ∫ f_t(x) F_c(x) dx.
    def integrand(x: float) -> float:
        return float(beta.pdf(x, 1 + k_t, 1 + n_t - k_t) * beta.cdf(x, 1 + k_c, 1 + n_c - k_c))
    mode = (k_t + 1) / (n_t + 2)
    return float(sum(integrate.quad(integrand, a, b, epsabs=1e-14, epsrel=1e-13, limit=500)[0]
                     for a, b in ((0, mode), (mode, 1))))


@pytest.mark.parametrize("counts", [(10, 100, 15, 100), (0, 0, 0, 0), (3, 10, 7, 10),
                                    (97, 812, 120, 790), (500, 5000, 560, 5000),
                                    (2, 3, 40, 41), (40, 41, 2, 3), (0, 50, 0, 7)])
def test_prob_beats_equals_numerical_integration_to_1e_9(counts: tuple[int, ...]) -> None:
    assert prob_beats(*counts) == pytest.approx(_prob_beats_by_quadrature(*counts), abs=1e-9)


def test_prob_beats_agrees_with_monte_carlo_within_sampling_error() -> None:
    rng = np.random.default_rng(0)
    draws = 400_000
    for k_c, n_c, k_t, n_t in [(97, 812, 120, 790), (12, 100, 9, 100), (1, 5, 2, 5)]:
        mc = float(np.mean(rng.beta(1 + k_t, 1 + n_t - k_t, draws)
                           > rng.beta(1 + k_c, 1 + n_c - k_c, draws)))
        assert abs(prob_beats(k_c, n_c, k_t, n_t) - mc) < 4 * math.sqrt(mc * (1 - mc) / draws)


def test_prob_beats_is_one_half_for_equal_arms_and_complementary_when_swapped() -> None:
    for k, n in [(0, 0), (5, 10), (120, 1000), (1000, 1000)]:
        assert prob_beats(k, n, k, n) == pytest.approx(0.5, abs=1e-12)
    for counts in [(97, 812, 120, 790), (0, 3, 5, 9)]:
        swapped = (counts[2], counts[3], counts[0], counts[1])
        assert prob_beats(*counts) + prob_beats(*swapped) == pytest.approx(1.0, abs=1e-12)


def test_ratio_mean_of_one_value_per_unit_is_the_z_interval_of_statsmodels() -> None:
    rng = np.random.default_rng(1)
    x = rng.gamma(2.0, 30.0, 400)
    est = ratio_mean(x.tolist(), [1.0] * len(x))
    low, high = DescrStatsW(x).zconfint_mean(alpha=0.05)
    assert (est.value, est.low, est.high) == pytest.approx((x.mean(), low, high), abs=1e-9)


def test_ratio_diff_of_one_value_per_unit_is_the_unequal_variance_z_test_of_statsmodels(
        ) -> None:
    rng = np.random.default_rng(2)
    a, b = rng.gamma(2.0, 30.0, 300), rng.gamma(2.2, 30.0, 350)
    d = ratio_diff(a.tolist(), [1.0] * len(a), b.tolist(), [1.0] * len(b))
    cm = CompareMeans(DescrStatsW(b), DescrStatsW(a))
    low, high = cm.zconfint_diff(alpha=0.05, usevar="unequal")
    _, p = cm.ztest_ind(usevar="unequal")
    assert (d.value, d.low, d.high, d.p) == pytest.approx((b.mean() - a.mean(), low, high, p),
                                                          abs=1e-9)


def test_ratio_mean_of_clustered_values_agrees_with_the_unit_bootstrap() -> None:
    # Calls of one caller resemble each other: the delta method must widen like the
    # bootstrap over units of agent.stats.cluster_mean does, not shrink like a per-call mean.
    rng = np.random.default_rng(3)
    units = [list(rng.normal(rng.normal(60, 20), 5, rng.integers(1, 6))) for _ in range(300)]
    est = ratio_mean([sum(u) for u in units], [len(u) for u in units])
    boot = cluster_mean(units, n_boot=4000)
    assert est.value == pytest.approx(boot.value, abs=1e-9)
    assert est.high - est.low == pytest.approx(boot.high - boot.low, rel=0.15)
    flat = np.concatenate(units)
    naive = 2 * 1.96 * flat.std(ddof=1) / math.sqrt(len(flat))
    assert est.high - est.low > 1.3 * naive


def test_ratio_mean_skips_units_without_a_denominator_and_needs_some() -> None:
    assert ratio_mean([3.0, 0.0, 5.0], [1.0, 0.0, 1.0]).n == 2
    assert math.isnan(ratio_mean([3.0], [1.0]).low)
    with pytest.raises(ValueError, match="count of 0"):
        ratio_mean([0.0], [0.0])
    with pytest.raises(ValueError, match="2 units per arm"):
        ratio_diff([1.0], [1.0], [1.0, 2.0], [1.0, 1.0])

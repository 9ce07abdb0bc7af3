"""Statistics of a live A/B test of conversion (pure: numpy/scipy; no optimizer import).

What ``agent.stats`` does not already do: tests that stay valid when the results are looked
at every day (mSPRT always-valid p-values, their confidence sequence, and the sample size
that gives that test its planned power), the
sample-ratio-mismatch check, the Bayesian probability that treatment beats control, and
ratio-of-means guardrails (seconds per call, hits per turn) with their differences.
Counts are units (callers), the unit of randomisation. Arm 1 is control, arm 2 treatment;
every difference is arm 2 minus arm 1, as in ``agent.stats.two_rates``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import betaln, logsumexp
from scipy.stats import chisquare, norm

from agent.stats import Difference, Estimate, sample_size_two_rates

_Floats = npt.NDArray[np.float64]

# One look at the data: (conversions, units) of control, then of treatment, cumulative.
Look = tuple[int, int, int, int]

SRM_LEVEL = 0.001


@dataclass(frozen=True, slots=True)
class SRM:
    """Sample-ratio-mismatch check of one weight setting: χ² goodness of fit of the unit
    counts to the weights. ``chi2`` is inf (and ``p`` 0) when an arm of weight 0 has units."""

    counts: tuple[int, ...]
    expected: tuple[float, ...]
    chi2: float
    p: float
    flagged: bool


def msprt_log_lr(k1: int, n1: int, k2: int, n2: int, *, tau: float,
                 theta0: float = 0.0) -> float:
    """Log of the normal-mixture likelihood ratio of H1: diff ~ N(theta0, tau²) vs H0:
    diff = theta0, for the difference k2/n2 - k1/n1 (-inf when the data say nothing)."""
    return float(_log_lr(*_estimate(k1, n1, k2, n2), tau=tau, theta0=theta0))


def msprt_pvalues(looks: Sequence[Look], *, tau: float) -> list[float]:
    """Always-valid p-values of "no difference" after each look (cumulative counts).

    Normal-mixture mSPRT of Johari, Koomen, Pekelis & Walsh, "Peeking at A/B tests" (KDD
    2017) and Johari, Pekelis & Walsh, "Always valid inference: continuous monitoring of
    A/B tests" (Operations Research 70(3), 2022): with the difference estimate theta_hat of
    variance V = p1(1-p1)/n1 + p2(1-p2)/n2 (plug-in, as the papers do for binary data) and
    a N(0, tau²) mixture over the true difference,

        Lambda_n = sqrt(V / (V + tau²)) * exp(tau² theta_hat² / (2 V (V + tau²))),
        p_n = min(p_{n-1}, 1 / Lambda_n),  p_0 = 1.

    P(some p_n <= alpha | no difference) <= alpha however often one looks (Ville's
    inequality on the mixture martingale), up to the normal approximation of each arm.
    ``tau`` is the scale of the effects one expects (the plan's minimum detectable effect).
    When V is 0 (every unit of both arms alike) the pooled variance stands in for it.
    """
    _check_tau(tau)
    p = 1.0
    out: list[float] = []
    for look in looks:
        log_lr = _log_lr(*_estimate(*look), tau=tau, theta0=0.0)
        p = min(p, math.exp(-log_lr) if log_lr > 0 else 1.0)
        out.append(p)
    return out


def confidence_sequence(looks: Sequence[Look], *, tau: float,
                        alpha: float = 0.05) -> list[tuple[float, float]]:
    """Always-valid (1 - alpha) intervals of the difference after each look.

    The set of differences the mSPRT of ``msprt_pvalues`` does not reject at level alpha,
    intersected over the looks (Johari, Pekelis & Walsh 2022): theta_hat ± r with
    r² = V (V + tau²) / tau² * (ln((V + tau²) / V) - 2 ln alpha). It excludes 0 exactly
    when the always-valid p-value is below alpha. All intervals cover the true difference
    at once with probability >= 1 - alpha.
    """
    _check_tau(tau)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha {alpha} must be in (0, 1)")
    low, high = -1.0, 1.0
    out: list[tuple[float, float]] = []
    for look in looks:
        diff, var = _estimate(*look)
        if var > 0:
            t2 = tau * tau
            r = math.sqrt(var * (var + t2) / t2 * (math.log((var + t2) / var)
                                                   - 2 * math.log(alpha)))
            low, high = max(low, diff - r), min(high, diff + r)
        out.append((low, high))
    return out


def power_msprt(p1: float, p2: float, n: float, *, alpha: float = 0.05,
                tau: float) -> float:
    """Power of the mSPRT of ``msprt_pvalues`` at level alpha with n units per arm, from
    the final look alone: a lower bound on its power when it is also looked at earlier
    (the running minimum over earlier looks only adds rejections).

    At the final look it rejects when Lambda_n >= 1/alpha, that is when |theta_hat| >= c
    with c² = V (V + tau²) / tau² * (ln((V + tau²) / V) - 2 ln alpha) (the half-width of
    ``confidence_sequence``); with V = (p1(1-p1) + p2(1-p2)) / n from the planned rates and
    theta_hat ~ N(p2 - p1, V), both tails count. Needs far more units than the fixed-horizon
    z-test (``agent.stats.power_two_rates``) for the same power: that is the price of
    looking every day.
    """
    _check_tau(tau)
    _check_plan(p1, p2, alpha)
    if n <= 0:
        return 0.0  # no data: the always-valid p is 1
    spread = p1 * (1 - p1) + p2 * (1 - p2)
    if spread == 0:
        return 1.0  # 0 % vs 100 %: the first units of each arm tell them apart
    var, t2 = spread / n, tau * tau
    crit = math.sqrt((var + t2) / t2 * (math.log((var + t2) / var) - 2 * math.log(alpha)))
    shift = abs(p2 - p1) / math.sqrt(var)
    return float(norm.sf(crit - shift) + norm.cdf(-crit - shift))


def sample_size_msprt(p1: float, p2: float, *, alpha: float = 0.05, power: float = 0.8,
                      tau: float) -> int:
    """Fewest units per arm at which ``power_msprt`` reaches ``power``: the planned size
    for a test decided by the always-valid p-value (the inverse of ``power_msprt``)."""
    if p1 == p2:
        raise ValueError(f"p1 == p2 == {p1}: no sample size detects a zero difference")
    if not 0 < power < 1:
        raise ValueError(f"power {power} must be in (0, 1)")
    _check_tau(tau)
    _check_plan(p1, p2, alpha)
    # Power rises with n (the shift grows like sqrt(n), the threshold like sqrt(ln n)):
    # double to bracket the smallest n, then bisect on the integers.
    low, high = 0, 1
    while power_msprt(p1, p2, high, alpha=alpha, tau=tau) < power:
        low, high = high, 2 * high
    while high - low > 1:
        mid = (low + high) // 2
        if power_msprt(p1, p2, mid, alpha=alpha, tau=tau) >= power:
            high = mid
        else:
            low = mid
    return high


def msprt_plan(p1: float, p2: float, units_now: int, *, alpha: float, power: float,
               tau: float, units_per_arm: int | None = None) -> dict[str, float]:
    """The plan of a test decided by the always-valid p-value, as the report shows it:
    ``units_per_arm`` (the given one, else ``sample_size_msprt``), ``progress`` of the
    smallest arm towards it, ``power_now`` (``power_msprt`` at ``units_now`` per arm) and,
    for reference, ``units_per_arm_fixed``: the fixed-horizon z-test's size
    (``agent.stats.sample_size_two_rates``), about half, which suits only a single look."""
    size = units_per_arm or sample_size_msprt(p1, p2, alpha=alpha, power=power, tau=tau)
    return {"units_per_arm": size, "progress": min(1.0, units_now / size),
            "power_now": power_msprt(p1, p2, units_now, alpha=alpha, tau=tau),
            "units_per_arm_fixed": sample_size_two_rates(p1, p2, alpha=alpha, power=power)}


def srm(counts: Sequence[int], weights: Sequence[float]) -> SRM:
    """χ² goodness of fit of units per arm to the arms' weights (= scipy.stats.chisquare);
    flagged when p < 0.001, the usual threshold for "the split is broken"."""
    if len(counts) != len(weights):
        raise ValueError(f"{len(counts)} arm counts for {len(weights)} weights")
    if any(c < 0 for c in counts):
        raise ValueError(f"negative unit count in {list(counts)}")
    if any(not math.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError(f"weights {list(weights)} must be finite, >= 0 and sum to > 0")
    total = sum(counts)
    expected = tuple(total * w / sum(weights) for w in weights)
    if any(c > 0 and w == 0 for c, w in zip(counts, weights, strict=True)):
        # Units in an arm that takes no callers: the split is broken beyond any test.
        return SRM(tuple(counts), expected, math.inf, 0.0, True)
    live = [i for i, w in enumerate(weights) if w > 0]
    if total == 0 or len(live) < 2:
        return SRM(tuple(counts), expected, 0.0, 1.0, False)
    res = chisquare([counts[i] for i in live], f_exp=[expected[i] for i in live])
    p = float(res.pvalue)
    return SRM(tuple(counts), expected, float(res.statistic), p, p < SRM_LEVEL)


def prob_beats(k_c: int, n_c: int, k_t: int, n_t: int) -> float:
    """P(p_t > p_c) with independent Beta(1 + k, 1 + n - k) posteriors (uniform priors).

    Exact: the closed form for integer Beta parameters (Evan Miller, "Formulas for Bayesian
    A/B testing", 2015; Cook 2005): with a, b the control's and c, d the treatment's
    parameters, P = sum_{i<c} B(a + i, b + d) / ((d + i) B(1 + i, d) B(a, b)), summed in
    log space over the smaller side (P(t > c) = 1 - P(c > t) as ties have probability 0).
    """
    for k, n in ((k_c, n_c), (k_t, n_t)):
        if n < 0 or not 0 <= k <= n:
            raise ValueError(f"{k} conversions out of {n} units")
    a, b, c, d = 1 + k_c, 1 + n_c - k_c, 1 + k_t, 1 + n_t - k_t
    if c <= a:
        return _beta_greater(a, b, c, d)
    return 1.0 - _beta_greater(c, d, a, b)


def ratio_mean(sums: Sequence[float], counts: Sequence[float]) -> Estimate:
    """Sum over units / count over units (seconds per call, hits per turn), with a 95 %
    normal interval by the delta method, which treats the unit, not the call or turn, as
    the independent draw (Deng, Knoblich & Lu, "Applying the delta method in metric
    analytics", KDD 2018). Units with a count of 0 are left out; ``n`` counts the rest.
    With every count 1 it is the z-interval of a mean. Needs 2 units for an interval."""
    s, c = _units(sums, counts)
    value = float(s.sum() / c.sum())
    if len(s) < 2:
        return Estimate(value, math.nan, math.nan, len(s))
    half = float(norm.isf(0.025)) * math.sqrt(_ratio_var(s, c, value))
    return Estimate(value, value - half, value + half, len(s))


def ratio_diff(sums1: Sequence[float], counts1: Sequence[float], sums2: Sequence[float],
               counts2: Sequence[float]) -> Difference:
    """Arm 2 minus arm 1 of ``ratio_mean``: normal (Welch-type) interval from the two
    delta-method variances, and its two-sided p; ``n`` is the number of units used."""
    s1, c1 = _units(sums1, counts1)
    s2, c2 = _units(sums2, counts2)
    if len(s1) < 2 or len(s2) < 2:
        raise ValueError(f"a difference of means needs 2 units per arm, got {len(s1)} "
                         f"and {len(s2)}")
    r1, r2 = float(s1.sum() / c1.sum()), float(s2.sum() / c2.sum())
    se = math.sqrt(_ratio_var(s1, c1, r1) + _ratio_var(s2, c2, r2))
    diff = r2 - r1
    half = float(norm.isf(0.025)) * se
    p = (1.0 if diff == 0 else 0.0) if se == 0 else float(2 * norm.sf(abs(diff) / se))
    return Difference(diff, diff - half, diff + half, p, len(s1) + len(s2),
                      "delta-method-ratio+z")


def _estimate(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float]:
    """(difference, its variance) of k2/n2 - k1/n1; variance 0 while an arm is empty."""
    for k, n in ((k1, n1), (k2, n2)):
        if n < 0 or not 0 <= k <= n:
            raise ValueError(f"{k} conversions out of {n} units")
    if n1 == 0 or n2 == 0:
        return (0.0, 0.0)
    p1, p2 = k1 / n1, k2 / n2
    var = p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
    if var == 0:
        pooled = (k1 + k2) / (n1 + n2)
        var = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    return (p2 - p1, var)


def _log_lr(diff: float, var: float, *, tau: float, theta0: float) -> float:
    if var == 0:
        return -math.inf
    t2 = tau * tau
    return 0.5 * math.log(var / (var + t2)) + t2 * (diff - theta0) ** 2 / (2 * var * (var + t2))


def _check_tau(tau: float) -> None:
    if not (math.isfinite(tau) and tau > 0):
        raise ValueError(f"mixture scale tau {tau} must be finite and > 0 (the plan's mde)")


def _check_plan(p1: float, p2: float, alpha: float) -> None:
    if not (0 <= p1 <= 1 and 0 <= p2 <= 1):
        raise ValueError(f"rates {p1} and {p2} must be in [0, 1]")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha {alpha} must be in (0, 1)")


def _beta_greater(a: int, b: int, c: int, d: int) -> float:
    """P(Y > X) for X ~ Beta(a, b), Y ~ Beta(c, d), integer parameters; c terms."""
    i = np.arange(c, dtype=np.float64)
    log_terms = betaln(a + i, b + d) - np.log(d + i) - betaln(1 + i, d) - betaln(a, b)
    return float(min(1.0, max(0.0, math.exp(float(logsumexp(log_terms))))))


def _units(sums: Sequence[float], counts: Sequence[float]) -> tuple[_Floats, _Floats]:
    if len(sums) != len(counts):
        raise ValueError(f"{len(sums)} unit sums for {len(counts)} unit counts")
    s, c = np.asarray(sums, dtype=np.float64), np.asarray(counts, dtype=np.float64)
    if np.any(c < 0) or not np.all(np.isfinite(s)):
        raise ValueError("unit counts must be >= 0 and unit sums finite")
    keep = c > 0
    if not keep.any():
        raise ValueError("a mean of no values: every unit has a count of 0")
    return s[keep], c[keep]


def _ratio_var(s: _Floats, c: _Floats, ratio: float) -> float:
    # Var(sum s / sum c) ~ Var(s - ratio * c) / (n * mean(c)²), sample variance (ddof 1).
    resid = s - ratio * c
    return float(resid.var(ddof=1) / (len(s) * c.mean() ** 2))

"""Statistics shared by the live server and the offline tools (pure; no optimizer import).

Every interval is two-sided 95 %. ``n`` always counts *units* (personas): dialogues of one
persona are not independent trials, so callers pass one outcome per persona, or a persona's
values grouped together for the bootstrap functions, which resample whole units.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import fmean

import numpy as np
import numpy.typing as npt
from scipy.optimize import brentq
from scipy.stats import binomtest, bootstrap, chi2_contingency, norm, permutation_test

_Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Estimate:
    """One arm's value with its 95 % interval; ``n`` counts units (personas)."""

    value: float
    low: float
    high: float
    n: int


@dataclass(frozen=True, slots=True)
class Difference:
    """B minus A with its 95 % interval and a two-sided p-value.

    ``n`` counts units (pairs when paired); ``method`` names the interval and the test.
    """

    value: float
    low: float
    high: float
    p: float
    n: int
    method: str

    @property
    def covers_zero(self) -> bool:
        """True when the interval does not exclude "no difference"."""
        return self.low <= 0.0 <= self.high


def wilson(k: int, n: int) -> tuple[float, float]:
    """95 % Wilson score interval of the rate k/n ((0, 1) when n is 0)."""
    if n == 0:
        return (0.0, 1.0)
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return (float(ci.low), float(ci.high))


def mcnemar(only_a: int, only_b: int) -> float:
    """Exact two-sided McNemar p-value for paired right/wrong outcomes: ``only_a`` pairs
    where only A was right, ``only_b`` where only B was (1.0 with no discordant pair)."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    return float(binomtest(only_a, n, 0.5).pvalue)


def rate(k: int, n: int) -> Estimate:
    """k successes out of n units, with the Wilson interval."""
    _check_count(k, n)
    low, high = wilson(k, n)
    return Estimate(k / n, low, high, n)


def persona_rate(units: Sequence[Sequence[float]], *, persona_mean: bool = False,
                 n_boot: int = 2000) -> Estimate:
    """A rate over personas' 0/1 values (one list per persona) with its 95 % interval.

    Wilson when every persona has one value; else a bootstrap over personas, except that
    a rate at 0 or 1 (nothing to resample) counts each persona as one trial. The value
    pools the dialogues, or with ``persona_mean`` averages the personas' own rates (the
    paper's group means). One persona of several dialogues says nothing about others:
    its interval is [0, 1]."""
    if not units or any(not u for u in units):
        raise ValueError("a rate needs at least one persona, each with a value")
    if all(len(u) == 1 for u in units):
        return rate(round(sum(u[0] for u in units)), len(units))
    values = {x for u in units for x in u}
    if len(values) == 1:
        return rate(len(units) * round(values.pop()), len(units))
    if len(units) == 1:
        return Estimate(fmean(units[0]), 0.0, 1.0, 1)
    return cluster_mean([[fmean(u)] for u in units] if persona_mean else units, n_boot=n_boot)


def paired_rates(a: Sequence[bool], b: Sequence[bool]) -> Difference:
    """Difference of two success rates measured on the same units (``a[i]``, ``b[i]``: unit i).

    Interval: Newcombe (1998, Stat Med 17:2635) method 10, the Wilson-based hybrid score with
    the continuity-corrected phi; p: exact McNemar on the discordant pairs.
    """
    if len(a) != len(b):
        raise ValueError(f"paired rates need one outcome per unit per arm: {len(a)} != {len(b)}")
    if not a:
        raise ValueError("paired rates of no units: there is nothing to compare")
    both = sum(1 for x, y in zip(a, b, strict=True) if x and y)
    only_a = sum(1 for x, y in zip(a, b, strict=True) if x and not y)
    only_b = sum(1 for x, y in zip(a, b, strict=True) if y and not x)
    n = len(a)
    neither = n - both - only_a - only_b
    pa, pb = (both + only_a) / n, (both + only_b) / n
    la, ua = wilson(both + only_a, n)
    lb, ub = wilson(both + only_b, n)
    phi = _phi_star(both, only_b, only_a, neither)
    # Newcombe's delta/epsilon: the square-and-add of the two Wilson half-widths, shrunk by
    # the correlation of the arms on the same unit.
    down = _root((pb - lb) ** 2 - 2 * phi * (pb - lb) * (ua - pa) + (ua - pa) ** 2)
    up = _root((ub - pb) ** 2 - 2 * phi * (ub - pb) * (pa - la) + (pa - la) ** 2)
    value = (only_b - only_a) / n  # == pb - pa, without the rounding of a subtraction
    return Difference(value, max(-1.0, value - down), min(1.0, value + up),
                      mcnemar(only_a, only_b), n, "newcombe-paired+mcnemar-exact")


def two_rates(k1: int, n1: int, k2: int, n2: int) -> Difference:
    """Difference k2/n2 - k1/n1 of two independent rates (arm A: k1 of n1, arm B: k2 of n2).

    Interval: Newcombe (1998, Stat Med 17:873) method 10 hybrid score; p: pooled two-proportion
    z-test. ``n`` is n1 + n2.
    """
    _check_count(k1, n1)
    _check_count(k2, n2)
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson(k1, n1)
    l2, u2 = wilson(k2, n2)
    value = p2 - p1
    low = value - math.hypot(p2 - l2, u1 - p1)
    high = value + math.hypot(u2 - p2, p1 - l1)
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    # Both arms all-success or all-failure: the difference is exactly 0, nothing to reject.
    p = 1.0 if se == 0 else float(2 * norm.sf(abs(value) / se))
    return Difference(value, low, high, p, n1 + n2, "newcombe-hybrid+z-pooled")


def cluster_mean(units: Sequence[Sequence[float]], *, n_boot: int = 2000,
                 seed: int = 0) -> Estimate:
    """Mean over all values, with a percentile bootstrap interval that resamples whole units.

    Resampling units, not values, keeps the interval honest when one persona's dialogues
    resemble each other. Needs at least two units, none of them empty.
    """
    _check_units(units, "cluster mean")
    sums = np.array([math.fsum(u) for u in units])
    counts = np.array([len(u) for u in units], dtype=float)

    def ratio(s: _Floats, c: _Floats, axis: int = -1) -> _Floats:
        return np.asarray(s.sum(axis=axis) / c.sum(axis=axis))

    res = bootstrap((sums, counts), ratio, paired=True, vectorized=True, n_resamples=n_boot,
                    method="percentile", rng=np.random.default_rng(seed))
    ci = res.confidence_interval
    return Estimate(float(sums.sum() / counts.sum()), float(ci.low), float(ci.high), len(units))


def paired_means(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]], *,
                 n_boot: int = 2000, seed: int = 0) -> Difference:
    """Mean over units of (unit mean under B - unit mean under A); units aligned by index.

    Interval: percentile bootstrap over units. p: two-sided sign-flip permutation test of the
    per-unit differences, exact when 2**units <= n_boot, else Monte Carlo with the seed.
    """
    if len(a) != len(b):
        raise ValueError(f"paired means need the same units in each arm: {len(a)} != {len(b)}")
    _check_units(a, "paired means (arm A)")
    _check_units(b, "paired means (arm B)")
    d = np.array([math.fsum(y) / len(y) - math.fsum(x) / len(x) for x, y in zip(a, b, strict=True)])
    rng = np.random.default_rng(seed)
    ci = bootstrap((d,), np.mean, n_resamples=n_boot, method="percentile",
                   rng=rng).confidence_interval
    # permutation_type="samples" on one sample flips the signs of the differences.
    test = permutation_test((d,), np.mean, permutation_type="samples", n_resamples=n_boot,
                            alternative="two-sided", rng=rng)
    return Difference(float(d.mean()), float(ci.low), float(ci.high), float(test.pvalue),
                      len(d), "paired-bootstrap+sign-flip")


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (same order): several arms compared with one
    baseline at a family-wise 5 %."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted = [0.0] * len(p_values)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def power_two_rates(p1: float, p2: float, n: float, *, alpha: float = 0.05) -> float:
    """Power of the two-sided z-test with n units per arm, effect size Cohen's h.

    Equals statsmodels ``NormalIndPower().power(proportion_effectsize(p2, p1), n, alpha)``.
    """
    shift = abs(_cohen_h(p1, p2)) * math.sqrt(n / 2)
    crit = float(norm.isf(alpha / 2))
    # Both tails count, as in statsmodels; the far one is negligible except for tiny effects.
    return float(norm.sf(crit - shift) + norm.cdf(-crit - shift))


def sample_size_two_rates(p1: float, p2: float, *, alpha: float = 0.05,
                          power: float = 0.8) -> int:
    """Units per arm to detect p1 vs p2 with independent arms (the inverse of power_two_rates)."""
    _check_levels(alpha, power)
    h = _cohen_h(p1, p2)
    if h == 0:
        raise ValueError(f"p1 == p2 == {p1}: no sample size detects a zero difference")
    # The one-tail closed form overshoots (it ignores the far tail): a bracket for the root.
    upper = 2 * ((norm.isf(alpha / 2) + norm.ppf(power)) / h) ** 2
    n: float = brentq(lambda m: power_two_rates(p1, p2, m, alpha=alpha) - power, 1e-9,
                      upper + 1, xtol=1e-12)
    return math.ceil(n)


def sample_size_paired(p_only_a: float, p_only_b: float, *, alpha: float = 0.05,
                       power: float = 0.8) -> int:
    """Pairs for McNemar's test (Connor 1987, Biometrics 43:207) from the discordant rates.

    ``p_only_a``: share of units where only A succeeds; ``p_only_b``: only B.
    """
    _check_levels(alpha, power)
    if min(p_only_a, p_only_b) < 0 or p_only_a + p_only_b > 1:
        raise ValueError(f"discordant rates {p_only_a}, {p_only_b} must be >= 0 and sum to <= 1")
    psi, d = p_only_a + p_only_b, p_only_b - p_only_a
    if d == 0:
        raise ValueError("p_only_a == p_only_b: no sample size detects a zero difference")
    za, zb = float(norm.isf(alpha / 2)), float(norm.ppf(power))
    return math.ceil((za * math.sqrt(psi) + zb * math.sqrt(psi - d * d)) ** 2 / (d * d))


def chi2_units(table: Sequence[Sequence[int]]) -> tuple[float, float, int]:
    """(chi2, p, dof) of the independence test of a contingency table, without Yates' correction.

    Build the table with one count per unit (persona), not per dialogue.
    """
    res = chi2_contingency(np.asarray(table), correction=False)
    return (float(res.statistic), float(res.pvalue), int(res.dof))


def _phi_star(both: int, only_first: int, only_second: int, neither: int) -> float:
    """Newcombe's phi*: the phi coefficient with its positive numerator reduced by n/2."""
    margins = ((both + only_first) * (only_second + neither)
               * (both + only_second) * (only_first + neither))
    if margins == 0:
        return 0.0
    cross = float(both * neither - only_first * only_second)
    n = both + only_first + only_second + neither
    if cross > 0:
        cross = max(cross - n / 2, 0.0)
    return cross / math.sqrt(margins)


def _root(x: float) -> float:
    # Rounding can push a zero variance a hair below 0.
    return math.sqrt(max(x, 0.0))


def _cohen_h(p1: float, p2: float) -> float:
    for p in (p1, p2):
        if not 0 <= p <= 1:
            raise ValueError(f"rate {p} is outside [0, 1]")
    return 2 * math.asin(math.sqrt(p2)) - 2 * math.asin(math.sqrt(p1))


def _check_levels(alpha: float, power: float) -> None:
    if not 0 < alpha < power < 1:
        raise ValueError(f"need 0 < alpha < power < 1, got alpha {alpha} and power {power}")


def _check_count(k: int, n: int) -> None:
    if n <= 0:
        raise ValueError(f"a rate of {n} units: there is nothing to estimate")
    if not 0 <= k <= n:
        raise ValueError(f"{k} successes out of {n} units")


def _check_units(units: Sequence[Sequence[float]], what: str) -> None:
    if len(units) < 2:
        raise ValueError(f"{what} needs at least 2 units to resample, got {len(units)}")
    if any(len(u) == 0 for u in units):
        raise ValueError(f"{what}: a unit has no values; drop it before the call")

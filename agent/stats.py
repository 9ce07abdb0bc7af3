"""Statistics shared by the live server and the offline tools (pure; no optimizer import)."""

from __future__ import annotations

from scipy.stats import binomtest


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

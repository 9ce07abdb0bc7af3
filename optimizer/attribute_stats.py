"""The first paper's attribute statistics: which caller attribute predicts the product a
call ends with.

- ``anova``: one-way ANOVA (``scipy.stats.f_oneway``) of a per-persona metric across the
  groups of an attribute, overall and for every pair of groups.
- ``chi_square``: χ² test of independence (``scipy.stats.chi2_contingency``) between an
  attribute and the intents of successful calls (or the intents the agent mentioned),
  with Cramér's V as the effect size. The unit is the persona (one count each, its
  majority intent), not the dialogue: a persona's calls share its intent and are not
  independent trials.
- ``rank_attributes``: attributes ordered by that V (bias-corrected: the tables are small);
  the paper finds occupation, grouped by its ISIC sector, on top.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from statistics import fmean
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
from scipy.stats import f_oneway
from scipy.stats.contingency import association, expected_freq

from agent.dialogue import Dialogue
from agent.stats import chi2_units
from simulator.metrics import (
    UNKNOWN,
    PersonaMetrics,
    dialogue_metrics,
    group_metrics,
    persona_metrics,
    values_by_group,
)

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

View = Literal["success", "mentioned"]
"""Which intents a χ² table counts: of successful calls, or every intent the agent's
thoughts named (a view of the agent's own pitching as much as of the callers)."""
RANK_KEYS = ("sector", "gender", "age_bucket", "mbti")
ANOVA_METRICS = ("success_rate", "avg_turns", "continue_macro", "mean_switches")
LABELS = {"sector": "occupation sector", "age_bucket": "age bucket", "mbti": "MBTI type",
          "mbti_ei": "MBTI E/I"}
MIN_PERSONAS = 2
"""A group needs this many persona values to enter an ANOVA (a variance needs two)."""


def label(key: str) -> str:
    """How an attribute key reads in a report ("sector" is the occupation's sector)."""
    return LABELS.get(key, key.replace("_", " "))


class JSONRecord:
    """Mix-in of the result dataclasses here and in ``optimizer.attributes``."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only (floats are finite or None)."""
        return asdict(cast("DataclassInstance", self))


def _finite(x: Any) -> float | None:
    value = float(x)
    return value if math.isfinite(value) else None


def personas_of(dialogues: Iterable[Dialogue]) -> list[PersonaMetrics]:
    """The per-persona metrics the tests below run on."""
    return persona_metrics(dialogue_metrics(d) for d in dialogues)


# -- one-way ANOVA ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class GroupSample(JSONRecord):
    value: str
    n: int
    """Personas with a value of the metric."""
    mean: float


@dataclass(frozen=True, slots=True)
class PairTest(JSONRecord):
    a: str
    b: str
    f: float | None
    p: float | None
    p_bonferroni: float | None
    """``p`` times the number of pairs (capped at 1): the pairs are many tests at once."""


@dataclass(frozen=True, slots=True)
class AnovaResult(JSONRecord):
    key: str
    metric: str
    groups: tuple[GroupSample, ...]
    excluded: dict[str, str]
    """Group value → why it was left out (too few personas, attribute unknown)."""
    f: float | None
    p: float | None
    pairs: tuple[PairTest, ...]
    note: str = ""
    """Why ``f`` or ``p`` is None, when one is."""


def _f_test(samples: Sequence[Sequence[float]]) -> tuple[float | None, float | None, str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant input: scipy warns, we report it below
        result = f_oneway(*samples)
    f, p = float(result.statistic), float(result.pvalue)
    if math.isnan(f):
        return None, None, "every value is the same: there is no variance to compare"
    if math.isinf(f):
        return None, 0.0, "each group is constant and the groups differ: F is infinite"
    return f, p, ""


def anova(personas: Sequence[PersonaMetrics], key: str,
          metric: str = "success_rate") -> AnovaResult:
    """One-way ANOVA of a numeric per-persona metric across the groups of ``key``, overall
    and for every pair of groups."""
    kept: dict[str, list[float]] = {}
    excluded: dict[str, str] = {}
    for value, samples in values_by_group(personas, key, metric).items():
        if value == UNKNOWN:
            excluded[value] = "attribute not known"
        elif len(samples) < MIN_PERSONAS:
            excluded[value] = f"{len(samples)} persona value(s), needs {MIN_PERSONAS}"
        else:
            kept[value] = samples
    groups = tuple(GroupSample(v, len(xs), fmean(xs)) for v, xs in kept.items())
    if len(kept) < 2:
        note = f"{len(kept)} group(s) with {MIN_PERSONAS}+ personas: nothing to compare"
        return AnovaResult(key, metric, groups, excluded, None, None, (), note)
    f, p, note = _f_test(list(kept.values()))
    pairs = list(itertools.combinations(kept, 2))
    tests = []
    for a, b in pairs:
        pf, pp, _ = _f_test([kept[a], kept[b]])
        tests.append(PairTest(a, b, pf, pp, None if pp is None else min(1.0, pp * len(pairs))))
    return AnovaResult(key, metric, groups, excluded, f, p, tuple(tests), note)


# -- chi-squared test of independence ---------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ChiSquareResult(JSONRecord):
    key: str
    view: View
    rows: tuple[str, ...]
    """Group values, in the metrics' group order."""
    columns: tuple[str, ...]
    """Intents, most frequent first."""
    table: tuple[tuple[int, ...], ...]
    dropped_rows: tuple[str, ...]
    """Groups without a count, and ``unknown`` (the attribute missing)."""
    dropped_columns: tuple[str, ...]
    """Intents named only by personas of dropped groups."""
    n: int
    """Personas counted: one each, with its majority intent."""
    chi2: float | None = None
    p: float | None = None
    dof: int | None = None
    cramers_v: float | None = None
    cramers_v_corrected: float | None = None
    """Bergsma's bias-corrected V: raw V grows with the table's size even without any
    association, which favours attributes with many groups (16 MBTI types vs 2 genders)."""
    low_expected_share: float | None = None
    """Share of cells whose expected count is below 5 (the χ² approximation is rough)."""
    note: str = ""

    @property
    def degenerate(self) -> bool:
        return self.chi2 is None


def majority_intent(counts: Mapping[str, int]) -> str | None:
    """A persona's one unit in a χ² table: the intent most of its calls name (ties: the
    first by name, which favours no attribute group); None without a known intent."""
    known = {i: n for i, n in counts.items() if i != UNKNOWN and n > 0}
    return min(known, key=lambda i: (-known[i], i)) if known else None


def chi_square(personas: Sequence[PersonaMetrics], key: str,
               view: View = "success") -> ChiSquareResult:
    """χ² test of independence between the groups of ``key`` and intents, with the
    *persona* as the unit: each persona counts once, with its majority intent (of its
    successful calls, or of the intents the agent mentioned to it). A persona's several
    dialogues are not independent trials, so counting them would overstate the evidence.

    Dropped (and listed): the ``unknown`` group, personas without a known intent, then
    all-zero rows and columns."""
    units: dict[str, dict[str, int]] = {}
    for p in personas:
        intent = majority_intent(p.success_intent_counts if view == "success"
                                 else p.intent_counts)
        if intent is not None:
            row = units.setdefault(p.groups.get(key, UNKNOWN), {})
            row[intent] = row.get(intent, 0) + 1
    order = [g.value for g in group_metrics(personas, key)]
    counts = {v: units[v] for v in order if v in units}
    totals: dict[str, int] = {}
    for value, row in counts.items():
        for intent, n in row.items():
            totals[intent] = totals.get(intent, 0) + n * (value != UNKNOWN)
    columns = sorted((i for i, n in totals.items() if n > 0), key=lambda i: (-totals[i], i))
    rows = [v for v, row in counts.items()
            if v != UNKNOWN and any(row.get(i, 0) for i in columns)]
    table = tuple(tuple(counts[v].get(i, 0) for i in columns) for v in rows)
    dropped_rows = tuple(v for v in order if v not in rows)
    dropped_cols = tuple(sorted(set(totals) - set(columns)))
    n = sum(map(sum, table))
    base = ChiSquareResult(key, view, tuple(rows), tuple(columns), table, dropped_rows,
                           dropped_cols, n)
    if len(rows) < 2 or len(columns) < 2:
        return replace(base, note=(
            f"degenerate table ({len(rows)} group(s) x {len(columns)} intent(s) with counts): "
            "independence cannot be tested"))
    observed = np.array(table, dtype=np.int64)
    chi2, p_value, dof = chi2_units(table)  # no Yates: V below is of this statistic
    expected = expected_freq(observed)
    return replace(
        base, chi2=chi2, p=p_value, dof=dof,
        cramers_v=_finite(association(observed, method="cramer")),
        cramers_v_corrected=_v_corrected(chi2, n, len(rows), len(columns)),
        low_expected_share=float(np.mean(expected < 5)))


def _v_corrected(chi2: float, n: int, r: int, c: int) -> float | None:
    """Bergsma (2013), J. Korean Stat. Soc. 42: V with the small-sample bias removed."""
    if n < 2:
        return None
    phi2 = max(0.0, chi2 / n - (r - 1) * (c - 1) / (n - 1))
    rows, cols = r - (r - 1) ** 2 / (n - 1), c - (c - 1) ** 2 / (n - 1)
    denom = min(rows, cols) - 1
    return math.sqrt(phi2 / denom) if denom > 0 else None


# -- which attribute predicts the intent ------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AttributeRank(JSONRecord):
    key: str
    label: str
    groups: int
    """Groups in the success-intent table."""
    n: int
    """Personas in it (each counted once, with its majority success intent)."""
    cramers_v: float | None
    cramers_v_corrected: float | None
    p: float | None
    dof: int | None
    mentioned_v: float | None
    """V of the intents the agent mentioned: mostly the agent's own strategy."""
    mentioned_p: float | None
    success_f: float | None
    """One-way ANOVA of per-persona success rate across the groups."""
    success_p: float | None
    note: str = ""


def attribute_rank(key: str, success: ChiSquareResult, mentioned: ChiSquareResult,
                   rate: AnovaResult) -> AttributeRank:
    """One attribute's row of the ranking, from its tests."""
    return AttributeRank(
        key=key, label=label(key), groups=len(success.rows), n=success.n,
        cramers_v=success.cramers_v, cramers_v_corrected=success.cramers_v_corrected,
        p=success.p, dof=success.dof, mentioned_v=mentioned.cramers_v,
        mentioned_p=mentioned.p, success_f=rate.f, success_p=rate.p,
        note=success.note or rate.note)


def by_strength(rows: Iterable[AttributeRank]) -> list[AttributeRank]:
    """Strongest bias-corrected V first (raw V where it is undefined); undefined V last.

    Raw V grows with the table's size even without any association, and with one unit
    per persona the tables are small: 16 MBTI types on a hundred personas score a raw V
    close to a real association's."""
    def strength(r: AttributeRank) -> float | None:
        return r.cramers_v_corrected if r.cramers_v_corrected is not None else r.cramers_v

    return sorted(rows, key=lambda r: (strength(r) is None, -(strength(r) or 0.0), r.key))


def rank_attributes(dialogues: Sequence[Dialogue],
                    keys: Sequence[str] = RANK_KEYS) -> list[AttributeRank]:
    """Attributes ordered by how strongly they predict the intent a call succeeds with
    (bias-corrected Cramér's V of attribute x success intent, one unit per persona),
    strongest first; undefined V last."""
    personas = personas_of(dialogues)
    return by_strength(attribute_rank(k, chi_square(personas, k, "success"),
                                      chi_square(personas, k, "mentioned"),
                                      anova(personas, k, "success_rate")) for k in keys)

"""The first paper's attribute analysis: which caller attribute predicts the product a call
ends with, and the occupation-conditioned strategy table that follows from it.

- ``anova``: one-way ANOVA (``scipy.stats.f_oneway``) of a per-persona metric across the
  groups of an attribute, overall and for every pair of groups.
- ``chi_square``: χ² test of independence (``scipy.stats.chi2_contingency``) between an
  attribute and the intents of successful calls (or the intents the agent mentioned),
  with Cramér's V as the effect size.
- ``rank_attributes``: attributes ordered by that V; the paper finds occupation, grouped by
  its ISIC sector, on top.
- ``derive_strategy`` / ``write_rationales`` / ``strategy_program``: per sector the top-k
  products of successful calls, a one-sentence rationale each, and a new program version.

Exploration. A call can only succeed with a product the agent offers, so dialogues of one
fixed program show what that program pitches, not what callers want: the default table
never offers home cover to farmers, and its data never shows farmers taking it up.
``exploration_programs`` gives arms that, between them, pitch every product first, second
and third equally often, for every sector alike; success intents pooled over the arms
reflect the callers, and only the callers.
"""

from __future__ import annotations

import itertools
import logging
import math
import warnings
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from statistics import fmean
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy.stats import chi2_contingency, f_oneway
from scipy.stats.contingency import association

from agent.compliance import prompt_line_problems
from agent.dialogue import Dialogue
from agent.domain import DomainPack
from agent.occupation import MORE_OCCUPATIONS, PAPER_OCCUPATIONS, SECTORS
from agent.program import AgentProgram, StrategyEntry
from models.errors import SalesvoiceError
from models.llm.base import LLM, ChatMessage, Sampling
from simulator.metrics import (
    UNKNOWN,
    PersonaMetrics,
    dialogue_metrics,
    group_metrics,
    persona_metrics,
    values_by_group,
)
from simulator.report import Section, Table

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

log = logging.getLogger(__name__)

View = Literal["success", "mentioned"]
"""Which intents a χ² table counts: of successful calls, or every intent the agent's
thoughts named (a view of the agent's own pitching as much as of the callers)."""
RANK_KEYS = ("sector", "gender", "age_bucket", "mbti")
ANOVA_METRICS = ("success_rate", "avg_turns", "continue_macro", "mean_switches")
LABELS = {"sector": "occupation sector", "age_bucket": "age bucket", "mbti": "MBTI type",
          "mbti_ei": "MBTI E/I"}
MIN_PERSONAS = 2
"""A group needs this many persona values to enter an ANOVA (a variance needs two)."""
MIN_SUCCESSES = 20
"""Successful calls a sector needs before its strategy entry is derived from them."""
CREATED_BY = "optimizer.attributes"
EXPLORE_RATIONALE = ("Offered first in this exploration arm, so that every product's uptake "
                     "is measured.")


def label(key: str) -> str:
    """How an attribute key reads in a report ("sector" is the occupation's sector)."""
    return LABELS.get(key, key.replace("_", " "))


class _JSON:
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
class GroupSample(_JSON):
    value: str
    n: int
    """Personas with a value of the metric."""
    mean: float


@dataclass(frozen=True, slots=True)
class PairTest(_JSON):
    a: str
    b: str
    f: float | None
    p: float | None
    p_bonferroni: float | None
    """``p`` times the number of pairs (capped at 1): the pairs are many tests at once."""


@dataclass(frozen=True, slots=True)
class AnovaResult(_JSON):
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
class ChiSquareResult(_JSON):
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
    n: int
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


def chi_square(personas: Sequence[PersonaMetrics], key: str,
               view: View = "success") -> ChiSquareResult:
    """χ² test of independence between the groups of ``key`` and intent counts; dropped
    (and listed): the ``unknown`` group, the ``unknown`` intent of a success without one,
    then all-zero rows and columns."""
    counts = {g.value: dict(g.success_intent_counts if view == "success" else g.intent_counts)
              for g in group_metrics(personas, key)}
    totals: dict[str, int] = {}
    for value, row in counts.items():
        for intent, n in row.items():
            totals[intent] = totals.get(intent, 0) + n * (value != UNKNOWN)
    columns = sorted((i for i, n in totals.items() if i != UNKNOWN and n > 0),
                     key=lambda i: (-totals[i], i))
    rows = [v for v, row in counts.items()
            if v != UNKNOWN and any(row.get(i, 0) for i in columns)]
    table = tuple(tuple(counts[v].get(i, 0) for i in columns) for v in rows)
    dropped_rows = tuple(v for v in counts if v not in rows)
    dropped_cols = tuple(sorted(set(totals) - set(columns)))
    n = sum(map(sum, table))
    base = ChiSquareResult(key, view, tuple(rows), tuple(columns), table, dropped_rows,
                           dropped_cols, n)
    if len(rows) < 2 or len(columns) < 2:
        return replace(base, note=(
            f"degenerate table ({len(rows)} group(s) x {len(columns)} intent(s) with counts): "
            "independence cannot be tested"))
    observed = np.array(table, dtype=np.int64)
    result = chi2_contingency(observed, correction=False)  # V below is of this statistic
    chi2 = float(result.statistic)
    return replace(
        base, chi2=chi2, p=float(result.pvalue), dof=int(result.dof),
        cramers_v=_finite(association(observed, method="cramer")),
        cramers_v_corrected=_v_corrected(chi2, n, len(rows), len(columns)),
        low_expected_share=float(np.mean(result.expected_freq < 5)))


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
class AttributeRank(_JSON):
    key: str
    label: str
    groups: int
    """Groups in the success-intent table."""
    n: int
    """Successful calls in it."""
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


def _rank_row(key: str, success: ChiSquareResult, mentioned: ChiSquareResult,
              rate: AnovaResult) -> AttributeRank:
    return AttributeRank(
        key=key, label=label(key), groups=len(success.rows), n=success.n,
        cramers_v=success.cramers_v, cramers_v_corrected=success.cramers_v_corrected,
        p=success.p, dof=success.dof, mentioned_v=mentioned.cramers_v,
        mentioned_p=mentioned.p, success_f=rate.f, success_p=rate.p,
        note=success.note or rate.note)


def _ranked(rows: Iterable[AttributeRank]) -> list[AttributeRank]:
    return sorted(rows, key=lambda r: (r.cramers_v is None, -(r.cramers_v or 0.0), r.key))


def rank_attributes(dialogues: Sequence[Dialogue],
                    keys: Sequence[str] = RANK_KEYS) -> list[AttributeRank]:
    """Attributes ordered by how strongly they predict the intent a call succeeds with
    (Cramér's V of attribute x success intent), strongest first; undefined V last."""
    personas = personas_of(dialogues)
    return _ranked(_rank_row(k, chi_square(personas, k, "success"),
                             chi_square(personas, k, "mentioned"),
                             anova(personas, k, "success_rate")) for k in keys)


# -- the strategy table -----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SectorStrategy(_JSON):
    sector: str
    intents: tuple[str, ...]
    """Most successes first; ties by mentions, then by name."""
    shares: tuple[float, ...]
    """Each intent's share of the sector's successful calls (with a known product)."""
    successes: tuple[int, ...]
    n_successes: int
    n_dialogues: int
    calls: str
    """How the calls read in a sentence: "simulated calls", "live calls" or "calls"."""


@dataclass(frozen=True, slots=True)
class DerivedStrategy(_JSON):
    k: int
    min_successes: int
    entries: dict[str, SectorStrategy]
    left_out: dict[str, str]
    """Sector → why it has no entry (too little evidence)."""


def derive_strategy(dialogues: Sequence[Dialogue], *, k: int = 2,
                    min_successes: int = MIN_SUCCESSES,
                    intents: Collection[str] | None = None) -> DerivedStrategy:
    """Per sector, the top-``k`` intents of successful calls; ``intents`` limits the
    candidates (a domain's products). Sectors with fewer than ``min_successes`` such
    calls are left out, so a program built from this keeps its old entry there."""
    if not 1 <= k <= 3:
        raise ValueError(f"k={k}: a strategy entry holds 1 to 3 intents")
    metrics = [dialogue_metrics(d) for d in dialogues]
    sources: dict[str, set[str]] = {}
    for d, m in zip(dialogues, metrics, strict=True):
        sources.setdefault(m.groups.get("sector", UNKNOWN), set()).add(d.source)
    entries: dict[str, SectorStrategy] = {}
    left_out: dict[str, str] = {}
    for g in group_metrics(persona_metrics(metrics), "sector"):
        if g.value == UNKNOWN:
            left_out[g.value] = f"{g.n_dialogues} calls without a known sector"
            continue
        wins = {i: n for i, n in g.success_intent_counts.items()
                if i != UNKNOWN and (intents is None or i in intents)}
        total = sum(wins.values())
        if total < min_successes:
            left_out[g.value] = f"{total} successful calls with a product, needs {min_successes}"
            continue
        top = sorted(wins, key=lambda i: (-wins[i], -g.intent_counts.get(i, 0), i))[:k]
        kind = sources.get(g.value, set())
        entries[g.value] = SectorStrategy(
            sector=g.value, intents=tuple(top), shares=tuple(wins[i] / total for i in top),
            successes=tuple(wins[i] for i in top), n_successes=total,
            n_dialogues=g.n_dialogues,
            calls=f"{next(iter(kind))} calls" if len(kind) == 1 else "calls")
    return DerivedStrategy(k, min_successes, entries, left_out)


def exploration_programs(parent: AgentProgram, domain: DomainPack, *, width: int = 3,
                         sectors: Iterable[str] = SECTORS) -> dict[str, AgentProgram]:
    """One arm per product: arm i leads, for every sector, with the ``width`` products
    from the i-th on (cyclically, in the domain's order). Across the arms every product is
    pitched in every leading position exactly once, the same for all sectors."""
    ids = domain.intent_ids
    if not 1 <= width <= min(3, len(ids)):
        raise ValueError(f"width={width}: needs 1 to {min(3, len(ids))} products per arm")
    arms = {}
    for i in range(len(ids)):
        entry = {"intents": [ids[(i + j) % len(ids)] for j in range(width)],
                 "rationale": EXPLORE_RATIONALE}
        arms[f"explore-{i}"] = parent.evolve(f"{CREATED_BY}.explore",
                                             strategy=dict.fromkeys(sectors, entry))
    return arms


# -- rationales -------------------------------------------------------------------------------
class _Rationale(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sentence: str = Field(min_length=10, max_length=200)


_SYSTEM = (
    "You write one sentence for an insurance sales playbook: why people who work in a "
    "given sector would want the given products. Ground it in their work and life and in "
    "the product descriptions. Do not state any number, price, percentage or statistic "
    "(the agent reads this line and must never invent figures). One plain "
    'sentence, at most 200 characters. Reply with JSON {"sentence": "..."}.'
)


def _pct(share: float) -> str:
    return f"{100 * share:.0f}"


def _join(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _sector_words(sector: str) -> str:
    return SECTORS.get(sector, sector).lower()


def data_rationale(entry: SectorStrategy, domain: DomainPack) -> str:
    """A plain factual sentence from the data alone (no LLM). No figures: the rationale
    reaches the agent's prompt, and a share quoted to a caller would be a made-up
    statistic as far as the product sheet is concerned (the numbers are in the report)."""
    names = [domain.product(i).name for i in entry.intents]
    verb = "was" if len(names) == 1 else "were"
    text = (f"In simulated calls with callers in {_sector_words(entry.sector)}, "
            f"{_join(names)} {verb} taken up most often.")
    if len(text) > 300:  # StrategyEntry's limit; only very long product names get here
        text = f"{_join(list(entry.intents))} {verb} taken up most often in this sector."
    return text


def _prompt(entry: SectorStrategy, domain: DomainPack) -> list[ChatMessage]:
    occupations = [*PAPER_OCCUPATIONS.get(entry.sector, ()),
                   *MORE_OCCUPATIONS.get(entry.sector, ())][:6]
    sheets = "\n".join(domain.product(i).sheet() for i in entry.intents)
    shares = ", ".join(f"{domain.product(i).name} {_pct(s)}%"
                       for i, s in zip(entry.intents, entry.shares, strict=True))
    user = (f"Sector: {SECTORS.get(entry.sector, entry.sector)}\n"
            f"Example occupations: {', '.join(occupations) or 'not listed'}\n"
            f"Products, most often taken up first:\n{sheets}\n"
            f"Observed shares of successful calls: {shares}\n"
            "Write no figures at all: no prices, shares or other numbers.")
    return [ChatMessage("system", _SYSTEM), ChatMessage("user", user)]


def _invented_numbers(sentence: str, domain: DomainPack) -> list[str]:
    """Any figure (digits or words) or claim the checker stops: the sentence goes into
    the agent's prompt (see ``data_rationale``)."""
    return prompt_line_problems(domain, sentence, figures=True)


async def _llm_rationale(entry: SectorStrategy, llm: LLM, domain: DomainPack) -> str | None:
    try:
        out = await llm.complete_json(_prompt(entry, domain), _Rationale,
                                      Sampling(temperature=0.3, max_tokens=120))
    except SalesvoiceError as exc:
        log.warning("rationale for sector %s: the LLM failed (%s); using the data sentence",
                    entry.sector, exc)
        return None
    sentence = " ".join(out.value.sentence.split())
    if invented := _invented_numbers(sentence, domain):
        log.warning("rationale for sector %s states figures (%s); using "
                    "the data sentence", entry.sector, ", ".join(invented))
        return None
    return sentence


async def write_rationales(derived: DerivedStrategy | Mapping[str, SectorStrategy],
                           llm: LLM | None, domain: DomainPack) -> dict[str, StrategyEntry]:
    """A strategy entry per derived sector; with an LLM, one constrained-JSON sentence per
    sector (replaced by the data sentence when it fails or states a number it was not
    given), else the data sentence."""
    entries = derived.entries if isinstance(derived, DerivedStrategy) else derived
    unknown = sorted({i for e in entries.values() for i in e.intents} - set(domain.intent_ids))
    if unknown:
        raise ValueError(f"intents {unknown} are not products of domain {domain.name!r}")
    out: dict[str, StrategyEntry] = {}
    for sector, entry in sorted(entries.items()):  # one call at a time: same order, same text
        sentence = await _llm_rationale(entry, llm, domain) if llm is not None else None
        out[sector] = StrategyEntry(intents=list(entry.intents),
                                    rationale=sentence or data_rationale(entry, domain))
    return out


async def strategy_program(parent: AgentProgram, dialogues: Sequence[Dialogue],
                           llm: LLM | None, domain: DomainPack, *, k: int = 2,
                           min_successes: int = MIN_SUCCESSES) -> AgentProgram:
    """``parent`` with the derived table merged over its own, as a new version.

    A sector keeps the parent's entry when it lacks evidence or when the derived intents
    (in order) are the parent's already: a reworded rationale alone is no new strategy.
    When no sector changes, the parent itself is returned (``result is parent``) and the
    reason logged: ``evolve`` would refuse a version without a change."""
    if parent.domain != domain.name:
        raise ValueError(f"program {parent.version} is for domain {parent.domain!r}, "
                         f"not {domain.name!r}")
    derived = derive_strategy(dialogues, k=k, min_successes=min_successes,
                              intents=domain.intent_ids)
    changed = {s: e for s, e in derived.entries.items()
               if s not in parent.strategy or tuple(parent.strategy[s].intents) != e.intents}
    if not changed:
        log.info("strategy_program: no sector's top-%d differs from program %s (%d with "
                 "evidence, %d left out); returning it unchanged", k, parent.version,
                 len(derived.entries), len(derived.left_out))
        return parent
    table = {**parent.strategy, **await write_rationales(changed, llm, domain)}
    return parent.evolve(CREATED_BY, strategy={s: table[s].model_dump() for s in sorted(table)})


# -- report -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AttributeReport:
    data: dict[str, Any]
    """Every number, JSON-serialisable (``json.dumps(..., allow_nan=False)`` works)."""
    sections: tuple[Section, ...]


def _num(x: float | None, fmt: str = ".2f") -> str:
    return "—" if x is None else format(x, fmt)


def _p(x: float | None) -> str:
    return "—" if x is None else f"{x:.3g}"


def attribute_report(dialogues: Sequence[Dialogue], *, keys: Sequence[str] = RANK_KEYS,
                     metrics: Sequence[str] = ANOVA_METRICS,
                     derived: DerivedStrategy | None = None,
                     program: AgentProgram | None = None) -> AttributeReport:
    """The attribute analysis as numbers and report sections; ``derived`` adds the
    strategy table (beside ``program``'s current one, when given)."""
    personas = personas_of(dialogues)
    anovas = {k: {m: anova(personas, k, m) for m in metrics} for k in keys}
    chis = {k: {v: chi_square(personas, k, v) for v in ("success", "mentioned")}
            for k in keys}
    rate = {k: anovas[k].get("success_rate") or anova(personas, k) for k in keys}
    ranking = _ranked(_rank_row(k, chis[k]["success"], chis[k]["mentioned"], rate[k])
                      for k in keys)
    data: dict[str, Any] = {
        "ranking": [r.to_dict() for r in ranking],
        "anova": {k: {m: a.to_dict() for m, a in by.items()} for k, by in anovas.items()},
        "chi_square": {k: {v: c.to_dict() for v, c in by.items()} for k, by in chis.items()},
    }
    sections = [_ranking_section(ranking), _anova_section(anovas)]
    if ranking and (top := ranking[0]).cramers_v is not None:
        sections.append(_pairs_section(top.key, anovas[top.key]))
    if derived is not None:
        data["strategy"] = derived.to_dict()
        sections.append(_strategy_section(derived, program))
    return AttributeReport(data, tuple(sections))


def _ranking_section(ranking: Sequence[AttributeRank]) -> Section:
    rows = tuple((r.label, str(r.groups), str(r.n), _num(r.cramers_v, ".3f"),
                  _num(r.cramers_v_corrected, ".3f"), _p(r.p), _num(r.mentioned_v, ".3f"),
                  _num(r.success_f), _p(r.success_p)) for r in ranking)
    return Section("Which attribute predicts the intent", (
        "Cramér's V of attribute x intent of successful calls (χ² test of independence), "
        "strongest first; the corrected V removes the bias of tables with many groups. "
        "V of the intents mentioned mostly measures the agent's own strategy. F and p: "
        "one-way ANOVA of per-persona success rate across the attribute's groups.",
        Table(("attribute", "groups", "successes", "V", "V corrected", "χ² p",
               "V mentioned", "F success", "p success"), rows)))


def _anova_section(anovas: Mapping[str, Mapping[str, AnovaResult]]) -> Section:
    rows = tuple((label(a.key), a.metric, str(len(a.groups)), _num(a.f), _p(a.p),
                  "; ".join(f"{v}: {why}" for v, why in a.excluded.items()) or a.note or "—")
                 for by in anovas.values() for a in by.values())
    return Section("One-way ANOVA across groups", (
        "Per-persona values compared across each attribute's groups (scipy f_oneway).",
        Table(("attribute", "metric", "groups", "F", "p", "left out / note"), rows)))


def _pairs_section(key: str, by_metric: Mapping[str, AnovaResult]) -> Section:
    metrics = list(by_metric)
    pairs: dict[tuple[str, str], dict[str, PairTest]] = {}
    for metric, a in by_metric.items():
        for t in a.pairs:
            pairs.setdefault((t.a, t.b), {})[metric] = t
    rows = tuple((f"{a} vs {b}", *(f"{_num(t.f)} (p {_p(t.p_bonferroni)})" if t else "—"
                                   for t in (tests.get(m) for m in metrics)))
                 for (a, b), tests in pairs.items())
    return Section(f"Pairwise ANOVA by {label(key)}", (
        "F for each pair of groups; p Bonferroni-adjusted for the number of pairs.",
        Table(("pair", *metrics), rows)))


def _strategy_section(derived: DerivedStrategy, program: AgentProgram | None) -> Section:
    def shown(e: SectorStrategy) -> str:
        return ", ".join(f"{i} {_pct(s)}%" for i, s in zip(e.intents, e.shares, strict=True))

    rows = tuple((f"{s} · {SECTORS.get(s, s)}", str(e.n_dialogues), str(e.n_successes),
                  shown(e),
                  ", ".join(program.strategy[s].intents)
                  if program is not None and s in program.strategy else "—")
                 for s, e in derived.entries.items())
    left = "; ".join(f"{s}: {why}" for s, why in derived.left_out.items())
    blocks: list[Table | str] = [
        f"Top {derived.k} products of successful calls per sector (share of the sector's "
        "successful calls).",
        Table(("sector", "calls", "successes", "derived", "current program"), rows)]
    if left:
        blocks.append(f"Left out (the program keeps its entry): {left}.")
    return Section("Strategy derived per occupation sector", tuple(blocks))

"""The attribute analysis in a report: every number as JSON, and the sections that show
the attribute ranking, the ANOVAs and the derived strategy table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agent.dialogue import Dialogue
from agent.occupation import SECTORS
from agent.program import AgentProgram
from optimizer.attribute_stats import (
    ANOVA_METRICS,
    RANK_KEYS,
    AnovaResult,
    AttributeRank,
    PairTest,
    anova,
    attribute_rank,
    by_strength,
    chi_square,
    label,
    personas_of,
)
from optimizer.attributes import DerivedStrategy, SectorStrategy, pct
from simulator.report import Section, Table


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
    ranking = by_strength(attribute_rank(k, chis[k]["success"], chis[k]["mentioned"], rate[k])
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
        "strongest corrected V first: the corrected V removes the bias of small tables "
        "with many groups. "
        "The unit is the persona: each persona counts once, with the intent most of its "
        "successful calls ended with (ties: the first by name), because one persona's "
        "calls are not independent trials. V of the intents mentioned (each persona's "
        "most-mentioned intent) mostly measures the agent's own strategy. F and p: "
        "one-way ANOVA of per-persona success rate across the attribute's groups.",
        Table(("attribute", "groups", "personas", "V", "V corrected", "χ² p",
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
        return ", ".join(f"{i} {pct(s)}%" for i, s in zip(e.intents, e.shares, strict=True))

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

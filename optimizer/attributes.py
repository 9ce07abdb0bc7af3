"""The first paper's strategy table: per occupation sector (the attribute that
``optimizer.attribute_stats`` finds most predictive), the top-k products of successful
calls, a one-sentence rationale each, and a new program version (``derive_strategy`` /
``write_rationales`` / ``strategy_program``).

Exploration. A call can only succeed with a product the agent offers, so dialogues of one
fixed program show what that program pitches, not what callers want: the default table
never offers home cover to farmers, and its data never shows farmers taking it up.
``exploration_programs`` gives arms that, between them, pitch every product first, second
and third equally often, for every sector alike; success intents pooled over the arms
reflect the callers, and only the callers, in the calls where the arm's table applied
(``explored``): when the agent has not yet placed the caller's sector, it pitches its
fallback order, which would credit that order's first products with every sector's sales.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from agent.compliance import prompt_line_problems
from agent.dialogue import Dialogue, Template
from agent.domain import DomainPack
from agent.occupation import MORE_OCCUPATIONS, PAPER_OCCUPATIONS, SECTORS
from agent.program import AgentProgram, StrategyEntry
from models.errors import SalesvoiceError
from models.llm.base import LLM, ChatMessage, Sampling
from optimizer.attribute_stats import JSONRecord
from simulator.metrics import UNKNOWN, dialogue_metrics, group_metrics, persona_metrics

log = logging.getLogger(__name__)

MIN_SUCCESSES = 20
"""Successful calls a sector needs before its strategy entry is derived from them."""
CREATED_BY = "optimizer.attributes"
EXPLORE_RATIONALE = ("Offered first in this exploration arm, so that every product's uptake "
                     "is measured.")


# -- the strategy table -----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SectorStrategy(JSONRecord):
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
class DerivedStrategy(JSONRecord):
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


def explored(dialogues: Iterable[Dialogue], *, threshold: float = 0.6) -> list[Dialogue]:
    """The calls whose agent knew the caller's sector (confidence ≥ ``threshold``, so its
    strategy table applied) when it first pitched a product, or never pitched one (the
    caller named what they wanted): the calls in which an exploration arm explored."""
    def knew(d: Dialogue) -> bool:
        first = next((t for t in d.agent_turns
                      if t.thought is not None and t.thought.template is Template.PIVOT), None)
        return first is None or (first.sector is not None and first.sector.sector is not None
                                 and first.sector.confidence >= threshold)

    return [d for d in dialogues if knew(d)]


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


def pct(share: float) -> str:
    """A share as whole percent, without the sign ("35" for 0.35)."""
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
    shares = ", ".join(f"{domain.product(i).name} {pct(s)}%"
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
